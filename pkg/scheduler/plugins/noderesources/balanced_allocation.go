package noderesources

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// BalancedAllocationName is the plugin's name.
const BalancedAllocationName = names.NodeResourcesBalancedAllocation

const balancedAllocationPreScoreStateKey framework.StateKey = "PreScore" + BalancedAllocationName

// BalancedAllocation prefers nodes whose resource fractions stay close to
// each other after placing the pod.
type BalancedAllocation struct {
	resourceAllocationScorer
}

var (
	_ framework.PreScorePlugin = &BalancedAllocation{}
	_ framework.ScorePlugin    = &BalancedAllocation{}
)

// NewBalancedAllocation returns the plugin.
func NewBalancedAllocation(_ context.Context, obj runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	args, ok := obj.(*configv1.NodeResourcesBalancedAllocationArgs)
	if !ok || args == nil {
		return nil, fmt.Errorf("want args to be of type NodeResourcesBalancedAllocationArgs, got %T", obj)
	}
	if err := validateResources(args.Resources); err != nil {
		return nil, err
	}
	return &BalancedAllocation{resourceAllocationScorer{
		useRequested: true,
		scorer:       balancedResourceScorer,
		resources:    args.Resources,
	}}, nil
}

func (ba *BalancedAllocation) Name() string { return BalancedAllocationName }

type balancedPreScoreState struct {
	podRequests []int64
}

func (s *balancedPreScoreState) Clone() framework.StateData { return s }

// PreScore skips best-effort pods, which change no fraction.
func (ba *BalancedAllocation) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	reqs := ba.podRequests(pod)
	if isBestEffort(reqs) {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(balancedAllocationPreScoreStateKey, &balancedPreScoreState{podRequests: reqs})
	return nil
}

// Score scores the change in balance the pod brings.
func (ba *BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	var reqs []int64
	if c, err := state.Read(balancedAllocationPreScoreStateKey); err == nil {
		reqs = c.(*balancedPreScoreState).podRequests
	} else {
		reqs = ba.podRequests(pod)
		if isBestEffort(reqs) {
			return 0, nil
		}
	}
	return ba.score(nodeInfo, reqs), nil
}

func (ba *BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }

// balancedResourceScorer centres the score at 50 and moves it by how much
// placing the pod improves (or worsens) the balance, as upstream v1.37.
func balancedResourceScorer(requested, allocated, allocatable []int64) int64 {
	withPod := balancedResourceScore(requested, allocatable)
	withoutPod := balancedResourceScore(allocated, allocatable)
	return framework.MaxNodeScore/2 + (framework.MaxNodeScore/2+withPod-withoutPod)/2
}

// balancedResourceScore is 100 * (1 - standard deviation of the fractions).
func balancedResourceScore(requested, allocatable []int64) int64 {
	var fractions []float64
	var total float64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		f := float64(requested[i]) / float64(allocatable[i])
		if f > 1 {
			f = 1
		}
		total += f
		fractions = append(fractions, f)
	}
	std := 0.0
	if len(fractions) == 2 {
		std = math.Abs((fractions[0] - fractions[1]) / 2)
	} else if len(fractions) > 2 {
		mean := total / float64(len(fractions))
		var sum float64
		for _, f := range fractions {
			sum += (f - mean) * (f - mean)
		}
		std = math.Sqrt(sum / float64(len(fractions)))
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}
