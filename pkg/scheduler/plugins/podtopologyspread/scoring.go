package podtopologyspread

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

const preScoreStateKey framework.StateKey = "PreScore" + Name

const invalidScore = -1

type preScoreState struct {
	Constraints []topologySpreadConstraint
	// IgnoredNodes lack a topology key and score 0.
	IgnoredNodes sets.Set[string]
	// TopologyValueToPodCounts counts matching pods per domain (not for
	// hostname, which is counted per node in Score).
	TopologyValueToPodCounts []map[string]*int64
	// TopologyNormalizingWeight weighs constraints by log(#domains + 2).
	TopologyNormalizingWeight []float64
}

func (s *preScoreState) Clone() framework.StateData { return s }

func (pl *PodTopologySpread) initPreScoreState(s *preScoreState, pod *v1.Pod, filtered []*framework.NodeInfo, requireAllTopologies bool) error {
	var err error
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		s.Constraints, err = filterTopologySpreadConstraints(pod.Spec.TopologySpreadConstraints, pod.Labels, v1.ScheduleAnyway)
		if err != nil {
			return fmt.Errorf("obtaining pod's soft topology spread constraints: %w", err)
		}
	} else {
		s.Constraints, err = pl.buildDefaultConstraints(pod, v1.ScheduleAnyway)
		if err != nil {
			return fmt.Errorf("setting default soft topology spread constraints: %w", err)
		}
	}
	if len(s.Constraints) == 0 {
		return nil
	}
	s.TopologyValueToPodCounts = make([]map[string]*int64, len(s.Constraints))
	for i := range s.Constraints {
		s.TopologyValueToPodCounts[i] = map[string]*int64{}
	}
	topoSize := make([]int, len(s.Constraints))
	for _, ni := range filtered {
		node := ni.Node()
		if requireAllTopologies && !nodeLabelsMatchSpreadConstraints(node.Labels, s.Constraints) {
			s.IgnoredNodes.Insert(node.Name)
			continue
		}
		for i, c := range s.Constraints {
			if c.TopologyKey == v1.LabelHostname {
				continue
			}
			v := node.Labels[c.TopologyKey]
			if s.TopologyValueToPodCounts[i][v] == nil {
				s.TopologyValueToPodCounts[i][v] = new(int64)
				topoSize[i]++
			}
		}
	}
	s.TopologyNormalizingWeight = make([]float64, len(s.Constraints))
	for i, c := range s.Constraints {
		sz := topoSize[i]
		if c.TopologyKey == v1.LabelHostname {
			sz = len(filtered) - len(s.IgnoredNodes)
		}
		s.TopologyNormalizingWeight[i] = math.Log(float64(sz + 2))
	}
	return nil
}

// PreScore counts matching pods per domain of the soft constraints over
// all nodes.
func (pl *PodTopologySpread) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered []*framework.NodeInfo) *framework.Status {
	all, err := pl.sharedLister.NodeInfos().List()
	if err != nil {
		return framework.AsStatus(fmt.Errorf("getting all nodes: %w", err))
	}
	if len(all) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preScoreState{IgnoredNodes: sets.New[string]()}
	// System default constraints only apply where the node has the keys;
	// explicit ones need every key.
	requireAllTopologies := len(pod.Spec.TopologySpreadConstraints) > 0 || !pl.systemDefaulted
	if err := pl.initPreScoreState(s, pod, filtered, requireAllTopologies); err != nil {
		return framework.AsStatus(fmt.Errorf("calculating preScoreState: %w", err))
	}
	if len(s.Constraints) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	logger := klog.FromContext(ctx)
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	pl.parallelizer.Until(ctx, len(all), func(n int) {
		ni := all[n]
		node := ni.Node()
		if requireAllTopologies && !nodeLabelsMatchSpreadConstraints(node.Labels, s.Constraints) {
			return
		}
		for i, c := range s.Constraints {
			if !c.matchNodeInclusionPolicies(logger, pod, node, required) {
				continue
			}
			cnt := s.TopologyValueToPodCounts[i][node.Labels[c.TopologyKey]]
			if cnt == nil {
				continue
			}
			atomic.AddInt64(cnt, int64(countPodsMatchSelector(ni.Pods, c.Selector, pod.Namespace)))
		}
	})
	state.Write(preScoreStateKey, s)
	return nil
}

// Score sums, per constraint, the matching pods in the node's domain
// weighted by the number of domains (more pods, worse).
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	node := nodeInfo.Node()
	s, err := getPreScoreState(state)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	if s.IgnoredNodes.Has(node.Name) {
		return 0, nil
	}
	var score float64
	for i, c := range s.Constraints {
		if v, ok := node.Labels[c.TopologyKey]; ok {
			var cnt int64
			if c.TopologyKey == v1.LabelHostname {
				cnt = int64(countPodsMatchSelector(nodeInfo.Pods, c.Selector, pod.Namespace))
			} else {
				cnt = *s.TopologyValueToPodCounts[i][v]
			}
			score += float64(cnt)*s.TopologyNormalizingWeight[i] + float64(c.MaxSkew-1)
		}
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore maps the lowest raw score to 100; ignored nodes get 0.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	s, err := getPreScoreState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s == nil {
		return nil
	}
	var minScore int64 = math.MaxInt64
	var maxScore int64
	for i, sc := range scores {
		if s.IgnoredNodes.Has(sc.Name) {
			scores[i].Score = invalidScore
			continue
		}
		minScore = min(minScore, sc.Score)
		maxScore = max(maxScore, sc.Score)
	}
	for i := range scores {
		if scores[i].Score == invalidScore {
			scores[i].Score = 0
			continue
		}
		if maxScore == 0 {
			scores[i].Score = framework.MaxNodeScore
			continue
		}
		scores[i].Score = framework.MaxNodeScore * (maxScore + minScore - scores[i].Score) / maxScore
	}
	return nil
}

func (pl *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return pl }

func getPreScoreState(state *framework.CycleState) (*preScoreState, error) {
	c, err := state.Read(preScoreStateKey)
	if err != nil {
		return nil, fmt.Errorf("error reading %q from cycleState: %w", preScoreStateKey, err)
	}
	s, ok := c.(*preScoreState)
	if !ok {
		return nil, fmt.Errorf("%+v  convert to podtopologyspread.preScoreState error", c)
	}
	return s, nil
}
