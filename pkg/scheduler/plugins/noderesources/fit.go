package noderesources

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the Fit plugin.
const Name = names.NodeResourcesFit

const (
	preFilterStateKey framework.StateKey = "PreFilter" + Name
	preScoreStateKey  framework.StateKey = "PreScore" + Name
)

// Fit checks that a node has room for the pod's requests and scores nodes
// by the configured strategy.
type Fit struct {
	ignoredResources      sets.Set[string]
	ignoredResourceGroups sets.Set[string]
	resourceAllocationScorer
}

var (
	_ framework.PreFilterPlugin   = &Fit{}
	_ framework.FilterPlugin      = &Fit{}
	_ framework.PreScorePlugin    = &Fit{}
	_ framework.ScorePlugin       = &Fit{}
	_ framework.EnqueueExtensions = &Fit{}
)

// NewFit returns the plugin.
func NewFit(_ context.Context, obj runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	args, ok := obj.(*configv1.NodeResourcesFitArgs)
	if !ok || args == nil {
		return nil, fmt.Errorf("want args to be of type NodeResourcesFitArgs, got %T", obj)
	}
	if args.ScoringStrategy == nil {
		return nil, fmt.Errorf("scoring strategy not specified")
	}
	if err := validateResources(args.ScoringStrategy.Resources); err != nil {
		return nil, err
	}
	s := args.ScoringStrategy
	pl := &Fit{
		ignoredResources:      sets.New(args.IgnoredResources...),
		ignoredResourceGroups: sets.New(args.IgnoredResourceGroups...),
	}
	pl.resources = s.Resources
	switch s.Type {
	case configv1.LeastAllocated:
		pl.scorer = leastResourceScorer(s.Resources)
	case configv1.MostAllocated:
		pl.scorer = mostResourceScorer(s.Resources)
	case configv1.RequestedToCapacityRatio:
		if s.RequestedToCapacityRatio == nil || len(s.RequestedToCapacityRatio.Shape) == 0 {
			return nil, fmt.Errorf("scoringStrategy.requestedToCapacityRatio.shape: Required value")
		}
		pl.scorer = requestedToCapacityRatioScorer(s.Resources, s.RequestedToCapacityRatio.Shape)
	default:
		return nil, fmt.Errorf("scoring strategy %s is not supported", s.Type)
	}
	return pl, nil
}

func validateResources(resources []configv1.ResourceSpec) error {
	for i, r := range resources {
		if r.Weight <= 0 || r.Weight > 100 {
			return fmt.Errorf("resources[%d].weight: Invalid value: %d: resource weight of %s should be in the range [1, 100]", i, r.Weight, r.Name)
		}
	}
	return nil
}

func (f *Fit) Name() string { return Name }

type preFilterState struct {
	framework.Resource
}

func (s *preFilterState) Clone() framework.StateData { return s }

// PreFilter computes the pod's requests: the max over init containers and
// the sum of containers (sidecars included) plus overhead, or the
// pod-level requests.
func (f *Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	state.Write(preFilterStateKey, &preFilterState{Resource: *framework.PodRequestsForScheduling(pod)})
	return nil, nil
}

func (f *Fit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func (f *Fit) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}, QueueingHintFn: isSchedulableAfterAssignedPodDelete},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable}, QueueingHintFn: isSchedulableAfterNodeChange},
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.UpdatePodScaleDown}, QueueingHintFn: isSchedulableAfterAssignedPodScaleDown},
		{Event: framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.UpdatePodScaleDown}, QueueingHintFn: func(klog.Logger, *v1.Pod, any, any) (framework.QueueingHint, error) {
			return framework.Queue, nil
		}},
	}, nil
}

