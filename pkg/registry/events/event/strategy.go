// Package event serves events.k8s.io/v1 Events.
//
// Like upstream, events.k8s.io/v1 and core/v1 Events are one resource in two
// shapes: this store keeps *corev1.Event objects (the internal form of both
// APIs in skiff's scheme) under the core "events" resource, so the storage
// factory gives it the same etcd prefix and codec as core/v1 events, and the
// API server converts to and from the events.k8s.io/v1 shape per request.
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
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// eventStrategy validates events with upstream's rules for the API version
// of the request: strict for events.k8s.io/v1, legacy for core/v1.
type eventStrategy struct {
	generic.Strategy
}

var strategy = eventStrategy{generic.NewStrategy(true)}

// AllowCreateOnUpdate is true: event recorders PUT (and PATCH) events that
// may already have expired.
func (eventStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

// DefaultGarbageCollectionPolicy is Unsupported: events own nothing, and a
// foreground delete must not leave a finalizer on them.
func (eventStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.Unsupported
}

func (eventStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	gv := requestGroupVersion(ctx)
	return generic.Validate(obj, func(ev *core.Event) field.ErrorList {
		return corevalidation.ValidateEventCreate(ev, gv)
	})
}

func (eventStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	gv := requestGroupVersion(ctx)
	return generic.ValidateUpdate(obj, old, func(ev, oldEv *core.Event) field.ErrorList {
		return corevalidation.ValidateEventUpdate(ev, oldEv, gv)
	})
}

// requestGroupVersion is the API version the request came through (zero
// when there is no request, which upstream's validation treats strictly).
func requestGroupVersion(ctx context.Context) schema.GroupVersion {
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		return schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	}
	return schema.GroupVersion{}
}

// getAttrs gives the fields events can be selected by, in core/v1 names;
// the events.k8s.io/v1 field label conversion maps its names (regarding.*,
// reportingController) onto these.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil, nil, fmt.Errorf("not an event: %T", obj)
	}
	return ev.Labels, selectableFields(ev), nil
}

func selectableFields(ev *corev1.Event) fields.Set {
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	return apigeneric.MergeFieldsSets(fields.Set{
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}, apigeneric.ObjectMetaFieldsSet(&ev.ObjectMeta, true))
}
