package queue

import (
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// nominator tracks pods nominated to nodes by preemption, so that lower
// priority pods do not take the room being made for them.
type nominator struct {
	mu sync.RWMutex
	// byNode holds nominated pods per node.
	byNode map[string][]*framework.PodInfo
	// nodeOf maps a pod's UID to its nominated node.
	nodeOf map[types.UID]string
}

func newNominator() *nominator {
	return &nominator{byNode: map[string][]*framework.PodInfo{}, nodeOf: map[types.UID]string{}}
}

// AddNominatedPod records pi's nomination: from ni when it overrides,
// otherwise from the pod's status.nominatedNodeName.
func (n *nominator) AddNominatedPod(logger klog.Logger, pi *framework.PodInfo, ni *framework.NominatingInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addLocked(logger, pi, ni)
}

func (n *nominator) addLocked(logger klog.Logger, pi *framework.PodInfo, ni *framework.NominatingInfo) {
	n.deleteLocked(pi.Pod)
	var node string
	if ni.Mode() == framework.ModeOverride {
		node = ni.NominatedNodeName
	} else if ni.Mode() == framework.ModeNoop {
		if pi.Pod.Status.NominatedNodeName == "" {
			return
		}
		node = pi.Pod.Status.NominatedNodeName
	}
	if node == "" {
		return
	}
	n.nodeOf[pi.Pod.UID] = node
	for _, p := range n.byNode[node] {
		if p.Pod.UID == pi.Pod.UID {
			return
		}
	}
	n.byNode[node] = append(n.byNode[node], pi)
	logger.V(4).Info("Pod nominated to node", "pod", klog.KObj(pi.Pod), "node", node)
}

func (n *nominator) deleteLocked(pod *v1.Pod) {
	node, ok := n.nodeOf[pod.UID]
	if !ok {
		return
	}
	n.byNode[node] = slices.DeleteFunc(n.byNode[node], func(p *framework.PodInfo) bool { return p.Pod.UID == pod.UID })
	if len(n.byNode[node]) == 0 {
		delete(n.byNode, node)
	}
	delete(n.nodeOf, pod.UID)
}

// DeleteNominatedPodIfExists forgets pod's nomination.
func (n *nominator) DeleteNominatedPodIfExists(pod *v1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleteLocked(pod)
}

// UpdateNominatedPod keeps a nomination across pod updates: an update that
// clears status.nominatedNodeName without binding keeps the nomination made
// in memory (the update may have raced with the scheduler's patch).
func (n *nominator) UpdateNominatedPod(logger klog.Logger, oldPod *v1.Pod, newPodInfo *framework.PodInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ni *framework.NominatingInfo
	if newPodInfo.Pod.Status.NominatedNodeName == "" && oldPod.Status.NominatedNodeName == "" && newPodInfo.Pod.Spec.NodeName == "" {
		if node, ok := n.nodeOf[oldPod.UID]; ok {
			ni = &framework.NominatingInfo{NominatedNodeName: node, NominatingMode: framework.ModeOverride}
		}
	}
	n.deleteLocked(oldPod)
	n.addLocked(logger, newPodInfo, ni)
}

// NominatedPodsForNode lists the pods nominated to node.
func (n *nominator) NominatedPodsForNode(node string) []*framework.PodInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	pods := n.byNode[node]
	if len(pods) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), pods...)
}
