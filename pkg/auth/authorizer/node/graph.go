package node

import (
	"sync"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	pvutil "k8s.io/kubernetes/pkg/api/v1/persistentvolume"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// kind is the type of object a node may be related to.
type kind int

const (
	podKind kind = iota
	secretKind
	configMapKind
	pvcKind
	pvKind
	serviceAccountKind
	resourceClaimKind
	volumeAttachmentKind
	resourceSliceKind
	podCertificateRequestKind
)

// ref names an object; cluster-scoped objects have no namespace.
type ref struct {
	kind            kind
	namespace, name string
}

// Graph records which objects each node may read: upstream's node
// authorizer graph (node <- pod <- secret/configmap/pvc/serviceaccount/
// resourceclaim, pvc <- pv <- secret, node <- volumeattachment/
// resourceslice/podcertificaterequest), kept as indexes rather than a
// general graph because every path has one of these fixed shapes.
type Graph struct {
	mu sync.RWMutex
	// podNode is the node of each scheduled pod; podUses what each
	// (non-mirror) pod references.
	podNode map[ref]string
	podUses map[ref][]ref
	// usedBy indexes podUses: an object -> the pods referencing it.
	usedBy map[ref]map[ref]bool
	// pvClaim is the claim a PV is bound to; pvSecrets the secrets it
	// names, and secretPVs the reverse.
	pvClaim   map[string]ref
	pvSecrets map[string][]ref
	secretPVs map[ref]map[string]bool
	// objectNode is the node of objects that name their node directly.
	objectNode map[ref]string
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{
		podNode:    map[ref]string{},
		podUses:    map[ref][]ref{},
		usedBy:     map[ref]map[ref]bool{},
		pvClaim:    map[string]ref{},
		pvSecrets:  map[string][]ref{},
		secretPVs:  map[ref]map[string]bool{},
		objectNode: map[ref]string{},
	}
}

// AddPod records a scheduled pod and what it references. A mirror pod
// (created by its own kubelet) grants nothing beyond itself.
func (g *Graph) AddPod(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		return
	}
	key := ref{podKind, pod.Namespace, pod.Name}
	var uses []ref
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		if pod.Spec.ServiceAccountName != "" {
			uses = append(uses, ref{serviceAccountKind, pod.Namespace, pod.Spec.ServiceAccountName})
		}
		podutil.VisitPodSecretNames(pod, func(name string) bool {
			uses = append(uses, ref{secretKind, pod.Namespace, name})
			return true
		})
		podutil.VisitPodConfigmapNames(pod, func(name string) bool {
			uses = append(uses, ref{configMapKind, pod.Namespace, name})
			return true
		})
		for i := range pod.Spec.Volumes {
			v := &pod.Spec.Volumes[i]
			switch {
			case v.PersistentVolumeClaim != nil:
				uses = append(uses, ref{pvcKind, pod.Namespace, v.PersistentVolumeClaim.ClaimName})
			case v.Ephemeral != nil:
				uses = append(uses, ref{pvcKind, pod.Namespace, ephemeral.VolumeClaimName(pod, v)})
			}
		}
		for claim := range resourceclaim.PodClaims(pod) {
			uses = append(uses, ref{resourceClaimKind, pod.Namespace, claim})
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePodLocked(key)
	g.podNode[key] = pod.Spec.NodeName
	g.podUses[key] = uses
	for _, u := range uses {
		if g.usedBy[u] == nil {
			g.usedBy[u] = map[ref]bool{}
		}
		g.usedBy[u][key] = true
	}
}

// DeletePod forgets a pod.
func (g *Graph) DeletePod(namespace, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePodLocked(ref{podKind, namespace, name})
}

func (g *Graph) deletePodLocked(key ref) {
	for _, u := range g.podUses[key] {
		delete(g.usedBy[u], key)
		if len(g.usedBy[u]) == 0 {
			delete(g.usedBy, u)
		}
	}
	delete(g.podUses, key)
	delete(g.podNode, key)
}

// AddPV records a bound PV's claim and the secrets the kubelet reads for it.
func (g *Graph) AddPV(pv *corev1.PersistentVolume) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePVLocked(pv.Name)
	if pv.Spec.ClaimRef == nil {
		return
	}
	g.pvClaim[pv.Name] = ref{pvcKind, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name}
	pvutil.VisitPVSecretNames(pv, func(namespace, name string, kubeletVisible bool) bool {
		if kubeletVisible {
			s := ref{secretKind, namespace, name}
			g.pvSecrets[pv.Name] = append(g.pvSecrets[pv.Name], s)
			if g.secretPVs[s] == nil {
				g.secretPVs[s] = map[string]bool{}
			}
			g.secretPVs[s][pv.Name] = true
		}
		return true
	})
}

