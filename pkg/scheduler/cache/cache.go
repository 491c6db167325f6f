// Package cache holds the scheduler's view of nodes and the pods on them,
// including pods it has assumed onto a node before their binding landed.
package cache

import (
	"fmt"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// nodeItem is a NodeInfo in the cache's recency list: the most recently
// changed node is at the head, so a snapshot update walks only the nodes
// that changed since the previous one.
type nodeItem struct {
	info       *framework.NodeInfo
	prev, next *nodeItem
}

type podState struct {
	pod *v1.Pod
	// bindingFinished is set once the bind call returned.
	bindingFinished bool
}

type imageState struct {
	size  int64
	nodes sets.Set[string]
}

// Cache is the scheduler's cluster state, fed by informers and by the
// scheduler's own assumptions. Safe for concurrent use.
type Cache struct {
	mu       sync.RWMutex
	nodes    map[string]*nodeItem
	headNode *nodeItem
	nodeTree *nodeTree
	// podStates holds every known pod by UID, assumed ones included.
	podStates map[string]*podState
	assumed   sets.Set[string]
	images    map[string]*imageState
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{
		nodes:     map[string]*nodeItem{},
		nodeTree:  newNodeTree(),
		podStates: map[string]*podState{},
		assumed:   sets.New[string](),
		images:    map[string]*imageState{},
	}
}

func (c *Cache) moveToHead(name string) {
	item, ok := c.nodes[name]
	if !ok || item == c.headNode {
		return
	}
	if item.prev != nil {
		item.prev.next = item.next
	}
	if item.next != nil {
		item.next.prev = item.prev
	}
	if c.headNode != nil {
		c.headNode.prev = item
	}
	item.next, item.prev = c.headNode, nil
	c.headNode = item
}

func (c *Cache) removeItem(name string) {
	item, ok := c.nodes[name]
	if !ok {
		return
	}
	if item.prev != nil {
		item.prev.next = item.next
	}
	if item.next != nil {
		item.next.prev = item.prev
	}
	if item == c.headNode {
		c.headNode = item.next
	}
	delete(c.nodes, name)
}

func (c *Cache) nodeItemFor(name string) *nodeItem {
	item, ok := c.nodes[name]
	if !ok {
		item = &nodeItem{info: framework.NewNodeInfo()}
		c.nodes[name] = item
		if c.headNode != nil {
			c.headNode.prev = item
		}
		item.next = c.headNode
		c.headNode = item
	}
	return item
}

func (c *Cache) addPodLocked(pod *v1.Pod, assumed bool) {
	item := c.nodeItemFor(pod.Spec.NodeName)
	pi, _ := framework.NewPodInfo(pod)
	item.info.AddPodInfo(pi)
	c.moveToHead(pod.Spec.NodeName)
	c.podStates[string(pod.UID)] = &podState{pod: pod}
	if assumed {
		c.assumed.Insert(string(pod.UID))
	}
}

func (c *Cache) removePodLocked(pod *v1.Pod) error {
	item, ok := c.nodes[pod.Spec.NodeName]
	if ok {
		if err := item.info.RemovePod(pod); err != nil {
			return err
		}
		if item.info.Node() == nil && len(item.info.Pods) == 0 {
			c.removeItem(pod.Spec.NodeName)
		} else {
			c.moveToHead(pod.Spec.NodeName)
		}
	}
	delete(c.podStates, string(pod.UID))
	delete(c.assumed, string(pod.UID))
	return nil
}

// AssumePod records that pod (with spec.nodeName set) will run on its node
// before the binding is confirmed.
func (c *Cache) AssumePod(logger klog.Logger, pod *v1.Pod) error {
	key, err := framework.PodKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.podStates[key]; ok {
		return fmt.Errorf("pod %v(%v) is in the cache, so can't be assumed", key, klog.KObj(pod))
	}
	c.addPodLocked(pod, true)
	return nil
}

// FinishBinding marks that the bind call for an assumed pod returned.
func (c *Cache) FinishBinding(logger klog.Logger, pod *v1.Pod) error {
	key, err := framework.PodKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.podStates[key]; ok && c.assumed.Has(key) {
		ps.bindingFinished = true
	}
	return nil
}

// ForgetPod drops an assumed pod whose scheduling was abandoned.
func (c *Cache) ForgetPod(logger klog.Logger, pod *v1.Pod) error {
	key, err := framework.PodKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[key]
	if ok && ps.pod.Spec.NodeName != pod.Spec.NodeName {
		return fmt.Errorf("pod %v(%v) was assumed on %v but assigned to %v", key, klog.KObj(pod), pod.Spec.NodeName, ps.pod.Spec.NodeName)
	}
	if ok && c.assumed.Has(key) {
		return c.removePodLocked(ps.pod)
	}
	return fmt.Errorf("pod %v(%v) wasn't assumed so cannot be forgotten", key, klog.KObj(pod))
}

// AddPod records a bound pod (from the informer). An assumed pod is
// confirmed, moving it if it was bound elsewhere.
func (c *Cache) AddPod(logger klog.Logger, pod *v1.Pod) error {
	key, err := framework.PodKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[key]
	switch {
	case ok && c.assumed.Has(key):
		// The assumed pod object is replaced by the informer's.
		if err := c.removePodLocked(ps.pod); err != nil {
			return err
		}
		c.addPodLocked(pod, false)
	case !ok:
		c.addPodLocked(pod, false)
	default:
		return fmt.Errorf("pod %v(%v) was already in added state", key, klog.KObj(pod))
	}
	return nil
}

// UpdatePod replaces a bound pod.
func (c *Cache) UpdatePod(logger klog.Logger, oldPod, newPod *v1.Pod) error {
	key, err := framework.PodKey(oldPod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[key]
	if !ok {
		// Missed the add (e.g. the pod became non-terminal again); add it.
		c.addPodLocked(newPod, false)
		return nil
	}
	if c.assumed.Has(key) {
		return fmt.Errorf("assumed pod %v(%v) should not be updated", key, klog.KObj(oldPod))
	}
	if err := c.removePodLocked(ps.pod); err != nil {
		return err
	}
	c.addPodLocked(newPod, false)
	return nil
}

// RemovePod drops a pod (deleted, or terminal).
func (c *Cache) RemovePod(logger klog.Logger, pod *v1.Pod) error {
	key, err := framework.PodKey(pod)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[key]
	if !ok {
		return fmt.Errorf("pod %v(%v) is not found in scheduler cache, so cannot be removed from it", key, klog.KObj(pod))
	}
	return c.removePodLocked(ps.pod)
}

// IsAssumedPod reports whether pod is assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *v1.Pod) (bool, error) {
	key, err := framework.PodKey(pod)
	if err != nil {
		return false, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.assumed.Has(key), nil
}

// GetPod returns the cached version of pod.
func (c *Cache) GetPod(pod *v1.Pod) (*v1.Pod, error) {
	key, err := framework.PodKey(pod)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.podStates[key]
	if !ok {
		return nil, fmt.Errorf("pod %v(%v) does not exist in scheduler cache", key, klog.KObj(pod))
	}
	return ps.pod, nil
}

// AddNode records a node.
func (c *Cache) AddNode(logger klog.Logger, node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	item := c.nodeItemFor(node.Name)
	c.moveToHead(node.Name)
	c.nodeTree.addNode(node)
	c.updateImages(item.info.Node(), node)
	item.info.SetNode(node)
}

// UpdateNode replaces a node.
func (c *Cache) UpdateNode(logger klog.Logger, oldNode, newNode *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	item := c.nodeItemFor(newNode.Name)
	c.moveToHead(newNode.Name)
	c.nodeTree.updateNode(item.info.Node(), newNode)
	c.updateImages(item.info.Node(), newNode)
	item.info.SetNode(newNode)
}

// RemoveNode forgets a node; its pods stay until they are deleted.
func (c *Cache) RemoveNode(logger klog.Logger, node *v1.Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	item, ok := c.nodes[node.Name]
	if !ok {
		return fmt.Errorf("node %v is not found", node.Name)
	}
	c.updateImages(item.info.Node(), nil)
	item.info.RemoveNode()
	if len(item.info.Pods) == 0 {
		c.removeItem(node.Name)
	} else {
		c.moveToHead(node.Name)
	}
	c.nodeTree.removeNode(node)
	return nil
}

// NodeCount counts nodes.
func (c *Cache) NodeCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nodeTree.numNodes
}

// PodCount counts pods, assumed ones included.
func (c *Cache) PodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.podStates)
}

