// Package limitrange serves core/v1 LimitRanges.
package limitrange

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// limitRangeStrategy validates limit ranges with upstream's rules. As
// upstream, a PUT of a missing limit range creates it.
type limitRangeStrategy struct {
	generic.Strategy
}

var strategy = limitRangeStrategy{generic.NewStrategy(true)}

// PrepareForCreate names an unnamed limit range with a UUID, as upstream
// does (name validation would reject the empty name otherwise).
func (limitRangeStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	lr := obj.(*corev1.LimitRange)
	if lr.Name == "" {
		lr.Name = string(uuid.NewUUID())
	}
}

// AllowCreateOnUpdate is true, as upstream.
func (limitRangeStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (limitRangeStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateLimitRange)
}

// ValidateUpdate validates the new object only: every field may change.
func (limitRangeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateLimitRange)
}
