// Package event serves core/v1 Events. events.k8s.io Events are the same
// objects in etcd; this package serves the core API of them.
package event

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// eventStrategy validates events with upstream's rules, which depend on
// the API version the client used. Events are write-mostly: a PUT of a
// missing event creates it.
type eventStrategy struct {
	generic.Strategy
}

var strategy = eventStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy is Unsupported: events have no dependents
// and are never held by finalizers.
func (eventStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.Unsupported
}

// AllowCreateOnUpdate lets recorders PUT an event whether or not it exists.
func (eventStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (eventStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	gv := requestGroupVersion(ctx)
	return generic.Validate(obj, func(e *api.Event) field.ErrorList {
		return corevalidation.ValidateEventCreate(e, gv)
	})
}

func (eventStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	gv := requestGroupVersion(ctx)
	return generic.ValidateUpdate(obj, old, func(e, oldE *api.Event) field.ErrorList {
		return corevalidation.ValidateEventUpdate(e, oldE, gv)
	})
}

func requestGroupVersion(ctx context.Context) schema.GroupVersion {
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		return schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	}
	return schema.GroupVersion{}
}

// getAttrs gives events' labels and selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil, nil, fmt.Errorf("not an event: %T", obj)
	}
	return e.Labels, selectableFields(e), nil
}

// selectableFields are upstream's: involvedObject.*, reason, type, and
// source and reportingComponent, which also match events.k8s.io events
// (reportingController).
func selectableFields(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return apigeneric.MergeFieldsSets(fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}, apigeneric.ObjectMetaFieldsSet(&e.ObjectMeta, true))
}
