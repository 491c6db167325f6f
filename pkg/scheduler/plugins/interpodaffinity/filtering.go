package interpodaffinity

import (
	"context"
	"fmt"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// Rejection reasons.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

type topologyPair struct{ key, value string }

// topologyToMatchedTermCount counts matching terms per topology domain.
type topologyToMatchedTermCount map[topologyPair]int64

func (m topologyToMatchedTermCount) merge(o topologyToMatchedTermCount) {
	for k, v := range o {
		m[k] += v
	}
}

func (m topologyToMatchedTermCount) clone() topologyToMatchedTermCount {
	c := make(topologyToMatchedTermCount, len(m))
	c.merge(m)
	return c
}

func (m topologyToMatchedTermCount) update(node *v1.Node, tk string, value int64) {
	if tv, ok := node.Labels[tk]; ok {
		p := topologyPair{key: tk, value: tv}
		m[p] += value
		if m[p] == 0 {
			delete(m, p)
		}
	}
}

// updateWithAffinityTerms counts pod for every term's domain when it
// matches all the terms.
func (m topologyToMatchedTermCount) updateWithAffinityTerms(terms []framework.AffinityTerm, pod *v1.Pod, node *v1.Node, value int64) {
	if podMatchesAllAffinityTerms(terms, pod) {
		for _, t := range terms {
			m.update(node, t.TopologyKey, value)
		}
	}
}

// updateWithAntiAffinityTerms counts pod for each term it matches.
func (m topologyToMatchedTermCount) updateWithAntiAffinityTerms(terms []framework.AffinityTerm, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, value int64) {
	for _, t := range terms {
		if t.Matches(pod, nsLabels) {
			m.update(node, t.TopologyKey, value)
		}
	}
}

func podMatchesAllAffinityTerms(terms []framework.AffinityTerm, pod *v1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return true
}

func podMatchesAnyAffinityTerms(terms []framework.AffinityTerm, pod *v1.Pod) bool {
	for i := range terms {
		if terms[i].Matches(pod, nil) {
			return true
		}
	}
	return false
}

type preFilterState struct {
	// existingAntiAffinityCounts: domains where running pods' required
	// anti-affinity matches the incoming pod.
	existingAntiAffinityCounts topologyToMatchedTermCount
	// affinityCounts: domains with pods matching all the incoming pod's
	// required affinity terms.
	affinityCounts topologyToMatchedTermCount
	// antiAffinityCounts: domains with pods matching the incoming pod's
	// required anti-affinity terms.
	antiAffinityCounts topologyToMatchedTermCount
	podInfo            *framework.PodInfo
	namespaceLabels    labels.Set
}

func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return nil
	}
	return &preFilterState{
		existingAntiAffinityCounts: s.existingAntiAffinityCounts.clone(),
		affinityCounts:             s.affinityCounts.clone(),
		antiAffinityCounts:         s.antiAffinityCounts.clone(),
		podInfo:                    s.podInfo,
		namespaceLabels:            s.namespaceLabels,
	}
}

func (s *preFilterState) updateWithPod(pi *framework.PodInfo, node *v1.Node, multiplier int64) {
	if s == nil {
		return
	}
	s.existingAntiAffinityCounts.updateWithAntiAffinityTerms(pi.RequiredAntiAffinityTerms, s.podInfo.Pod, s.namespaceLabels, node, multiplier)
	s.affinityCounts.updateWithAffinityTerms(s.podInfo.RequiredAffinityTerms, pi.Pod, node, multiplier)
	s.antiAffinityCounts.updateWithAntiAffinityTerms(s.podInfo.RequiredAntiAffinityTerms, pi.Pod, nil, node, multiplier)
}

func (pl *InterPodAffinity) existingAntiAffinityCounts(ctx context.Context, pod *v1.Pod, nsLabels labels.Set, nodes []*framework.NodeInfo) topologyToMatchedTermCount {
	perNode := make([]topologyToMatchedTermCount, len(nodes))
	var index int32 = -1
	pl.parallelizer.Until(ctx, len(nodes), func(i int) {
		ni := nodes[i]
		m := topologyToMatchedTermCount{}
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			m.updateWithAntiAffinityTerms(existing.RequiredAntiAffinityTerms, pod, nsLabels, ni.Node(), 1)
		}
		if len(m) != 0 {
			perNode[atomic.AddInt32(&index, 1)] = m
		}
	})
	out := topologyToMatchedTermCount{}
	for i := 0; i <= int(index); i++ {
		out.merge(perNode[i])
	}
	return out
}

