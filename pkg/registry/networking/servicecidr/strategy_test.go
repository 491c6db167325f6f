package servicecidr

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestStatusOnlyThroughStatus(t *testing.T) {
	ctx := context.Background()
	ready := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "r", LastTransitionTime: metav1.Now()}}
	sc := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.0.0.0/24"}}}
	sc.Status.Conditions = ready
	strategy.PrepareForCreate(ctx, sc)
	if len(sc.Status.Conditions) != 0 {
		t.Error("create kept a status")
	}

	old := sc.DeepCopy()
	upd := sc.DeepCopy()
	upd.Status.Conditions = ready
	strategy.PrepareForUpdate(ctx, upd, old)
	if len(upd.Status.Conditions) != 0 {
		t.Error("an update of the main resource set the status")
	}

	status := sc.DeepCopy()
	status.Spec.CIDRs = []string{"10.1.0.0/24"}
	status.Labels = map[string]string{"a": "b"}
	status.Status.Conditions = ready
	statusStrategy.PrepareForUpdate(ctx, status, old)
	if status.Spec.CIDRs[0] != "10.0.0.0/24" || status.Labels != nil || len(status.Status.Conditions) != 1 {
		t.Errorf("status update: %+v", status)
	}
}

func TestValidationIsUpstreams(t *testing.T) {
	ctx := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{APIGroup: "networking.k8s.io", APIVersion: "v1", Resource: "servicecidrs"})
	bad := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.0.0.0/24", "10.1.0.0/24"}}}
	errs := strategy.Validate(ctx, bad)
	if len(errs) == 0 {
		t.Fatal("two IPv4 CIDRs were accepted")
	}
	old := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "x", ResourceVersion: "1"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.0.0.0/24"}}}
	changed := old.DeepCopy()
	changed.Spec.CIDRs = []string{"10.2.0.0/24"}
	if errs := strategy.ValidateUpdate(ctx, changed, old); len(errs) == 0 {
		t.Fatal("changing the CIDR was accepted")
	}
}
