package defaultingressclass

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestDefaultsIngressClass(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	_ = f.Networking().V1().IngressClasses().Informer().GetIndexer().Add(&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{
		Name: "nginx", Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}}})
	p := New()
	p.SetExternalKubeInformerFactory(f)
	admit := func(ing *networkingv1.Ingress) {
		a := admission.NewAttributesRecord(ing, nil, networkingv1.SchemeGroupVersion.WithKind("Ingress"), "ns", "i",
			networkingv1.SchemeGroupVersion.WithResource("ingresses"), "", admission.Create, nil, false, nil)
		if err := p.Admit(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
	}
	plain := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "i"}}
	admit(plain)
	if ptr.Deref(plain.Spec.IngressClassName, "") != "nginx" {
		t.Errorf("class = %v", plain.Spec.IngressClassName)
	}
	annotated := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "i", Annotations: map[string]string{"kubernetes.io/ingress.class": "traefik"}}}
	admit(annotated)
	if annotated.Spec.IngressClassName != nil {
		t.Errorf("legacy annotation ignored: class = %v", *annotated.Spec.IngressClassName)
	}
}