func isSchedulableAfterAssignedPodDelete(_ klog.Logger, _ *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	deleted, _, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if deleted.Spec.NodeName == "" && deleted.Status.NominatedNodeName == "" {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

func isSchedulableAfterAssignedPodScaleDown(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if modified.Spec.NodeName == "" {
		return framework.QueueSkip, nil
	}
	before, after := &framework.Resource{}, &framework.Resource{}
	before.SetMaxResource(framework.PodRequests(original))
	after.SetMaxResource(framework.PodRequests(modified))
	for name, q := range framework.PodRequests(pod) {
		if q.IsZero() {
			continue
		}
		switch name {
		case v1.ResourceCPU:
			if before.MilliCPU > after.MilliCPU {
				return framework.Queue, nil
			}
		case v1.ResourceMemory:
			if before.Memory > after.Memory {
				return framework.Queue, nil
			}
		case v1.ResourceEphemeralStorage:
			if before.EphemeralStorage > after.EphemeralStorage {
				return framework.Queue, nil
			}
		default:
			if framework.IsScalarResourceName(name) && before.ScalarResources[name] > after.ScalarResources[name] {
				return framework.Queue, nil
			}
		}
	}
	return framework.QueueSkip, nil
}

func isSchedulableAfterNodeChange(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	ni := framework.NewNodeInfo()
	ni.SetNode(modified)
	if len(Fits(pod, ni)) != 0 {
		return framework.QueueSkip, nil
	}
	if original == nil {
		return framework.Queue, nil
	}
	if !haveAnyRequestedResourcesIncreased(pod, original, modified) {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

func haveAnyRequestedResourcesIncreased(pod *v1.Pod, original, modified *v1.Node) bool {
	req := framework.PodRequestsForScheduling(pod)
	before, after := framework.NewResource(original.Status.Allocatable), framework.NewResource(modified.Status.Allocatable)
	if after.AllowedPodNumber > before.AllowedPodNumber {
		return true
	}
	if req.IsZero() {
		return false
	}
	if (req.MilliCPU > 0 && after.MilliCPU > before.MilliCPU) ||
		(req.Memory > 0 && after.Memory > before.Memory) ||
		(req.EphemeralStorage > 0 && after.EphemeralStorage > before.EphemeralStorage) {
		return true
	}
	for name, q := range req.ScalarResources {
		if q != 0 && after.ScalarResources[name] > before.ScalarResources[name] {
			return true
		}
	}
	return false
}

// InsufficientResource describes one resource the node lacks.
type InsufficientResource struct {
	ResourceName v1.ResourceName
	Reason       string
	Requested    int64
	Used         int64
	Capacity     int64
	// Unresolvable means the request exceeds the node's allocatable, so
	// preempting pods cannot help.
	Unresolvable bool
}

// Filter rejects nodes without room for the pod's requests.
func (f *Fit) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	c, err := state.Read(preFilterStateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("error reading %q from cycleState: %w", preFilterStateKey, err))
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return framework.AsStatus(fmt.Errorf("%+v  convert to NodeResourcesFit.preFilterState error", c))
	}
	insufficient := fitsRequest(&s.Resource, nodeInfo, f.ignoredResources, f.ignoredResourceGroups)
	if len(insufficient) == 0 {
		return nil
	}
	reasons := make([]string, 0, len(insufficient))
	code := framework.Unschedulable
	for _, r := range insufficient {
		reasons = append(reasons, r.Reason)
		if r.Unresolvable {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	return framework.NewStatus(code, reasons...)
}

// Fits lists what nodeInfo lacks to run pod.
func Fits(pod *v1.Pod, nodeInfo *framework.NodeInfo) []InsufficientResource {
	return fitsRequest(framework.PodRequestsForScheduling(pod), nodeInfo, nil, nil)
}

func fitsRequest(req *framework.Resource, nodeInfo *framework.NodeInfo, ignored, ignoredGroups sets.Set[string]) []InsufficientResource {
	var out []InsufficientResource
	alloc, used := nodeInfo.Allocatable, nodeInfo.Requested
	if len(nodeInfo.Pods)+1 > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{ResourceName: v1.ResourcePods, Reason: "Too many pods",
			Requested: 1, Used: int64(len(nodeInfo.Pods)), Capacity: int64(alloc.AllowedPodNumber)})
	}
	if req.IsZero() {
		return out
	}
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		out = append(out, InsufficientResource{ResourceName: v1.ResourceCPU, Reason: "Insufficient cpu",
			Requested: req.MilliCPU, Used: used.MilliCPU, Capacity: alloc.MilliCPU, Unresolvable: req.MilliCPU > alloc.MilliCPU})
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		out = append(out, InsufficientResource{ResourceName: v1.ResourceMemory, Reason: "Insufficient memory",
			Requested: req.Memory, Used: used.Memory, Capacity: alloc.Memory, Unresolvable: req.Memory > alloc.Memory})
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		out = append(out, InsufficientResource{ResourceName: v1.ResourceEphemeralStorage, Reason: "Insufficient ephemeral-storage",
			Requested: req.EphemeralStorage, Used: used.EphemeralStorage, Capacity: alloc.EphemeralStorage, Unresolvable: req.EphemeralStorage > alloc.EphemeralStorage})
	}
	for name, q := range req.ScalarResources {
		if q == 0 {
			continue
		}
		if v1helper.IsExtendedResourceName(name) {
			var prefix string
			if ignoredGroups.Len() > 0 {
				prefix = strings.Split(string(name), "/")[0]
			}
			if ignored.Has(string(name)) || ignoredGroups.Has(prefix) {
				continue
			}
		}
		if q > alloc.ScalarResources[name]-used.ScalarResources[name] {
			out = append(out, InsufficientResource{ResourceName: name, Reason: fmt.Sprintf("Insufficient %v", name),
				Requested: q, Used: used.ScalarResources[name], Capacity: alloc.ScalarResources[name], Unresolvable: q > alloc.ScalarResources[name]})
		}
	}
	return out
}

type preScoreState struct {
	podRequests []int64
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore computes the pod's requests of the scored resources.
func (f *Fit) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(preScoreStateKey, &preScoreState{podRequests: f.podRequests(pod)})
	return nil
}

// Score scores the node by the strategy.
func (f *Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	var reqs []int64
	if c, err := state.Read(preScoreStateKey); err == nil {
		reqs = c.(*preScoreState).podRequests
	} else {
		reqs = f.podRequests(pod)
	}
	return f.score(nodeInfo, reqs), nil
}

func (f *Fit) ScoreExtensions() framework.ScoreExtensions { return nil }
