package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Event reasons for pod creation and deletion (upstream's).
const (
	FailedCreatePodReason     = "FailedCreate"
	SuccessfulCreatePodReason = "SuccessfulCreate"
	FailedDeletePodReason     = "FailedDelete"
	SuccessfulDeletePodReason = "SuccessfulDelete"
)

// PodControl creates, deletes and patches the pods of a controller and
// records the upstream events on the controller object.
type PodControl interface {
	// CreatePod creates pod (built with PodFromTemplate or by hand) in
	// namespace on behalf of owner and returns the created pod.
	CreatePod(ctx context.Context, namespace string, pod *corev1.Pod, owner runtime.Object) (*corev1.Pod, error)
	// DeletePod deletes a pod of owner. NotFound is returned as is.
	DeletePod(ctx context.Context, namespace, name string, owner runtime.Object) error
	// PatchPod applies a strategic merge patch to a pod.
	PatchPod(ctx context.Context, namespace, name string, patch []byte) error
}

// RealPodControl is PodControl over the API.
type RealPodControl struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

// CreatePod implements PodControl.
func (r RealPodControl) CreatePod(ctx context.Context, namespace string, pod *corev1.Pod, owner runtime.Object) (*corev1.Pod, error) {
	if len(pod.Labels) == 0 {
		return nil, fmt.Errorf("unable to create pods, no labels")
	}
	created, err := r.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// A terminating namespace refuses everything; no event for that.
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			r.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedCreatePodReason, "Error creating: %v", err)
		}
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Controller created pod", "pod", klog.KObj(created))
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulCreatePodReason, "Created pod: %v", created.Name)
	return created, nil
}

// DeletePod implements PodControl.
func (r RealPodControl) DeletePod(ctx context.Context, namespace, name string, owner runtime.Object) error {
	klog.FromContext(ctx).V(2).Info("Deleting pod", "pod", klog.KRef(namespace, name))
	if err := r.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		r.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedDeletePodReason, "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulDeletePodReason, "Deleted pod: %v", name)
	return nil
}

// PatchPod implements PodControl.
func (r RealPodControl) PatchPod(ctx context.Context, namespace, name string, patch []byte) error {
	_, err := r.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// FakePodControl records calls for tests; Err, when set, fails them.
type FakePodControl struct {
	mu       sync.Mutex
	Created  []*corev1.Pod
	Deleted  []string
	Patches  []string
	Err      error
	CreateFn func(pod *corev1.Pod) error
}

// CreatePod implements PodControl.
func (f *FakePodControl) CreatePod(_ context.Context, namespace string, pod *corev1.Pod, _ runtime.Object) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	if f.CreateFn != nil {
		if err := f.CreateFn(pod); err != nil {
			return nil, err
		}
	}
	p := pod.DeepCopy()
	p.Namespace = namespace
	if p.Name == "" {
		p.Name = fmt.Sprintf("%s%d", p.GenerateName, len(f.Created))
	}
	f.Created = append(f.Created, p)
	return p, nil
}

// DeletePod implements PodControl.
func (f *FakePodControl) DeletePod(_ context.Context, namespace, name string, _ runtime.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	f.Deleted = append(f.Deleted, namespace+"/"+name)
	return nil
}

// PatchPod implements PodControl.
func (f *FakePodControl) PatchPod(_ context.Context, namespace, name string, patch []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	f.Patches = append(f.Patches, namespace+"/"+name+" "+string(patch))
	return nil
}

// Reset forgets the recorded calls.
func (f *FakePodControl) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Created, f.Deleted, f.Patches = nil, nil, nil
}

// podNamePrefix is "<owner>-" when that is still a valid generateName,
// else the owner's name (upstream's rule).
func podNamePrefix(ownerName string) string {
	prefix := ownerName + "-"
	if len(apimachineryvalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		return ownerName
	}
	return prefix
}

// NewControllerRef returns the controller ownerReference pointing at owner
// (controller and blockOwnerDeletion set, as every workload controller does).
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	return metav1.NewControllerRef(owner, gvk)
}

// ownerRefPatch is the strategic merge patch that adds a controller
// reference (and finalizers) to an object, guarded by the object's UID so
// that it never lands on a re-created namesake.
func ownerRefPatch(owner metav1.Object, gvk schema.GroupVersionKind, uid types.UID, finalizers ...string) ([]byte, error) {
	type metaPatch struct {
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		UID             types.UID               `json:"uid"`
		Finalizers      []string                `json:"finalizers,omitempty"`
	}
	return json.Marshal(map[string]metaPatch{"metadata": {
		OwnerReferences: []metav1.OwnerReference{*NewControllerRef(owner, gvk)},
		UID:             uid,
		Finalizers:      finalizers,
	}})
}

// DeleteOwnerRefPatch is the strategic merge patch that removes the owner
// references with the given UIDs (and finalizers) from the object uid.
func DeleteOwnerRefPatch(uid types.UID, ownerUIDs []types.UID, finalizers ...string) ([]byte, error) {
	type metaPatch struct {
		UID              types.UID           `json:"uid"`
		OwnerReferences  []map[string]string `json:"ownerReferences"`
		DeleteFinalizers []string            `json:"$deleteFromPrimitiveList/finalizers,omitempty"`
	}
	refs := make([]map[string]string, 0, len(ownerUIDs))
	for _, u := range ownerUIDs {
		refs = append(refs, map[string]string{"$patch": "delete", "uid": string(u)})
	}
	return json.Marshal(map[string]metaPatch{"metadata": {UID: uid, OwnerReferences: refs, DeleteFinalizers: finalizers}})
}
