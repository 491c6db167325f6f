package interpodaffinity

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

const preScoreStateKey framework.StateKey = "PreScore" + Name

// scoreMap sums weights per topology key and value.
type scoreMap map[string]map[string]int64

type preScoreState struct {
	topologyScore   scoreMap
	podInfo         *framework.PodInfo
	namespaceLabels labels.Set
}

func (s *preScoreState) Clone() framework.StateData { return s }

func (m scoreMap) processTerm(t *framework.AffinityTerm, weight int32, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, multiplier int32) {
	if t.Matches(pod, nsLabels) {
		if v, ok := node.Labels[t.TopologyKey]; ok {
			if m[t.TopologyKey] == nil {
				m[t.TopologyKey] = map[string]int64{}
			}
			m[t.TopologyKey][v] += int64(weight * multiplier)
		}
	}
}

func (m scoreMap) processTerms(terms []framework.WeightedAffinityTerm, pod *v1.Pod, nsLabels labels.Set, node *v1.Node, multiplier int32) {
	for i := range terms {
		m.processTerm(&terms[i].AffinityTerm, terms[i].Weight, pod, nsLabels, node, multiplier)
	}
}

func (m scoreMap) append(o scoreMap) {
	for k, scores := range o {
		if m[k] == nil {
			m[k] = scores
			continue
		}
		for v, s := range scores {
			m[k][v] += s
		}
	}
}

func (pl *InterPodAffinity) processExistingPod(s *preScoreState, existing *framework.PodInfo, node *v1.Node, incoming *v1.Pod, m scoreMap) {
	if len(node.Labels) == 0 {
		return
	}
	// The incoming pod's preferences about the existing pod.
	m.processTerms(s.podInfo.PreferredAffinityTerms, existing.Pod, nil, node, 1)
	m.processTerms(s.podInfo.PreferredAntiAffinityTerms, existing.Pod, nil, node, -1)
	// The existing pod's required affinity counts with hardPodAffinityWeight.
	if w := pl.hardPodAffinityWeight(); w > 0 {
		for i := range existing.RequiredAffinityTerms {
			m.processTerm(&existing.RequiredAffinityTerms[i], w, incoming, s.namespaceLabels, node, 1)
		}
	}
	// The existing pod's preferences about the incoming pod.
	m.processTerms(existing.PreferredAffinityTerms, incoming, s.namespaceLabels, node, 1)
	m.processTerms(existing.PreferredAntiAffinityTerms, incoming, s.namespaceLabels, node, -1)
}

// PreScore sums the preferences per topology domain.
func (pl *InterPodAffinity) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	a := pod.Spec.Affinity
	hasConstraints := a != nil && ((a.PodAffinity != nil && len(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAntiAffinity != nil && len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0))
	if pl.args.IgnorePreferredTermsOfExistingPods && !hasConstraints {
		return framework.NewStatus(framework.Skip)
	}
	var nodes []*framework.NodeInfo
	var err error
	if hasConstraints {
		nodes, err = pl.sharedLister.NodeInfos().List()
	} else {
		nodes, err = pl.sharedLister.NodeInfos().HavePodsWithAffinityList()
	}
	if err != nil {
		return framework.AsStatus(fmt.Errorf("failed to get all nodes from shared lister: %w", err))
	}
	s := &preScoreState{topologyScore: scoreMap{}}
	if s.podInfo, err = framework.NewPodInfo(pod); err != nil {
		return framework.AsStatus(fmt.Errorf("failed to parse pod: %w", err))
	}
	for i := range s.podInfo.PreferredAffinityTerms {
		if err := pl.mergeAffinityTermNamespacesIfNotEmpty(&s.podInfo.PreferredAffinityTerms[i].AffinityTerm); err != nil {
			return framework.AsStatus(fmt.Errorf("updating PreferredAffinityTerms: %w", err))
		}
	}
	for i := range s.podInfo.PreferredAntiAffinityTerms {
		if err := pl.mergeAffinityTermNamespacesIfNotEmpty(&s.podInfo.PreferredAntiAffinityTerms[i].AffinityTerm); err != nil {
			return framework.AsStatus(fmt.Errorf("updating PreferredAntiAffinityTerms: %w", err))
		}
	}
	s.namespaceLabels = pl.namespaceLabels(klog.FromContext(ctx), pod.Namespace)
	perNode := make([]scoreMap, len(nodes))
	var index int32 = -1
	pl.parallelizer.Until(ctx, len(nodes), func(i int) {
		ni := nodes[i]
		pods := ni.PodsWithAffinity
		if hasConstraints {
			pods = ni.Pods
		}
		m := scoreMap{}
		for _, existing := range pods {
			pl.processExistingPod(s, existing, ni.Node(), pod, m)
		}
		if len(m) > 0 {
			perNode[atomic.AddInt32(&index, 1)] = m
		}
	})
	if index == -1 {
		return framework.NewStatus(framework.Skip)
	}
	for i := 0; i <= int(index); i++ {
		s.topologyScore.append(perNode[i])
	}
	state.Write(preScoreStateKey, s)
	return nil
}

// Score sums the node's domains' scores.
func (pl *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	s, err := getPreScoreState(state)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	var score int64
	for k, values := range s.topologyScore {
		if v, ok := nodeInfo.Node().Labels[k]; ok {
			score += values[v]
		}
	}
	return score, nil
}

// NormalizeScore maps [min, max] to [0, 100].
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	s, err := getPreScoreState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.topologyScore) == 0 {
		return nil
	}
	minCount, maxCount := int64(math.MaxInt64), int64(math.MinInt64)
	for _, sc := range scores {
		minCount = min(minCount, sc.Score)
		maxCount = max(maxCount, sc.Score)
	}
	diff := maxCount - minCount
	for i := range scores {
		f := float64(0)
		if diff > 0 {
			f = float64(framework.MaxNodeScore) * (float64(scores[i].Score-minCount) / float64(diff))
		}
		scores[i].Score = int64(f)
	}
	return nil
}

func (pl *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

func getPreScoreState(state *framework.CycleState) (*preScoreState, error) {
	c, err := state.Read(preScoreStateKey)
	if err != nil {
		return nil, fmt.Errorf("failed to read %q from cycleState: %w", preScoreStateKey, err)
	}
	s, ok := c.(*preScoreState)
	if !ok {
		return nil, fmt.Errorf("%+v  convert to interpodaffinity.preScoreState error", c)
	}
	return s, nil
}
