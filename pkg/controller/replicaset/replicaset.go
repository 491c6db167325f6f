package replicaset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

// controllerUIDIndex indexes ReplicaSets by the UID of their controller.
const controllerUIDIndex = "controllerUID"

// NewController returns the ReplicaSet controller.
func NewController(client kubernetes.Interface, rsInformer appsinformers.ReplicaSetInformer, podInformer coreinformers.PodInformer, burst int) (*Core, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "replicaset-controller")
	if err := addControllerUIDIndexer(rsInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index replicasets: %w", err)
	}
	kind := &replicaSetKind{client: client, informer: rsInformer.Informer(), lister: rsInformer.Lister()}
	return NewCore(kind, podInformer, controller.RealPodControl{Client: client, Recorder: recorder}, startEvents, "replicaset", burst)
}

func addControllerUIDIndexer(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[controllerUIDIndex]; ok {
		return nil
	}
	return informer.AddIndexers(cache.Indexers{controllerUIDIndex: func(obj interface{}) ([]string, error) {
		rs, ok := obj.(*appsv1.ReplicaSet)
		if !ok {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return nil, nil
	}})
}

type replicaSetKind struct {
	client   kubernetes.Interface
	informer cache.SharedIndexInformer
	lister   appslisters.ReplicaSetLister
}

func (k *replicaSetKind) GroupVersionKind() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}

func (k *replicaSetKind) Informer() cache.SharedIndexInformer { return k.informer }

func (k *replicaSetKind) ReportsTerminating() bool { return true }

func (k *replicaSetKind) View(obj interface{}) (*Replicated, bool) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil, false
	}
	return viewReplicaSet(rs), true
}

// viewReplicaSet views a ReplicaSet; the cached object is not modified.
func viewReplicaSet(rs *appsv1.ReplicaSet) *Replicated {
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		selector = labels.Nothing()
	}
	return &Replicated{
		Object:          rs,
		Original:        rs,
		Replicas:        ptr.Deref(rs.Spec.Replicas, 1),
		MinReadySeconds: rs.Spec.MinReadySeconds,
		Selector:        selector,
		SelectorErr:     err,
		Template:        &rs.Spec.Template,
		Status:          rs.Status,
	}
}

func (k *replicaSetKind) Get(namespace, name string) (*Replicated, error) {
	rs, err := k.lister.ReplicaSets(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return viewReplicaSet(rs), nil
}

func (k *replicaSetKind) List(namespace string) ([]*Replicated, error) {
	list, err := k.lister.ReplicaSets(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*Replicated, 0, len(list))
	for _, rs := range list {
		out = append(out, viewReplicaSet(rs))
	}
	return out, nil
}

func (k *replicaSetKind) GetLive(ctx context.Context, namespace, name string) (*Replicated, error) {
	rs, err := k.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return viewReplicaSet(rs), nil
}

func (k *replicaSetKind) UpdateStatus(ctx context.Context, r *Replicated) (*Replicated, error) {
	rs := r.Original.(*appsv1.ReplicaSet).DeepCopy()
	rs.Status = r.Status
	updated, err := k.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return viewReplicaSet(updated), nil
}

func (k *replicaSetKind) Siblings(r *Replicated) []*Replicated {
	ref := metav1.GetControllerOfNoCopy(r)
	if ref == nil {
		return nil
	}
	objs, err := k.informer.GetIndexer().ByIndex(controllerUIDIndex, string(ref.UID))
	if err != nil {
		return nil
	}
	out := make([]*Replicated, 0, len(objs))
	for _, obj := range objs {
		if rs, ok := obj.(*appsv1.ReplicaSet); ok {
			out = append(out, viewReplicaSet(rs))
		}
	}
	return out
}