// NormalizedImageName adds ":latest" to untagged image names.
func NormalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") {
		name += ":latest"
	}
	return name
}

func (c *Cache) updateImages(oldNode, newNode *v1.Node) {
	if oldNode != nil {
		for _, img := range oldNode.Status.Images {
			for _, n := range img.Names {
				n = NormalizedImageName(n)
				if st, ok := c.images[n]; ok {
					st.nodes.Delete(oldNode.Name)
					if st.nodes.Len() == 0 {
						delete(c.images, n)
					}
				}
			}
		}
	}
	if newNode != nil {
		for _, img := range newNode.Status.Images {
			for _, n := range img.Names {
				n = NormalizedImageName(n)
				st, ok := c.images[n]
				if !ok {
					st = &imageState{size: img.SizeBytes, nodes: sets.New[string]()}
					c.images[n] = st
				}
				st.nodes.Insert(newNode.Name)
			}
		}
	}
}

func (c *Cache) imageSummaries(node *v1.Node) map[string]*framework.ImageStateSummary {
	out := map[string]*framework.ImageStateSummary{}
	for _, img := range node.Status.Images {
		for _, n := range img.Names {
			n = NormalizedImageName(n)
			if st, ok := c.images[n]; ok {
				out[n] = &framework.ImageStateSummary{Size: st.size, NumNodes: st.nodes.Len()}
			}
		}
	}
	return out
}