// DeletePV forgets a PV.
func (g *Graph) DeletePV(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePVLocked(name)
}

func (g *Graph) deletePVLocked(name string) {
	for _, s := range g.pvSecrets[name] {
		delete(g.secretPVs[s], name)
		if len(g.secretPVs[s]) == 0 {
			delete(g.secretPVs, s)
		}
	}
	delete(g.pvSecrets, name)
	delete(g.pvClaim, name)
}

// setObjectNode records (node != "") or forgets an object naming its node.
func (g *Graph) setObjectNode(key ref, node string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if node == "" {
		delete(g.objectNode, key)
		return
	}
	g.objectNode[key] = node
}

// related reports whether node may read the object: a path leads from it
// to the node.
func (g *Graph) related(node string, obj ref) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	switch obj.kind {
	case podKind:
		return g.podNode[obj] == node
	case pvKind:
		claim, ok := g.pvClaim[obj.name]
		return ok && g.usedOnNodeLocked(node, claim)
	case secretKind:
		if g.usedOnNodeLocked(node, obj) {
			return true
		}
		for pv := range g.secretPVs[obj] {
			if claim, ok := g.pvClaim[pv]; ok && g.usedOnNodeLocked(node, claim) {
				return true
			}
		}
		return false
	case volumeAttachmentKind, resourceSliceKind, podCertificateRequestKind:
		return g.objectNode[obj] == node
	default:
		return g.usedOnNodeLocked(node, obj)
	}
}

// usedOnNodeLocked reports whether a pod on node references obj.
func (g *Graph) usedOnNodeLocked(node string, obj ref) bool {
	for pod := range g.usedBy[obj] {
		if g.podNode[pod] == node {
			return true
		}
	}
	return false
}

// Informers are what the graph is built from.
type Informers struct {
	Pods                   cache.SharedIndexInformer
	PersistentVolumes      cache.SharedIndexInformer
	VolumeAttachments      cache.SharedIndexInformer
	ResourceSlices         cache.SharedIndexInformer
	PodCertificateRequests cache.SharedIndexInformer
}

// AddEventHandlers keeps g up to date from the informers (nil ones are
// skipped).
func (g *Graph) AddEventHandlers(inf Informers) {
	add := func(i cache.SharedIndexInformer, h cache.ResourceEventHandlerFuncs) {
		if i == nil {
			return
		}
		if _, err := i.AddEventHandler(h); err != nil {
			klog.ErrorS(err, "Node authorizer: cannot watch", "informer", i)
		}
	}
	add(inf.Pods, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { g.AddPod(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { g.AddPod(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if pod, ok := unwrap(obj).(*corev1.Pod); ok {
				g.DeletePod(pod.Namespace, pod.Name)
			}
		},
	})
	add(inf.PersistentVolumes, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { g.AddPV(obj.(*corev1.PersistentVolume)) },
		UpdateFunc: func(_, obj any) { g.AddPV(obj.(*corev1.PersistentVolume)) },
		DeleteFunc: func(obj any) {
			if pv, ok := unwrap(obj).(*corev1.PersistentVolume); ok {
				g.DeletePV(pv.Name)
			}
		},
	})
	add(inf.VolumeAttachments, nodeNamedHandlers(g, func(obj any) (ref, string, bool) {
		va, ok := obj.(*storagev1.VolumeAttachment)
		if !ok {
			return ref{}, "", false
		}
		return ref{volumeAttachmentKind, "", va.Name}, va.Spec.NodeName, true
	}))
	add(inf.ResourceSlices, nodeNamedHandlers(g, func(obj any) (ref, string, bool) {
		slice, ok := obj.(*resourcev1.ResourceSlice)
		if !ok {
			return ref{}, "", false
		}
		return ref{resourceSliceKind, "", slice.Name}, ptr.Deref(slice.Spec.NodeName, ""), true
	}))
	add(inf.PodCertificateRequests, nodeNamedHandlers(g, func(obj any) (ref, string, bool) {
		pcr, ok := obj.(*certificatesv1.PodCertificateRequest)
		if !ok {
			return ref{}, "", false
		}
		return ref{podCertificateRequestKind, pcr.Namespace, pcr.Name}, string(pcr.Spec.NodeName), true
	}))
}

// nodeNamedHandlers keep objectNode for a kind whose objects name a node.
func nodeNamedHandlers(g *Graph, keyOf func(obj any) (ref, string, bool)) cache.ResourceEventHandlerFuncs {
	set := func(obj any) {
		if key, node, ok := keyOf(obj); ok {
			g.setObjectNode(key, node)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if key, _, ok := keyOf(unwrap(obj)); ok {
				g.setObjectNode(key, "")
			}
		},
	}
}

func unwrap(obj any) any {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tombstone.Obj
	}
	return obj
}
