package cache

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// Snapshot is the cluster state one scheduling cycle sees. It is updated
// incrementally from the Cache at the start of each cycle and read by
// plugins without locks.
type Snapshot struct {
	nodeInfoMap  map[string]*framework.NodeInfo
	nodeInfoList []*framework.NodeInfo
	// havePodsWithAffinityNodeInfoList are the nodes running pods with
	// (anti-)affinity; InterPodAffinity only looks at those.
	havePodsWithAffinityNodeInfoList             []*framework.NodeInfo
	havePodsWithRequiredAntiAffinityNodeInfoList []*framework.NodeInfo
	usedPVCSet                                   sets.Set[string]
	generation                                   int64
}

var _ framework.SharedLister = &Snapshot{}

// NewEmptySnapshot returns an empty snapshot.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{nodeInfoMap: map[string]*framework.NodeInfo{}, usedPVCSet: sets.New[string]()}
}

// NewSnapshot builds a snapshot from NodeInfos (for tests and benchmarks).
func NewSnapshot(nodeInfos ...*framework.NodeInfo) *Snapshot {
	s := NewEmptySnapshot()
	for _, ni := range nodeInfos {
		if ni.Node() == nil {
			continue
		}
		s.nodeInfoMap[ni.Node().Name] = ni
		s.nodeInfoList = append(s.nodeInfoList, ni)
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
	return s
}

// NodeInfos is the snapshot's node lister.
func (s *Snapshot) NodeInfos() framework.NodeInfoLister { return s }

// StorageInfos is the snapshot's storage lister.
func (s *Snapshot) StorageInfos() framework.StorageInfoLister { return s }

// NumNodes counts the nodes.
func (s *Snapshot) NumNodes() int { return len(s.nodeInfoList) }

// List lists the nodes, zones interleaved.
func (s *Snapshot) List() ([]*framework.NodeInfo, error) { return s.nodeInfoList, nil }

// HavePodsWithAffinityList lists nodes with pods that have (anti-)affinity.
func (s *Snapshot) HavePodsWithAffinityList() ([]*framework.NodeInfo, error) {
	return s.havePodsWithAffinityNodeInfoList, nil
}

// HavePodsWithRequiredAntiAffinityList lists nodes with pods that have
// required anti-affinity.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() ([]*framework.NodeInfo, error) {
	return s.havePodsWithRequiredAntiAffinityNodeInfoList, nil
}

// Get returns a node.
func (s *Snapshot) Get(name string) (*framework.NodeInfo, error) {
	if ni, ok := s.nodeInfoMap[name]; ok && ni.Node() != nil {
		return ni, nil
	}
	return nil, fmt.Errorf("nodeinfo not found for node name %q", name)
}

// IsPVCUsedByPods reports whether a pod uses the PVC "namespace/name".
func (s *Snapshot) IsPVCUsedByPods(key string) bool { return s.usedPVCSet.Has(key) }
