package podtopologyspread

import (
	"context"
	"fmt"
	"maps"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

const preFilterStateKey framework.StateKey = "PreFilter" + Name

type preFilterState struct {
	Constraints []topologySpreadConstraint
	// CriticalPaths keep the two domains with the fewest matching pods per
	// constraint, enough to know the minimum after any single update.
	CriticalPaths []*criticalPaths
	// TpValueToMatchNum counts matching pods per domain per constraint.
	TpValueToMatchNum []map[string]int
	// selfMatch is 1 for constraints whose selector matches the incoming
	// pod itself.
	selfMatch []int
}

func (s *preFilterState) minMatchNum(i int, minDomains int32) int {
	m := s.CriticalPaths[i][0].MatchNum
	if len(s.TpValueToMatchNum[i]) < int(minDomains) {
		// Fewer domains than minDomains: the global minimum is 0.
		m = 0
	}
	return m
}

func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return nil
	}
	c := preFilterState{
		selfMatch:         s.selfMatch,
		Constraints:       s.Constraints,
		CriticalPaths:     make([]*criticalPaths, len(s.CriticalPaths)),
		TpValueToMatchNum: make([]map[string]int, len(s.TpValueToMatchNum)),
	}
	for i, p := range s.CriticalPaths {
		c.CriticalPaths[i] = &criticalPaths{p[0], p[1]}
	}
	for i, m := range s.TpValueToMatchNum {
		c.TpValueToMatchNum[i] = maps.Clone(m)
	}
	return &c
}

type criticalPaths [2]struct {
	TopologyValue string
	MatchNum      int
}

func newCriticalPaths() *criticalPaths {
	return &criticalPaths{{MatchNum: math.MaxInt32}, {MatchNum: math.MaxInt32}}
}

func (p *criticalPaths) update(tpVal string, num int) {
	i := -1
	if tpVal == p[0].TopologyValue {
		i = 0
	} else if tpVal == p[1].TopologyValue {
		i = 1
	}
	if i >= 0 {
		p[i].MatchNum = num
		if p[0].MatchNum > p[1].MatchNum {
			p[0], p[1] = p[1], p[0]
		}
		return
	}
	if num < p[0].MatchNum {
		p[1] = p[0]
		p[0].TopologyValue, p[0].MatchNum = tpVal, num
	} else if num < p[1].MatchNum {
		p[1].TopologyValue, p[1].MatchNum = tpVal, num
	}
}

// PreFilter counts matching pods per domain for the hard constraints.
func (pl *PodTopologySpread) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	s, err := pl.calPreFilterState(ctx, pod, nodes)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(s.Constraints) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, s)
	return nil, nil
}

func (pl *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod updates the counts for a pod added while evaluating preemption or
// nominated pods.
func (pl *PodTopologySpread) AddPod(ctx context.Context, state *framework.CycleState, podToSchedule *v1.Pod, podInfoToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	pl.updateWithPod(klog.FromContext(ctx), s, podInfoToAdd.Pod, podToSchedule, nodeInfo.Node(), 1)
	return nil
}

// RemovePod updates the counts for a removed pod.
func (pl *PodTopologySpread) RemovePod(ctx context.Context, state *framework.CycleState, podToSchedule *v1.Pod, podInfoToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	pl.updateWithPod(klog.FromContext(ctx), s, podInfoToRemove.Pod, podToSchedule, nodeInfo.Node(), -1)
	return nil
}

func (pl *PodTopologySpread) updateWithPod(logger klog.Logger, s *preFilterState, updated, preemptor *v1.Pod, node *v1.Node, delta int) {
	if s == nil || updated.Namespace != preemptor.Namespace || node == nil {
		return
	}
	if !nodeLabelsMatchSpreadConstraints(node.Labels, s.Constraints) {
		return
	}
	required := nodeaffinity.GetRequiredNodeAffinity(preemptor)
	podLabels := labels.Set(updated.Labels)
	for i, c := range s.Constraints {
		if !c.Selector.Matches(podLabels) || !c.matchNodeInclusionPolicies(logger, preemptor, node, required) {
			continue
		}
		v := node.Labels[c.TopologyKey]
		s.TpValueToMatchNum[i][v] += delta
		s.CriticalPaths[i].update(v, s.TpValueToMatchNum[i][v])
	}
}

func getPreFilterState(state *framework.CycleState) (*preFilterState, error) {
	c, err := state.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from cycleState: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%+v convert to podtopologyspread.preFilterState error", c)
	}
	return s, nil
}

