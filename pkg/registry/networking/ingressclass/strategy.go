// Package ingressclass serves networking.k8s.io/v1 IngressClasses.
package ingressclass

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// ingressClassStrategy validates IngressClasses with upstream's rules and
// bumps metadata.generation when the spec changes.
type ingressClassStrategy struct {
	generic.Strategy
}

var strategy = ingressClassStrategy{generic.NewStrategy(false)}

func (ingressClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*networkingv1.IngressClass).Generation = 1
}

func (ingressClassStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ic, oldIC := obj.(*networkingv1.IngressClass), old.(*networkingv1.IngressClass)
	if !apiequality.Semantic.DeepEqual(ic.Spec, oldIC.Spec) {
		ic.Generation = oldIC.Generation + 1
	}
}

func (ingressClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, networkingvalidation.ValidateIngressClass)
}

func (ingressClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, networkingvalidation.ValidateIngressClassUpdate)
}
