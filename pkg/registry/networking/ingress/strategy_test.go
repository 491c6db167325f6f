package ingress

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

func newIngress() *networkingv1.Ingress {
	className := "nginx"
	pathType := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &className,
			Rules: []networkingv1.IngressRule{{
				Host: "foo.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: &pathType,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "svc", Port: networkingv1.ServiceBackendPort{Number: 80},
						}},
					}},
				}},
			}},
		},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{
			Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "1.2.3.4"}},
		}},
	}
}

func TestPrepareForCreate(t *testing.T) {
	ing := newIngress()
	ing.Generation = 5
	strategy.PrepareForCreate(context.Background(), ing)
	if ing.Generation != 1 {
		t.Errorf("generation %d, want 1", ing.Generation)
	}
	if !apiequality.Semantic.DeepEqual(ing.Status, networkingv1.IngressStatus{}) {
		t.Errorf("status not cleared: %+v", ing.Status)
	}
	if errs := strategy.Validate(context.Background(), ing); len(errs) != 0 {
		t.Errorf("valid ingress rejected: %v", errs)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	tests := []struct {
		name           string
		change         func(*networkingv1.Ingress)
		wantGeneration int64
	}{
		{"no change", func(*networkingv1.Ingress) {}, 3},
		{"label change", func(i *networkingv1.Ingress) { i.Labels = map[string]string{"a": "b"} }, 3},
		{"status change is dropped", func(i *networkingv1.Ingress) { i.Status.LoadBalancer.Ingress[0].IP = "9.9.9.9" }, 3},
		{"spec change", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "bar.example.com" }, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newIngress()
			old.Generation = 3
			ing := old.DeepCopy()
			ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "1.2.3.4"}}
			tc.change(ing)
			strategy.PrepareForUpdate(context.Background(), ing, old)
			if ing.Generation != tc.wantGeneration {
				t.Errorf("generation %d, want %d", ing.Generation, tc.wantGeneration)
			}
			if !apiequality.Semantic.DeepEqual(ing.Status, old.Status) {
				t.Errorf("status changed through the main resource: %+v", ing.Status)
			}
		})
	}
}

func TestStatusUpdateKeepsSpec(t *testing.T) {
	old := newIngress()
	old.Generation = 2
	ing := old.DeepCopy()
	ing.Spec.Rules[0].Host = "changed.example.com"
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "5.6.7.8"}, {Hostname: "lb.example.com"}}
	statusStrategy.PrepareForUpdate(context.Background(), ing, old)
	if ing.Spec.Rules[0].Host != "foo.example.com" {
		t.Errorf("spec changed through /status: host %q", ing.Spec.Rules[0].Host)
	}
	if len(ing.Status.LoadBalancer.Ingress) != 2 || ing.Status.LoadBalancer.Ingress[0].IP != "5.6.7.8" {
		t.Errorf("status not taken from the request: %+v", ing.Status)
	}
	if ing.Generation != 2 {
		t.Errorf("generation %d, want 2", ing.Generation)
	}
	if errs := statusStrategy.ValidateUpdate(context.Background(), ing, old); len(errs) != 0 {
		t.Errorf("valid status rejected: %v", errs)
	}

	bad := ing.DeepCopy()
	bad.Status.LoadBalancer.Ingress[0].IP = "not-an-ip"
	errs := statusStrategy.ValidateUpdate(context.Background(), bad, old)
	if len(errs) == 0 || errs[0].Field != "status.loadBalancer.ingress[0].ip" {
		t.Errorf("got %v, want an error on status.loadBalancer.ingress[0].ip", errs)
	}
}

func TestResetFields(t *testing.T) {
	v1 := fieldpath.APIVersion("networking.k8s.io/v1")
	main := strategy.GetResetFields()[v1]
	status := statusStrategy.GetResetFields()[v1]
	if main == nil || !main.Has(fieldpath.MakePathOrDie("status")) || main.Has(fieldpath.MakePathOrDie("spec")) {
		t.Errorf("main resource reset fields %v, want status only", main)
	}
	if status == nil || !status.Has(fieldpath.MakePathOrDie("spec")) || status.Has(fieldpath.MakePathOrDie("status")) {
		t.Errorf("status reset fields %v, want spec only", status)
	}
}

func TestWarningsOnCreate(t *testing.T) {
	ing := newIngress()
	ing.Annotations = map[string]string{annotationIngressClass: "nginx"}
	if w := strategy.WarningsOnCreate(context.Background(), ing); len(w) != 0 {
		t.Errorf("warned with ingressClassName set: %v", w)
	}
	ing.Spec.IngressClassName = nil
	want := `annotation "kubernetes.io/ingress.class" is deprecated, please use 'spec.ingressClassName' instead`
	if w := strategy.WarningsOnCreate(context.Background(), ing); len(w) != 1 || w[0] != want {
		t.Errorf("got warnings %v, want [%s]", w, want)
	}
}
