package lease

import (
	"context"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericfeatures "k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/utils/ptr"
)

// Coordinated leader election is off by default (beta, like upstream's
// default): its fields are dropped unless already stored.
func TestCoordinatedLeaderElectionFieldsDropped(t *testing.T) {
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.CoordinatedLeaderElection) {
		t.Skip("CoordinatedLeaderElection is enabled")
	}
	strategyName := coordinationv1.OldestEmulationVersion
	newLease := func() *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "default"},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:  ptr.To("me"),
				Strategy:        &strategyName,
				PreferredHolder: ptr.To("you"),
			},
		}
	}

	created := newLease()
	strategy.PrepareForCreate(context.Background(), created)
	if created.Spec.Strategy != nil || created.Spec.PreferredHolder != nil {
		t.Errorf("create kept strategy %v, preferredHolder %v", created.Spec.Strategy, created.Spec.PreferredHolder)
	}
	if created.Spec.HolderIdentity == nil || *created.Spec.HolderIdentity != "me" {
		t.Errorf("create dropped holderIdentity")
	}

	updated := newLease()
	strategy.PrepareForUpdate(context.Background(), updated, created)
	if updated.Spec.Strategy != nil || updated.Spec.PreferredHolder != nil {
		t.Errorf("update added strategy %v, preferredHolder %v", updated.Spec.Strategy, updated.Spec.PreferredHolder)
	}

	stored := newLease()
	kept := newLease()
	strategy.PrepareForUpdate(context.Background(), kept, stored)
	if kept.Spec.Strategy == nil || kept.Spec.PreferredHolder == nil {
		t.Error("update dropped fields the stored lease already had")
	}
}
