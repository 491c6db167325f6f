// Package lease serves coordination.k8s.io/v1 Leases.
package lease

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericfeatures "k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	coordinationvalidation "k8s.io/kubernetes/pkg/apis/coordination/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// leaseStrategy validates Leases with upstream's rules. Like upstream, a PUT
// may create a lease and updates need a resourceVersion (leader election
// depends on optimistic concurrency).
type leaseStrategy struct {
	generic.Strategy
}

var strategy = leaseStrategy{generic.NewStrategy(true)}

func (leaseStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (leaseStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

// PrepareForCreate drops spec.strategy and spec.preferredHolder while
// coordinated leader election is off.
func (leaseStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.CoordinatedLeaderElection) {
		return
	}
	lease := obj.(*coordinationv1.Lease)
	lease.Spec.Strategy = nil
	lease.Spec.PreferredHolder = nil
}

// PrepareForUpdate drops spec.strategy and spec.preferredHolder while
// coordinated leader election is off, unless the stored lease has them.
func (leaseStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.CoordinatedLeaderElection) {
		return
	}
	lease, oldLease := obj.(*coordinationv1.Lease), old.(*coordinationv1.Lease)
	if oldLease.Spec.Strategy == nil {
		lease.Spec.Strategy = nil
	}
	if oldLease.Spec.PreferredHolder == nil {
		lease.Spec.PreferredHolder = nil
	}
}

func (leaseStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, coordinationvalidation.ValidateLease)
}

func (leaseStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, coordinationvalidation.ValidateLeaseUpdate)
}
