package servicecidr

import (
	"context"
	"net"
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDefaultControllerCreatesReadyServiceCIDR(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	c := NewDefaultController(client.NetworkingV1(), mustCIDR(t, "10.96.0.0/12"))
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	sc, err := client.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sc.Spec.CIDRs, []string{"10.96.0.0/12"}) {
		t.Errorf("cidrs = %v", sc.Spec.CIDRs)
	}
	if !apimeta.IsStatusConditionTrue(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady) {
		t.Errorf("conditions = %+v, want Ready=True", sc.Status.Conditions)
	}

	// Deleted: the next pass makes it again.
	if err := client.NetworkingV1().ServiceCIDRs().Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil {
		t.Fatalf("default ServiceCIDR not recreated: %v", err)
	}
}

func TestDefaultControllerLeavesAMismatchedOneAlone(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.0.0.0/16"}},
	})
	c := NewDefaultController(client.NetworkingV1(), mustCIDR(t, "10.96.0.0/12"))
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	sc, _ := client.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	if !reflect.DeepEqual(sc.Spec.CIDRs, []string{"10.0.0.0/16"}) || len(sc.Status.Conditions) != 0 {
		t.Errorf("a default ServiceCIDR that differs from the flags was changed: %+v", sc)
	}
}
