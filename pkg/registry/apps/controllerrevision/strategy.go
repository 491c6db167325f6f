// Package controllerrevision serves apps/v1 ControllerRevisions: immutable
// snapshots of a workload's template that controllers keep for rollbacks.
package controllerrevision

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/apps"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// controllerRevisionStrategy validates with upstream's rules; revisions have
// no status and no generation, and their data is immutable.
type controllerRevisionStrategy struct {
	generic.Strategy
}

var strategy = controllerRevisionStrategy{generic.NewStrategy(true)}

func (controllerRevisionStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, appsvalidation.ValidateControllerRevisionCreate)
}

func (controllerRevisionStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(rev, oldRev *apps.ControllerRevision) field.ErrorList {
		return appsvalidation.ValidateControllerRevisionUpdate(rev, oldRev)
	})
}
