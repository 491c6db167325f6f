// Package resourceclaimtemplate serves resource.k8s.io/v1
// ResourceClaimTemplates.
package resourceclaimtemplate

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/kubernetes/pkg/apis/resource"
	resourcevalidation "k8s.io/kubernetes/pkg/apis/resource/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/resource/dra"
)

// templateStrategy validates with upstream's rules, drops claim-spec fields
// of disabled features and checks that admin access is asked for only in
// namespaces labelled for it.
type templateStrategy struct {
	generic.Strategy
	namespaces corev1client.NamespaceInterface
}

func newStrategy(namespaces corev1client.NamespaceInterface) templateStrategy {
	return templateStrategy{Strategy: generic.NewStrategy(true), namespaces: namespaces}
}

func (templateStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	dra.DropDisabledClaimSpecFields(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec, nil)
}

func (templateStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	dra.DropDisabledClaimSpecFields(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec, &old.(*resourcev1.ResourceClaimTemplate).Spec.Spec)
}

func (s templateStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	t := obj.(*resourcev1.ResourceClaimTemplate)
	errs := dra.AuthorizedForAdmin(ctx, t.Spec.Spec.Devices.Requests, t.Namespace, s.namespaces)
	return append(errs, generic.Validate(obj, resourcevalidation.ValidateResourceClaimTemplate)...)
}

func (templateStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(t, oldT *resource.ResourceClaimTemplate) field.ErrorList {
		errs := resourcevalidation.ValidateResourceClaimTemplate(t)
		return append(errs, resourcevalidation.ValidateResourceClaimTemplateUpdate(t, oldT)...)
	})
}

// DeclarativeValidationConfig is upstream's: errors are compared across the
// structural differences between API versions.
func (templateStrategy) DeclarativeValidationConfig(ctx context.Context, obj, old runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{NormalizationRules: resourcevalidation.ResourceNormalizationRules}
}
