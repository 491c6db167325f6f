package replicationcontroller

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/autoscaling"
	autoscalingvalidation "k8s.io/kubernetes/pkg/apis/autoscaling/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// replicasPaths tells the managed-fields handler where a Scale's
// spec.replicas lives in a ReplicationController of each served version.
var replicasPaths = managedfields.ResourcePathMappings{
	corev1.SchemeGroupVersion.String(): fieldpath.MakePathOrDie("spec", "replicas"),
}

// ScaleREST is replicationcontrollers/scale, an autoscaling/v1 Scale view
// of spec.replicas. Field ownership moves between the Scale and the
// ReplicationController so that server-side apply sees a scale's manager
// as the owner of spec.replicas.
type ScaleREST struct {
	store *genericregistry.Store
}

var (
	_ rest.Patcher                  = &ScaleREST{}
	_ rest.GroupVersionKindProvider = &ScaleREST{}
)

// GroupVersionKind is autoscaling/v1 Scale.
func (r *ScaleREST) GroupVersionKind(containingGV schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

// New returns an empty Scale.
func (r *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }

// Destroy does nothing: the parent store owns the storage.
func (r *ScaleREST) Destroy() {}

// Get returns the Scale of a ReplicationController.
func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return scaleFromRC(obj.(*corev1.ReplicationController)), nil
}

// Update sets spec.replicas from a Scale.
func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, _, err := r.store.Update(ctx, name,
		&scaleUpdatedObjectInfo{name: name, reqObjInfo: objInfo, gvk: r},
		func(ctx context.Context, obj runtime.Object) error {
			return createValidation(ctx, scaleFromRC(obj.(*corev1.ReplicationController)))
		},
		func(ctx context.Context, obj, old runtime.Object) error {
			return updateValidation(ctx, scaleFromRC(obj.(*corev1.ReplicationController)), scaleFromRC(old.(*corev1.ReplicationController)))
		},
		false, options)
	if err != nil {
		return nil, false, err
	}
	return scaleFromRC(obj.(*corev1.ReplicationController)), false, nil
}

// ConvertToTable prints the Scale.
func (r *ScaleREST) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, tableOptions)
}

func scaleFromRC(rc *corev1.ReplicationController) *autoscalingv1.Scale {
	var replicas int32
	if rc.Spec.Replicas != nil {
		replicas = *rc.Spec.Replicas
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name:              rc.Name,
			Namespace:         rc.Namespace,
			UID:               rc.UID,
			ResourceVersion:   rc.ResourceVersion,
			CreationTimestamp: rc.CreationTimestamp,
		},
		Spec: autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{
			Replicas: rc.Status.Replicas,
			Selector: labels.SelectorFromSet(rc.Spec.Selector).String(),
		},
	}
}

// scaleUpdatedObjectInfo turns the request's Scale into an updated
// ReplicationController.
type scaleUpdatedObjectInfo struct {
	name       string
	reqObjInfo rest.UpdatedObjectInfo
	gvk        rest.GroupVersionKindProvider
}

func (i *scaleUpdatedObjectInfo) Preconditions() *metav1.Preconditions {
	return i.reqObjInfo.Preconditions()
}

func (i *scaleUpdatedObjectInfo) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	rc, ok := oldObj.DeepCopyObject().(*corev1.ReplicationController)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected existing object type to be ReplicationController, got %T", oldObj))
	}
	if rc.ResourceVersion == "" {
		return nil, apierrors.NewNotFound(corev1.Resource("replicationcontrollers/scale"), i.name)
	}
	groupVersion := corev1.SchemeGroupVersion
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		requested := schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
		if _, known := replicasPaths[requested.String()]; !known {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unrecognized group/version in request info %q", requested))
		}
		groupVersion = requested
	}
	handler := managedfields.NewScaleHandler(rc.ManagedFields, groupVersion, replicasPaths)

	oldScale := scaleFromRC(rc)
	scaleManagedFields, err := handler.ToSubresource()
	if err != nil {
		return nil, err
	}
	oldScale.ManagedFields = scaleManagedFields

	newObj, err := i.reqObjInfo.UpdatedObject(ctx, oldScale)
	if err != nil {
		return nil, err
	}
	if newObj == nil {
		return nil, apierrors.NewBadRequest("nil update passed to Scale")
	}
	scale, ok := newObj.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected input object type to be Scale, but %T", newObj))
	}
	if errs := validateScaleUpdate(ctx, scale, oldScale, i.gvk); len(errs) > 0 {
		return nil, apierrors.NewInvalid(autoscaling.Kind("Scale"), rc.Name, errs)
	}
	if scale.UID != "" && scale.UID != rc.UID {
		return nil, apierrors.NewConflict(corev1.Resource("replicationcontrollers/scale"), rc.Name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", scale.UID, rc.UID))
	}

	replicas := scale.Spec.Replicas
	rc.Spec.Replicas = &replicas
	rc.ResourceVersion = scale.ResourceVersion
	rc.ManagedFields, err = handler.ToParent(scale.ManagedFields)
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// validateScaleUpdate runs upstream's Scale validation (handwritten and
// declarative) on the internal forms.
func validateScaleUpdate(ctx context.Context, scale, oldScale *autoscalingv1.Scale, gvk rest.GroupVersionKindProvider) field.ErrorList {
	in, err := rules.ToInternal(scale)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := rules.ToInternal(oldScale)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return autoscalingvalidation.ValidateScaleUpdate(ctx, in.(*autoscaling.Scale), oldIn.(*autoscaling.Scale), legacyscheme.Scheme, gvk)
}
