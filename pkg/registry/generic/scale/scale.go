// Package scale serves the /scale subresource of replicated workloads
// (deployments, replicasets, statefulsets; replicationcontrollers use it too)
// as an autoscaling/v1 Scale, like upstream: reads and writes go through the
// parent's store, and field ownership of the replicas is translated between
// the Scale and the parent with managedfields.ScaleHandler, so a later
// server-side apply of the parent sees who set the replicas through /scale.
package scale

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/operation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	autoscalingvalidation "k8s.io/kubernetes/pkg/apis/autoscaling/validation"

	"github.com/skiff-project/skiff/pkg/api/scheme"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Replicas is what a parent object exposes through /scale.
type Replicas struct {
	// Desired is the parent's spec.replicas.
	Desired int32
	// Current is the parent's status.replicas.
	Current int32
	// Selector is the parent's pod selector in label-selector string form.
	Selector string
}

// Accessor reads and writes the replicas of one kind of parent object.
type Accessor interface {
	// Replicas reads obj's replicas. It fails when the selector cannot be
	// expressed as a label selector.
	Replicas(obj runtime.Object) (Replicas, error)
	// SetReplicas sets obj's desired replicas.
	SetReplicas(obj runtime.Object, replicas int32)
}

// REST is the /scale subresource of a parent resource.
type REST struct {
	store    *genericregistry.Store
	resource schema.GroupResource
	paths    managedfields.ResourcePathMappings
	accessor Accessor
}

var (
	_ rest.Patcher                  = &REST{}
	_ rest.GroupVersionKindProvider = &REST{}
	_ rest.TableConvertor           = &REST{}
)

// NewREST returns the /scale subresource of the resource that parent
// stores. replicasPaths maps each group version the parent is served in to
// the path of its desired replicas (e.g. "apps/v1" -> spec.replicas).
func NewREST(parent *genericregistry.Store, replicasPaths managedfields.ResourcePathMappings, accessor Accessor) *REST {
	gr := parent.DefaultQualifiedResource
	return &REST{
		store:    parent,
		resource: schema.GroupResource{Group: gr.Group, Resource: gr.Resource + "/scale"},
		paths:    replicasPaths,
		accessor: accessor,
	}
}

// GroupVersionKind is autoscaling/v1 Scale in every version of the parent.
func (r *REST) GroupVersionKind(containingGV schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

// New returns an empty Scale.
func (r *REST) New() runtime.Object { return &autoscalingv1.Scale{} }

// Destroy does nothing: the parent store owns the storage.
func (r *REST) Destroy() {}

// Get returns the parent's Scale.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	s, err := r.scaleOf(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return s, nil
}

// Update changes the parent's desired replicas from an updated Scale.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, _, err := r.store.Update(ctx, name,
		&updatedParentInfo{name: name, scaleInfo: objInfo, rest: r},
		r.scaleCreateValidation(createValidation),
		r.scaleUpdateValidation(updateValidation),
		false, options)
	if err != nil {
		return nil, false, err
	}
	s, err := r.scaleOf(obj)
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	return s, false, nil
}

// ConvertToTable prints a Scale with upstream's columns.
func (r *REST) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, tableOptions)
}

// scaleOf returns the Scale of a parent object.
func (r *REST) scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	replicas, err := r.accessor.Replicas(obj)
	if err != nil {
		return nil, err
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              accessor.GetName(),
			Namespace:         accessor.GetNamespace(),
			UID:               accessor.GetUID(),
			ResourceVersion:   accessor.GetResourceVersion(),
			CreationTimestamp: accessor.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas.Desired},
		Status: autoscalingv1.ScaleStatus{Replicas: replicas.Current, Selector: replicas.Selector},
	}, nil
}

// scaleCreateValidation and scaleUpdateValidation run admission on the
// Scale, not on the parent: admission sees the subresource's kind.
func (r *REST) scaleCreateValidation(validate rest.ValidateObjectFunc) rest.ValidateObjectFunc {
	if validate == nil {
		return nil
	}
	return func(ctx context.Context, obj runtime.Object) error {
		s, err := r.scaleOf(obj)
		if err != nil {
			return err
		}
		return validate(ctx, s)
	}
}

