// Package ingress serves networking.k8s.io/v1 Ingresses and their status
// subresource. Status is written only through /status; spec changes bump
// metadata.generation.
package ingress

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// annotationIngressClass is the pre-IngressClass way of choosing a
// controller; upstream warns when it is used without spec.ingressClassName.
const annotationIngressClass = "kubernetes.io/ingress.class"

type ingressStrategy struct {
	generic.Strategy
}

var strategy = ingressStrategy{generic.NewStrategy(true)}

func (ingressStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("networking.k8s.io/v1")
}

// PrepareForCreate clears the status (controllers set it through /status)
// and starts the generation at 1.
func (ingressStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ing := obj.(*networkingv1.Ingress)
	ing.Status = networkingv1.IngressStatus{}
	ing.Generation = 1
}

// PrepareForUpdate keeps the stored status and bumps the generation when
// the spec changes.
func (ingressStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ing, oldIng := obj.(*networkingv1.Ingress), old.(*networkingv1.Ingress)
	ing.Status = oldIng.Status
	if !apiequality.Semantic.DeepEqual(ing.Spec, oldIng.Spec) {
		ing.Generation = oldIng.Generation + 1
	}
}

func (ingressStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, networkingvalidation.ValidateIngressCreate)
}

func (ingressStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, networkingvalidation.ValidateIngressUpdate)
}

func (ingressStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	ing := obj.(*networkingv1.Ingress)
	if _, ok := ing.Annotations[annotationIngressClass]; ok && ing.Spec.IngressClassName == nil {
		return []string{fmt.Sprintf("annotation %q is deprecated, please use 'spec.ingressClassName' instead", annotationIngressClass)}
	}
	return nil
}

// ingressStatusStrategy is the strategy of ingresses/status: only the
// status changes.
type ingressStatusStrategy struct {
	ingressStrategy
}

var statusStrategy = ingressStatusStrategy{strategy}

func (ingressStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("networking.k8s.io/v1")
}

func (ingressStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*networkingv1.Ingress).Spec = old.(*networkingv1.Ingress).Spec
}

func (ingressStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, networkingvalidation.ValidateIngressStatusUpdate)
}

// WarningsOnUpdate warns about ambiguous load balancer IPs (leading zeros,
// IPv4-mapped IPv6), as upstream does.
func (ingressStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	var warnings []string
	path := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range obj.(*networkingv1.Ingress).Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			warnings = append(warnings, utilvalidation.GetWarningsForIP(path.Index(i), lb.IP)...)
		}
	}
	return warnings
}
