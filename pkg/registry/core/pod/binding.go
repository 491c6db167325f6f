package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"
	"k8s.io/apiserver/pkg/util/dryrun"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	v1podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// BindingREST is pods/binding: it assigns a pod to a node, as the scheduler
// does, once.
type BindingREST struct {
	store *genericregistry.Store
}

var (
	_ rest.NamedCreater                   = &BindingREST{}
	_ rest.SubresourceObjectMetaPreserver = &BindingREST{}
)

// NamespaceScoped is true: bindings live in their pod's namespace.
func (r *BindingREST) NamespaceScoped() bool { return true }

// New returns an empty Binding.
func (r *BindingREST) New() runtime.Object { return &corev1.Binding{} }

// Destroy does nothing: the pods store owns the storage.
func (r *BindingREST) Destroy() {}

// PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate keeps the
// binding's uid and resourceVersion: they are preconditions on the pod.
func (r *BindingREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool { return true }

// Create binds the pod named like the binding to binding.target.name.
func (r *BindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	binding, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	if name != binding.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	// Upstream returns these errors unwrapped (a 500); they are the
	// client's fault, so skiff answers 422 with the same causes.
	if errs := generic.Validate(binding, corevalidation.ValidatePodBinding); len(errs) != 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), binding.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, binding.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if err := r.assignPod(ctx, binding, dryrun.IsDryRun(options.DryRun)); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// assignPod sets the pod's node unless it has one. Anything that stops the
// binding other than storage errors is a 409 Conflict on pods/binding.
func (r *BindingREST) assignPod(ctx context.Context, binding *corev1.Binding, dryRun bool) error {
	name := binding.Name
	key, err := r.store.KeyFunc(ctx, name)
	if err != nil {
		return err
	}
	err = r.store.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, bindingPreconditions(binding.UID, binding.ResourceVersion),
		storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return nil, fmt.Errorf("unexpected object: %T", obj)
			}
			if err := bindPod(pod, binding.Target.Name, binding.Annotations, binding.Labels); err != nil {
				return nil, err
			}
			return pod, nil
		}), dryRun, nil)
	if err != nil {
		err = storeerr.InterpretGetError(err, corev1.Resource("pods"), name)
		err = storeerr.InterpretUpdateError(err, corev1.Resource("pods"), name)
		if _, ok := err.(*apierrors.StatusError); !ok {
			err = apierrors.NewConflict(corev1.Resource("pods/binding"), name, err)
		}
	}
	return err
}

func bindingPreconditions(uid types.UID, resourceVersion string) *storage.Preconditions {
	if uid == "" && resourceVersion == "" {
		return nil
	}
	p := &storage.Preconditions{}
	if uid != "" {
		p.UID = &uid
	}
	if resourceVersion != "" {
		p.ResourceVersion = &resourceVersion
	}
	return p
}

// bindPod assigns pod to node: it fails for a pod that is being deleted,
// already bound or still gated; otherwise it sets spec.nodeName, merges the
// binding's annotations (and labels, which overwrite the pod's), clears the
// nomination and marks the pod PodScheduled.
func bindPod(pod *corev1.Pod, node string, annotations, labels map[string]string) error {
	if pod.DeletionTimestamp != nil {
		return fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name)
	}
	if pod.Spec.NodeName != "" {
		return fmt.Errorf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName)
	}
	if len(pod.Spec.SchedulingGates) != 0 {
		return fmt.Errorf("pod %v has non-empty .spec.schedulingGates", pod.Name)
	}
	pod.Spec.NodeName = node
	if enabled(featureClearingNominatedNodeNameAfterBinding) {
		pod.Status.NominatedNodeName = ""
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	for k, v := range annotations {
		pod.Annotations[k] = v
	}
	// The write bypasses the strategy, so the annotations it would drop
	// are dropped here.
	podutil.DropInitContainerAnnotations(pod.Annotations)
	if enabled(featurePodTopologyLabelsAdmission) && len(labels) > 0 {
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		for k, v := range labels {
			pod.Labels[k] = v
		}
	}
	v1podutil.UpdatePodCondition(&pod.Status, &corev1.PodCondition{
		Type:   corev1.PodScheduled,
		Status: corev1.ConditionTrue,
	})
	return nil
}

// LegacyBindingREST is the core bindings resource: POST
// /api/v1/namespaces/{ns}/bindings with the pod's name in the body.
type LegacyBindingREST struct {
	binding *BindingREST
}

var (
	_ rest.Creater              = &LegacyBindingREST{}
	_ rest.SingularNameProvider = &LegacyBindingREST{}
)

// NamespaceScoped is true.
func (r *LegacyBindingREST) NamespaceScoped() bool { return true }

// New returns an empty Binding.
func (r *LegacyBindingREST) New() runtime.Object { return r.binding.New() }

// Destroy does nothing: the pods store owns the storage.
func (r *LegacyBindingREST) Destroy() {}

// GetSingularName is "binding".
func (r *LegacyBindingREST) GetSingularName() string { return "binding" }

// Create binds the pod the binding names.
func (r *LegacyBindingREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	return r.binding.Create(ctx, m.GetName(), obj, createValidation, options)
}
