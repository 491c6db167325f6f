package poddisruptionbudget

import (
	"context"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
)

func requestContext(subresource string) context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "policy", APIVersion: "v1", Resource: "poddisruptionbudgets", Subresource: subresource,
	})
}

const v1beta1Key = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match"

func newPDB() *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", ResourceVersion: "1"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
		},
	}
}

func TestPrepareForCreate(t *testing.T) {
	pdb := newPDB()
	pdb.Status.DisruptionsAllowed = 3
	pdb.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: v1beta1Key, Operator: metav1.LabelSelectorOpExists}}
	strategy.PrepareForCreate(requestContext(""), pdb)
	if pdb.Generation != 1 || pdb.Status.DisruptionsAllowed != 0 {
		t.Errorf("generation %d status %+v", pdb.Generation, pdb.Status)
	}
	if len(pdb.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("v1beta1 marker kept in a user selector: %+v", pdb.Spec.Selector)
	}

	// The match-none marker alone is a selector of its own and stays.
	matchNone := newPDB()
	matchNone.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: v1beta1Key, Operator: metav1.LabelSelectorOpExists}}}
	strategy.PrepareForCreate(requestContext(""), matchNone)
	if len(matchNone.Spec.Selector.MatchExpressions) != 1 {
		t.Errorf("match-none selector changed: %+v", matchNone.Spec.Selector)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	old := newPDB()
	old.Generation = 1
	old.Status.CurrentHealthy = 2

	pdb := old.DeepCopy()
	pdb.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
	pdb.Status.CurrentHealthy = 9
	strategy.PrepareForUpdate(requestContext(""), pdb, old)
	if pdb.Generation != 2 || pdb.Status.CurrentHealthy != 2 {
		t.Errorf("generation %d status %+v", pdb.Generation, pdb.Status)
	}

	// A stored selector with the marker is left alone while unchanged.
	stored := newPDB()
	stored.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: v1beta1Key, Operator: metav1.LabelSelectorOpExists}}
	relabeled := stored.DeepCopy()
	relabeled.Labels = map[string]string{"a": "b"}
	strategy.PrepareForUpdate(requestContext(""), relabeled, stored)
	if !apiequality.Semantic.DeepEqual(relabeled.Spec.Selector, stored.Spec.Selector) {
		t.Errorf("unchanged selector rewritten: %+v", relabeled.Spec.Selector)
	}
}

func TestStatusUpdate(t *testing.T) {
	old := newPDB()
	pdb := old.DeepCopy()
	pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(5))
	pdb.Status.CurrentHealthy = -1
	statusStrategy.PrepareForUpdate(requestContext("status"), pdb, old)
	if pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("spec changed through /status")
	}
	errs := rest.ValidateUpdate(requestContext("status"), pdb, old, statusStrategy)
	if len(errs) != 1 || errs[0].Field != "status.currentHealthy" {
		t.Errorf("errors = %v", errs)
	}
}

func TestValidateUnhealthyPodEvictionPolicy(t *testing.T) {
	pdb := newPDB()
	pdb.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.UnhealthyPodEvictionPolicyType("Bogus"))
	errs := rest.ValidateCreate(requestContext(""), pdb, strategy)
	if len(errs) != 1 || errs[0].Field != "spec.unhealthyPodEvictionPolicy" {
		t.Errorf("errors = %v", errs)
	}
}
