package addons

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestCoreDNSManifests(t *testing.T) {
	o := NewOptions()
	o.ClusterDomain = "example.internal"
	objs, err := Objects("coredns", o)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	typed := map[string]runtime.Object{}
	for _, u := range objs {
		kinds = append(kinds, u.GetKind()+"/"+u.GetName())
		obj, err := scheme.Scheme.New(u.GroupVersionKind())
		if err != nil {
			t.Fatalf("%s: %v", u.GetKind(), err)
		}
		// Strict: a misspelt field fails here rather than being dropped
		// by the API server.
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true); err != nil {
			t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
		typed[u.GetKind()] = obj
	}
	want := "ServiceAccount/coredns ClusterRole/system:coredns ClusterRoleBinding/system:coredns ConfigMap/coredns Deployment/coredns Service/kube-dns"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("objects %s, want %s", got, want)
	}
	svc := typed["Service"].(*v1.Service)
	if svc.Spec.ClusterIP != "10.96.0.10" || svc.Labels["k8s-app"] != "kube-dns" || svc.Spec.Selector["k8s-app"] != "kube-dns" {
		t.Errorf("kube-dns service: %+v", svc)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name+":"+string(p.Protocol))
	}
	if strings.Join(ports, ",") != "dns:UDP,dns-tcp:TCP,metrics:TCP" {
		t.Errorf("ports %v", ports)
	}
	dep := typed["Deployment"].(*appsv1.Deployment)
	if c := dep.Spec.Template.Spec.Containers[0]; c.Image != CoreDNSImage || c.ImagePullPolicy != v1.PullIfNotPresent {
		t.Errorf("container %s %s", c.Image, c.ImagePullPolicy)
	}
	if *dep.Spec.Replicas != 1 || dep.Spec.Template.Spec.DNSPolicy != v1.DNSDefault {
		t.Errorf("replicas %d dnsPolicy %s", *dep.Spec.Replicas, dep.Spec.Template.Spec.DNSPolicy)
	}
	corefile := typed["ConfigMap"].(*v1.ConfigMap).Data["Corefile"]
	for _, s := range []string{"kubernetes example.internal in-addr.arpa ip6.arpa {", "forward . /etc/resolv.conf", "cache 30 {", "disable success example.internal", "health {", "ready", "loop", "reload", "loadbalance", "prometheus :9153"} {
		if !strings.Contains(corefile, s) {
			t.Errorf("Corefile lacks %q:\n%s", s, corefile)
		}
	}
}

func TestValidate(t *testing.T) {
	o := NewOptions()
	if errs := o.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	o.ClusterDNS = "ten"
	o.ClusterDomain = "a b"
	if errs := o.Validate(); len(errs) != 2 {
		t.Errorf("errors %v, want 2", errs)
	}
	if got := strings.Join(Names(), ","); got != "coredns" {
		t.Errorf("addons %s", got)
	}
}
