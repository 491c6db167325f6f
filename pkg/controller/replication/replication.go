// Package replication keeps the number of pods of every
// ReplicationController at its spec.replicas, with the core of the
// ReplicaSet controller (pkg/controller/replicaset): a ReplicationController
// is viewed as a ReplicaSet whose selector is an equality-based label map.
package replication

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
	"github.com/skiff-project/skiff/pkg/controller/replicaset"
)

// NewController returns the ReplicationController controller (upstream's
// "replication manager").
func NewController(client kubernetes.Interface, rcInformer coreinformers.ReplicationControllerInformer, podInformer coreinformers.PodInformer, burst int) (*replicaset.Core, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "replication-controller")
	kind := &rcKind{client: client, informer: rcInformer.Informer(), lister: rcInformer.Lister()}
	return replicaset.NewCore(kind, podInformer, controller.RealPodControl{Client: client, Recorder: recorder}, startEvents, "replicationmanager", burst)
}

type rcKind struct {
	client   kubernetes.Interface
	informer cache.SharedIndexInformer
	lister   corelisters.ReplicationControllerLister
}

func (k *rcKind) GroupVersionKind() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}

func (k *rcKind) Informer() cache.SharedIndexInformer { return k.informer }

// ReportsTerminating: ReplicationControllerStatus has no terminatingReplicas.
func (k *rcKind) ReportsTerminating() bool { return false }

// Siblings: ReplicationControllers have no controller of their own.
func (k *rcKind) Siblings(*replicaset.Replicated) []*replicaset.Replicated { return nil }

func (k *rcKind) View(obj interface{}) (*replicaset.Replicated, bool) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, false
	}
	return view(rc), true
}

// view converts a ReplicationController; its status conditions map one to
// one onto ReplicaSet conditions.
func view(rc *corev1.ReplicationController) *replicaset.Replicated {
	r := &replicaset.Replicated{
		Object:          rc,
		Original:        rc,
		Replicas:        ptr.Deref(rc.Spec.Replicas, 1),
		MinReadySeconds: rc.Spec.MinReadySeconds,
		Template:        rc.Spec.Template,
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if len(rc.Spec.Selector) == 0 {
		// Defaulting copies the template labels; an empty selector here
		// would select every pod of the namespace.
		r.Selector, r.SelectorErr = labels.Nothing(), fmt.Errorf("empty selector")
	} else {
		r.Selector = labels.SelectorFromSet(rc.Spec.Selector)
	}
	for _, c := range rc.Status.Conditions {
		r.Status.Conditions = append(r.Status.Conditions, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
		})
	}
	return r
}

func (k *rcKind) Get(namespace, name string) (*replicaset.Replicated, error) {
	rc, err := k.lister.ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return view(rc), nil
}

func (k *rcKind) List(namespace string) ([]*replicaset.Replicated, error) {
	list, err := k.lister.ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*replicaset.Replicated, 0, len(list))
	for _, rc := range list {
		out = append(out, view(rc))
	}
	return out, nil
}

func (k *rcKind) GetLive(ctx context.Context, namespace, name string) (*replicaset.Replicated, error) {
	rc, err := k.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return view(rc), nil
}

func (k *rcKind) UpdateStatus(ctx context.Context, r *replicaset.Replicated) (*replicaset.Replicated, error) {
	rc := r.Original.(*corev1.ReplicationController).DeepCopy()
	rc.Status = corev1.ReplicationControllerStatus{
		Replicas:             r.Status.Replicas,
		FullyLabeledReplicas: r.Status.FullyLabeledReplicas,
		ReadyReplicas:        r.Status.ReadyReplicas,
		AvailableReplicas:    r.Status.AvailableReplicas,
		ObservedGeneration:   r.Status.ObservedGeneration,
	}
	for _, c := range r.Status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type:               corev1.ReplicationControllerConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
		})
	}
	updated, err := k.client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return view(updated), nil
}