func (pl *InterPodAffinity) incomingAffinityAntiAffinityCounts(ctx context.Context, pi *framework.PodInfo, nodes []*framework.NodeInfo) (topologyToMatchedTermCount, topologyToMatchedTermCount) {
	affinity, anti := topologyToMatchedTermCount{}, topologyToMatchedTermCount{}
	if len(pi.RequiredAffinityTerms) == 0 && len(pi.RequiredAntiAffinityTerms) == 0 {
		return affinity, anti
	}
	perNodeAff := make([]topologyToMatchedTermCount, len(nodes))
	perNodeAnti := make([]topologyToMatchedTermCount, len(nodes))
	var index int32 = -1
	pl.parallelizer.Until(ctx, len(nodes), func(i int) {
		ni := nodes[i]
		a, aa := topologyToMatchedTermCount{}, topologyToMatchedTermCount{}
		for _, existing := range ni.Pods {
			a.updateWithAffinityTerms(pi.RequiredAffinityTerms, existing.Pod, ni.Node(), 1)
			aa.updateWithAntiAffinityTerms(pi.RequiredAntiAffinityTerms, existing.Pod, nil, ni.Node(), 1)
		}
		if len(a) > 0 || len(aa) > 0 {
			k := atomic.AddInt32(&index, 1)
			perNodeAff[k], perNodeAnti[k] = a, aa
		}
	})
	for i := 0; i <= int(index); i++ {
		affinity.merge(perNodeAff[i])
		anti.merge(perNodeAnti[i])
	}
	return affinity, anti
}

// PreFilter counts, per topology domain, the pods relevant to the incoming
// pod's required terms and the running pods whose anti-affinity rejects it.
func (pl *InterPodAffinity) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, allNodes []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	withAnti, err := pl.sharedLister.NodeInfos().HavePodsWithRequiredAntiAffinityList()
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("failed to list NodeInfos with pods with affinity: %w", err))
	}
	s := &preFilterState{}
	if s.podInfo, err = framework.NewPodInfo(pod); err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("parsing pod: %+v", err))
	}
	for i := range s.podInfo.RequiredAffinityTerms {
		if err := pl.mergeAffinityTermNamespacesIfNotEmpty(&s.podInfo.RequiredAffinityTerms[i]); err != nil {
			return nil, framework.AsStatus(err)
		}
	}
	for i := range s.podInfo.RequiredAntiAffinityTerms {
		if err := pl.mergeAffinityTermNamespacesIfNotEmpty(&s.podInfo.RequiredAntiAffinityTerms[i]); err != nil {
			return nil, framework.AsStatus(err)
		}
	}
	s.namespaceLabels = pl.namespaceLabels(klog.FromContext(ctx), pod.Namespace)
	s.existingAntiAffinityCounts = pl.existingAntiAffinityCounts(ctx, pod, s.namespaceLabels, withAnti)
	s.affinityCounts, s.antiAffinityCounts = pl.incomingAffinityAntiAffinityCounts(ctx, s.podInfo, allNodes)
	if len(s.existingAntiAffinityCounts) == 0 && len(s.podInfo.RequiredAffinityTerms) == 0 && len(s.podInfo.RequiredAntiAffinityTerms) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, s)
	return nil, nil
}

func (pl *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts a pod added during preemption or nominated-pod evaluation.
func (pl *InterPodAffinity) AddPod(_ context.Context, state *framework.CycleState, _ *v1.Pod, pi *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pi, nodeInfo.Node(), 1)
	return nil
}

// RemovePod uncounts a removed pod.
func (pl *InterPodAffinity) RemovePod(_ context.Context, state *framework.CycleState, _ *v1.Pod, pi *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pi, nodeInfo.Node(), -1)
	return nil
}

func getPreFilterState(state *framework.CycleState) (*preFilterState, error) {
	c, err := state.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("error reading %q from cycleState: %w", preFilterStateKey, err)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%+v  convert to interpodaffinity.state error", c)
	}
	return s, nil
}

func satisfyExistingPodsAntiAffinity(s *preFilterState, ni *framework.NodeInfo) bool {
	if len(s.existingAntiAffinityCounts) > 0 {
		for k, v := range ni.Node().Labels {
			if s.existingAntiAffinityCounts[topologyPair{key: k, value: v}] > 0 {
				return false
			}
		}
	}
	return true
}

func satisfyPodAntiAffinity(s *preFilterState, ni *framework.NodeInfo) bool {
	if len(s.antiAffinityCounts) > 0 {
		for _, t := range s.podInfo.RequiredAntiAffinityTerms {
			if v, ok := ni.Node().Labels[t.TopologyKey]; ok {
				if s.antiAffinityCounts[topologyPair{key: t.TopologyKey, value: v}] > 0 {
					return false
				}
			}
		}
	}
	return true
}

func satisfyPodAffinity(s *preFilterState, ni *framework.NodeInfo) bool {
	podsExist := true
	for _, t := range s.podInfo.RequiredAffinityTerms {
		v, ok := ni.Node().Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinityCounts[topologyPair{key: t.TopologyKey, value: v}] <= 0 {
			podsExist = false
		}
	}
	if !podsExist {
		// The first pod of a group whose affinity selects itself may go
		// anywhere, as long as no matching pod exists anywhere yet.
		if len(s.affinityCounts) == 0 && podMatchesAllAffinityTerms(s.podInfo.RequiredAffinityTerms, s.podInfo.Pod) {
			return true
		}
		return false
	}
	return true
}

// Filter checks the incoming pod's required affinity and anti-affinity
// and the running pods' required anti-affinity against the node's domains.
func (pl *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if !satisfyPodAffinity(s, nodeInfo) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	if !satisfyPodAntiAffinity(s, nodeInfo) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	}
	if !satisfyExistingPodsAntiAffinity(s, nodeInfo) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
	}
	return nil
}
