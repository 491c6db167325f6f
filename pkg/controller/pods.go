package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// Index names the workload controllers add to the shared pod informer.
const (
	// PodControllerIndex indexes pods by their controller (namespace, kind,
	// name, UID), and orphans by their namespace alone.
	PodControllerIndex = "podController"
	// PodNodeNameIndex indexes scheduled pods by node name.
	PodNodeNameIndex = "spec.nodeName"
)

// KeyFunc is the queue key of an object (namespace/name), accepting
// tombstones of deleted objects.
var KeyFunc = cache.DeletionHandlingMetaNamespaceKeyFunc

// PodKey is the key of a pod in expectations (namespace/name).
func PodKey(pod *corev1.Pod) string {
	return pod.Namespace + "/" + pod.Name
}

// PodControllerIndexKey is the PodControllerIndex key of pods controlled by
// ref in namespace, or of the orphans of namespace when ref is nil.
func PodControllerIndexKey(namespace string, ref *metav1.OwnerReference) string {
	if ref == nil {
		return namespace
	}
	return namespace + "/" + ref.Kind + "/" + ref.Name + "/" + string(ref.UID)
}

// AddPodControllerIndexer adds PodControllerIndex to a pod informer (once;
// several controllers share the informer).
func AddPodControllerIndexer(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[PodControllerIndex]; ok {
		return nil
	}
	return informer.AddIndexers(cache.Indexers{PodControllerIndex: func(obj interface{}) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		return []string{PodControllerIndexKey(pod.Namespace, metav1.GetControllerOfNoCopy(pod))}, nil
	}})
}

// AddPodNodeNameIndexer adds PodNodeNameIndex to a pod informer (once).
func AddPodNodeNameIndexer(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[PodNodeNameIndex]; ok {
		return nil
	}
	return informer.AddIndexers(cache.Indexers{PodNodeNameIndex: func(obj interface{}) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{pod.Spec.NodeName}, nil
	}})
}

// PodsOfOwner returns the pods controlled by the owner (of kind ownerKind)
// and, when withOrphans is set, the pods of its namespace that have no
// controller and so might be adopted.
func PodsOfOwner(indexer cache.Indexer, owner metav1.Object, ownerKind string, withOrphans bool) ([]*corev1.Pod, error) {
	keys := []string{PodControllerIndexKey(owner.GetNamespace(), &metav1.OwnerReference{Kind: ownerKind, Name: owner.GetName(), UID: owner.GetUID()})}
	if withOrphans {
		keys = append(keys, PodControllerIndexKey(owner.GetNamespace(), nil))
	}
	var pods []*corev1.Pod
	for _, key := range keys {
		objs, err := indexer.ByIndex(PodControllerIndex, key)
		if err != nil {
			return nil, fmt.Errorf("list pods of %s %s/%s: %w", ownerKind, owner.GetNamespace(), owner.GetName(), err)
		}
		for _, obj := range objs {
			if pod, ok := obj.(*corev1.Pod); ok {
				pods = append(pods, pod)
			}
		}
	}
	return pods, nil
}

// IsPodActive reports whether a pod still counts as a replica: it is not
// terminal and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// IsPodTerminating reports whether a pod is being deleted but has not
// reached a terminal phase yet.
func IsPodTerminating(p *corev1.Pod) bool {
	return !podutil.IsPodTerminal(p) && p.DeletionTimestamp != nil
}

// FilterActivePods returns the active pods of pods.
func FilterActivePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// FilterTerminatingPods returns the terminating pods of pods.
func FilterTerminatingPods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if IsPodTerminating(p) {
			out = append(out, p)
		}
	}
	return out
}

// FilterClaimedPods returns the pods controlled by owner that match selector.
func FilterClaimedPods(owner metav1.Object, selector labels.Selector, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if metav1.IsControlledBy(p, owner) && selector.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// NextAvailabilityCheck returns when the earliest ready but not yet
// available pod of pods becomes available under minReadySeconds, measured
// from now; nil when no pod is waiting for that.
func NextAvailabilityCheck(pods []*corev1.Pod, minReadySeconds int32, now time.Time) *time.Duration {
	if minReadySeconds <= 0 {
		return nil
	}
	var next *time.Duration
	for _, p := range pods {
		if !podutil.IsPodReady(p) {
			continue
		}
		c := podutil.GetPodReadyCondition(p.Status)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		d := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		if d > 0 && (next == nil || d < *next) {
			next = &d
		}
	}
	return next
}

// PodFromTemplate builds a pod for a controller from its template: labels,
// annotations, finalizers and spec are copied, the name is generated from
// the controller's name and the controller reference is set.
func PodFromTemplate(template *corev1.PodTemplateSpec, ownerName string, controllerRef *metav1.OwnerReference) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Labels:       copyMap(template.Labels),
			Annotations:  copyMap(template.Annotations),
			GenerateName: podNamePrefix(ownerName),
			Finalizers:   append([]string{}, template.Finalizers...),
		},
		Spec: *template.Spec.DeepCopy(),
	}
	if controllerRef != nil {
		pod.OwnerReferences = append(pod.OwnerReferences, *controllerRef)
	}
	return pod
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