type topologyCount struct {
	value        string
	constraintID int
	count        int
}

func (pl *PodTopologySpread) calPreFilterState(ctx context.Context, pod *v1.Pod, nodes []*framework.NodeInfo) (*preFilterState, error) {
	constraints, err := pl.getConstraints(pod)
	if err != nil {
		return nil, fmt.Errorf("get constraints from pod: %w", err)
	}
	if len(constraints) == 0 {
		return &preFilterState{}, nil
	}
	logger := klog.FromContext(ctx)
	s := &preFilterState{
		Constraints:       constraints,
		CriticalPaths:     make([]*criticalPaths, len(constraints)),
		TpValueToMatchNum: make([]map[string]int, len(constraints)),
	}
	for i := range constraints {
		size := 0
		if constraints[i].TopologyKey == v1.LabelHostname {
			size = len(nodes)
		}
		s.TpValueToMatchNum[i] = make(map[string]int, size)
	}
	perNode := make([][]topologyCount, len(nodes))
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	pl.parallelizer.Until(ctx, len(nodes), func(n int) {
		ni := nodes[n]
		node := ni.Node()
		if !nodeLabelsMatchSpreadConstraints(node.Labels, constraints) {
			return
		}
		counts := make([]topologyCount, 0, len(constraints))
		for i, c := range constraints {
			if !c.matchNodeInclusionPolicies(logger, pod, node, required) {
				continue
			}
			counts = append(counts, topologyCount{value: node.Labels[c.TopologyKey], constraintID: i,
				count: countPodsMatchSelector(ni.Pods, c.Selector, pod.Namespace)})
		}
		perNode[n] = counts
	})
	for _, counts := range perNode {
		for _, c := range counts {
			s.TpValueToMatchNum[c.constraintID][c.value] += c.count
		}
	}
	s.selfMatch = make([]int, len(constraints))
	for i, c := range constraints {
		if c.Selector.Matches(labels.Set(pod.Labels)) {
			s.selfMatch[i] = 1
		}
	}
	for i := range constraints {
		s.CriticalPaths[i] = newCriticalPaths()
		for v, n := range s.TpValueToMatchNum[i] {
			s.CriticalPaths[i].update(v, n)
		}
	}
	return s, nil
}

// Filter rejects nodes where placing the pod would exceed maxSkew.
func (pl *PodTopologySpread) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.Constraints) == 0 {
		return nil
	}
	for i, c := range s.Constraints {
		tpVal, ok := node.Labels[c.TopologyKey]
		if !ok {
			klog.FromContext(ctx).V(5).Info("Node doesn't have required topology label for spread constraint", "node", klog.KObj(node), "topologyKey", c.TopologyKey)
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		self := 0
		if s.selfMatch != nil {
			self = s.selfMatch[i]
		} else if c.Selector.Matches(labels.Set(pod.Labels)) {
			self = 1
		}
		skew := s.TpValueToMatchNum[i][tpVal] + self - s.minMatchNum(i, c.MinDomains)
		if skew > int(c.MaxSkew) {
			klog.FromContext(ctx).V(5).Info("Node failed spreadConstraint: matchNum + selfMatchNum - minMatchNum > maxSkew", "node", klog.KObj(node), "topologyKey", c.TopologyKey, "skew", skew, "maxSkew", c.MaxSkew)
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}