// UpdateSnapshot brings s up to date, copying only the nodes that changed
// since s was last updated.
func (c *Cache) UpdateSnapshot(logger klog.Logger, s *Snapshot) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	updateAll := false
	updateAffinityLists := false
	updatePVCs := false
	for item := c.headNode; item != nil; item = item.next {
		if item.info.Generation <= s.generation {
			break
		}
		node := item.info.Node()
		if node == nil {
			continue
		}
		existing, ok := s.nodeInfoMap[node.Name]
		if !ok {
			updateAll = true
			existing = &framework.NodeInfo{}
			s.nodeInfoMap[node.Name] = existing
		}
		clone := item.info.Snapshot()
		if len(node.Status.Images) > 0 {
			clone.ImageStates = c.imageSummaries(node)
		}
		if (len(existing.PodsWithAffinity) > 0) != (len(clone.PodsWithAffinity) > 0) ||
			(len(existing.PodsWithRequiredAntiAffinity) > 0) != (len(clone.PodsWithRequiredAntiAffinity) > 0) {
			updateAffinityLists = true
		}
		if !updatePVCs && !sets.KeySet(existing.PVCRefCounts).Equal(sets.KeySet(clone.PVCRefCounts)) {
			updatePVCs = true
		}
		// Copy in place: the snapshot's lists hold these pointers.
		*existing = *clone
	}
	if c.headNode != nil {
		s.generation = c.headNode.info.Generation
	}
	if len(s.nodeInfoMap) > c.nodeTree.numNodes {
		for name := range s.nodeInfoMap {
			if item, ok := c.nodes[name]; !ok || item.info.Node() == nil {
				delete(s.nodeInfoMap, name)
			}
		}
		updateAll = true
	}
	if updateAll || updateAffinityLists || updatePVCs {
		c.rebuildLists(s, updateAll)
	}
	if len(s.nodeInfoList) != c.nodeTree.numNodes {
		// Should not happen; rebuild everything to recover.
		c.rebuildLists(s, true)
		if len(s.nodeInfoList) != c.nodeTree.numNodes {
			return fmt.Errorf("snapshot state is not consistent: %d nodes listed, %d in the node tree", len(s.nodeInfoList), c.nodeTree.numNodes)
		}
	}
	return nil
}

func (c *Cache) rebuildLists(s *Snapshot, all bool) {
	s.havePodsWithAffinityNodeInfoList = s.havePodsWithAffinityNodeInfoList[:0]
	s.havePodsWithRequiredAntiAffinityNodeInfoList = s.havePodsWithRequiredAntiAffinityNodeInfoList[:0]
	s.usedPVCSet = sets.New[string]()
	if all {
		s.nodeInfoList = s.nodeInfoList[:0]
		for _, name := range c.nodeTree.list() {
			if ni, ok := s.nodeInfoMap[name]; ok {
				s.nodeInfoList = append(s.nodeInfoList, ni)
			}
		}
	}
	for _, ni := range s.nodeInfoList {
		if len(ni.PodsWithAffinity) > 0 {
			s.havePodsWithAffinityNodeInfoList = append(s.havePodsWithAffinityNodeInfoList, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.havePodsWithRequiredAntiAffinityNodeInfoList = append(s.havePodsWithRequiredAntiAffinityNodeInfoList, ni)
		}
		for key := range ni.PVCRefCounts {
			s.usedPVCSet.Insert(key)
		}
	}
}
