// Package namespace serves core/v1 Namespaces with their status and
// finalize subresources. A delete first marks the namespace Terminating; the
// namespace controller empties it and clears spec.finalizers through
// /finalize, and only then is it removed.
package namespace

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

type namespaceStrategy struct {
	generic.Strategy
}

var strategy = namespaceStrategy{generic.NewStrategy(false)}

func (namespaceStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

// PrepareForCreate starts the namespace Active and makes sure the
// "kubernetes" finalizer holds it until the namespace controller empties it.
func (namespaceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

// PrepareForUpdate keeps spec.finalizers and status: they change only
// through /finalize and /status.
func (namespaceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	ns.Spec.Finalizers = oldNS.Spec.Finalizers
	ns.Status = oldNS.Status
}

func (namespaceStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateNamespace)
}

func (namespaceStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(ns, oldNS *core.Namespace) field.ErrorList {
		return append(corevalidation.ValidateNamespace(ns), corevalidation.ValidateNamespaceUpdate(ns, oldNS)...)
	})
}

// Canonicalize sets the kubernetes.io/metadata.name label, which upstream
// keeps equal to the name so that selectors can pick namespaces by name.
func (namespaceStrategy) Canonicalize(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

type namespaceStatusStrategy struct {
	namespaceStrategy
}

var statusStrategy = namespaceStatusStrategy{strategy}

func (namespaceStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

func (namespaceStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.Namespace).Spec = old.(*corev1.Namespace).Spec
}

func (namespaceStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateNamespaceStatusUpdate)
}

type namespaceFinalizeStrategy struct {
	namespaceStrategy
}

var finalizeStrategy = namespaceFinalizeStrategy{strategy}

func (namespaceFinalizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.Namespace).Status = old.(*corev1.Namespace).Status
}

func (namespaceFinalizeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateNamespaceFinalizeUpdate)
}

// getAttrs adds status.phase (and the legacy "name") to the selectable
// fields, as upstream does.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, nil, fmt.Errorf("not a namespace: %T", obj)
	}
	return ns.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&ns.ObjectMeta, false), fields.Set{
		"status.phase": string(ns.Status.Phase),
		"name":         ns.Name,
	}), nil
}