func (r *REST) scaleUpdateValidation(validate rest.ValidateObjectUpdateFunc) rest.ValidateObjectUpdateFunc {
	if validate == nil {
		return nil
	}
	return func(ctx context.Context, obj, old runtime.Object) error {
		s, err := r.scaleOf(obj)
		if err != nil {
			return err
		}
		oldScale, err := r.scaleOf(old)
		if err != nil {
			return err
		}
		return validate(ctx, s, oldScale)
	}
}

// updatedParentInfo turns the requested Scale update into an update of the
// parent: parent -> old Scale -> new Scale (the request applied) -> parent.
type updatedParentInfo struct {
	name      string
	scaleInfo rest.UpdatedObjectInfo
	rest      *REST
}

func (i *updatedParentInfo) Preconditions() *metav1.Preconditions {
	return i.scaleInfo.Preconditions()
}

func (i *updatedParentInfo) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	r := i.rest
	parent := oldObj.DeepCopyObject()
	parentMeta, err := meta.Accessor(parent)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("scale %s: %v", r.resource, err))
	}
	// The store passes an empty object when the parent does not exist.
	if parentMeta.GetResourceVersion() == "" {
		return nil, apierrors.NewNotFound(r.resource, i.name)
	}

	gv, err := r.parentGroupVersion(ctx)
	if err != nil {
		return nil, err
	}
	managedFields := managedfields.NewScaleHandler(parentMeta.GetManagedFields(), gv, r.paths)

	oldScale, err := r.scaleOf(parent)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if oldScale.ManagedFields, err = managedFields.ToSubresource(); err != nil {
		return nil, fmt.Errorf("managed fields of %s %q: %w", r.resource, i.name, err)
	}

	newObj, err := i.scaleInfo.UpdatedObject(ctx, oldScale)
	if err != nil {
		return nil, err
	}
	if newObj == nil {
		return nil, apierrors.NewBadRequest("nil update passed to Scale")
	}
	newScale, ok := newObj.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected input object type to be Scale, but %T", newObj))
	}

	if errs := r.validate(ctx, newScale, oldScale); len(errs) > 0 {
		return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), parentMeta.GetName(), errs)
	}
	// resourceVersion preconditions are the store's; the UID one is ours.
	if newScale.UID != "" && newScale.UID != parentMeta.GetUID() {
		return nil, apierrors.NewConflict(r.resource, parentMeta.GetName(),
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", newScale.UID, parentMeta.GetUID()))
	}

	r.accessor.SetReplicas(parent, newScale.Spec.Replicas)
	parentMeta.SetResourceVersion(newScale.ResourceVersion)
	entries, err := managedFields.ToParent(newScale.ManagedFields)
	if err != nil {
		return nil, fmt.Errorf("managed fields of %s %q: %w", r.resource, i.name, err)
	}
	parentMeta.SetManagedFields(entries)
	return parent, nil
}

// parentGroupVersion is the group version the request addressed the parent
// in, which decides the replicas path in the parent's managed fields.
func (r *REST) parentGroupVersion(ctx context.Context) (schema.GroupVersion, error) {
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok {
		gr := r.store.DefaultQualifiedResource
		for gvString := range r.paths {
			gv, err := schema.ParseGroupVersion(gvString)
			if err == nil && gv.Group == gr.Group {
				return gv, nil
			}
		}
		return schema.GroupVersion{}, apierrors.NewInternalError(fmt.Errorf("no replicas path for %s", gr))
	}
	gv := schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	if _, ok := r.paths[gv.String()]; !ok {
		return schema.GroupVersion{}, apierrors.NewBadRequest(fmt.Sprintf("%s is not served in %s", r.resource, gv))
	}
	return gv, nil
}

// validate runs upstream's Scale validation: handwritten, then declarative
// for the autoscaling/v1 Scale of the /scale subresource.
func (r *REST) validate(ctx context.Context, newScale, oldScale *autoscalingv1.Scale) field.ErrorList {
	errs := generic.Validate(newScale, autoscalingvalidation.ValidateScale)
	declarative := rest.DeclarativeValidation{Scheme: scheme.Scheme}
	return declarative.ValidateDeclaratively(ctx, newScale, oldScale, errs, operation.Update,
		rest.DeclarativeValidationConfig{SubresourceGVKMapper: r})
}
