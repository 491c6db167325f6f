package podtopologyspread

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.PodTopologySpread

// Rejection reasons.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// systemDefaultConstraints spread pods of the same service or controller
// over nodes and zones (soft), as upstream's "System" defaulting.
var systemDefaultConstraints = []v1.TopologySpreadConstraint{
	{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
	{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
}

// PodTopologySpread is the plugin.
type PodTopologySpread struct {
	systemDefaulted    bool
	parallelizer       framework.Parallelizer
	defaultConstraints []v1.TopologySpreadConstraint
	sharedLister       framework.SharedLister
	services           corelisters.ServiceLister
	replicationCtrls   corelisters.ReplicationControllerLister
	replicaSets        appslisters.ReplicaSetLister
	statefulSets       appslisters.StatefulSetLister
}

var (
	_ framework.PreFilterPlugin   = &PodTopologySpread{}
	_ framework.FilterPlugin      = &PodTopologySpread{}
	_ framework.PreScorePlugin    = &PodTopologySpread{}
	_ framework.ScorePlugin       = &PodTopologySpread{}
	_ framework.EnqueueExtensions = &PodTopologySpread{}
)

// New returns the plugin.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if h.SnapshotSharedLister() == nil {
		return nil, fmt.Errorf("SnapshotSharedlister is nil")
	}
	args, ok := obj.(*configv1.PodTopologySpreadArgs)
	if !ok || args == nil {
		return nil, fmt.Errorf("want args to be of type PodTopologySpreadArgs, got %T", obj)
	}
	if err := validateArgs(args); err != nil {
		return nil, err
	}
	pl := &PodTopologySpread{
		parallelizer:       h.Parallelizer(),
		sharedLister:       h.SnapshotSharedLister(),
		defaultConstraints: args.DefaultConstraints,
	}
	if args.DefaultingType == configv1.SystemDefaulting {
		pl.defaultConstraints = systemDefaultConstraints
		pl.systemDefaulted = true
	}
	if len(pl.defaultConstraints) != 0 && h.SharedInformerFactory() != nil {
		f := h.SharedInformerFactory()
		if h.Served("v1/services") {
			pl.services = f.Core().V1().Services().Lister()
		}
		if h.Served("v1/replicationcontrollers") {
			pl.replicationCtrls = f.Core().V1().ReplicationControllers().Lister()
		}
		if h.Served("apps/v1/replicasets") {
			pl.replicaSets = f.Apps().V1().ReplicaSets().Lister()
		}
		if h.Served("apps/v1/statefulsets") {
			pl.statefulSets = f.Apps().V1().StatefulSets().Lister()
		}
	}
	return pl, nil
}

func validateArgs(args *configv1.PodTopologySpreadArgs) error {
	if args.DefaultingType != configv1.SystemDefaulting && args.DefaultingType != configv1.ListDefaulting {
		return fmt.Errorf("defaultingType: Unsupported value: %q: supported values: %q, %q", args.DefaultingType, configv1.ListDefaulting, configv1.SystemDefaulting)
	}
	if args.DefaultingType == configv1.SystemDefaulting && len(args.DefaultConstraints) > 0 {
		return fmt.Errorf("defaultingType: Invalid value: %q: when .defaultConstraints are not empty", args.DefaultingType)
	}
	for i, c := range args.DefaultConstraints {
		if c.MaxSkew <= 0 {
			return fmt.Errorf("defaultConstraints[%d].maxSkew: Invalid value: %d: must be greater than zero", i, c.MaxSkew)
		}
		if c.TopologyKey == "" {
			return fmt.Errorf("defaultConstraints[%d].topologyKey: Required value: can not be empty", i)
		}
		if c.LabelSelector != nil {
			return fmt.Errorf("defaultConstraints[%d].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod", i)
		}
	}
	return nil
}

func (pl *PodTopologySpread) Name() string { return Name }

func (pl *PodTopologySpread) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete}, QueueingHintFn: pl.isSchedulableAfterAssignedPodChange},
		{Event: framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.UpdatePodToleration | framework.UpdatePodLabel}, QueueingHintFn: pl.isSchedulableAfterTargetPodChange},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

func (pl *PodTopologySpread) getConstraints(pod *v1.Pod) ([]topologySpreadConstraint, error) {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		c, err := filterTopologySpreadConstraints(pod.Spec.TopologySpreadConstraints, pod.Labels, v1.DoNotSchedule)
		if err != nil {
			return nil, fmt.Errorf("obtaining pod's hard topology spread constraints: %w", err)
		}
		return c, nil
	}
	c, err := pl.buildDefaultConstraints(pod, v1.DoNotSchedule)
	if err != nil {
		return nil, fmt.Errorf("setting default hard topology spread constraints: %w", err)
	}
	return c, nil
}

func involvedInTopologySpreading(incoming, withSpreading *v1.Pod) bool {
	if incoming.Spec.NodeName == "" && incoming.Status.NominatedNodeName == "" {
		return false
	}
	return incoming.Namespace == withSpreading.Namespace
}

func (pl *PodTopologySpread) isSchedulableAfterTargetPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	constraints, err := pl.getConstraints(pod)
	if err != nil {
		return framework.Queue, err
	}
	if !equality.Semantic.DeepEqual(modified.Spec.Tolerations, original.Spec.Tolerations) {
		for _, c := range constraints {
			if c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor {
				return framework.Queue, nil
			}
		}
	}
	return podLabelChangeHint(original, modified, constraints), nil
}

func (pl *PodTopologySpread) isSchedulableAfterAssignedPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if (modified != nil && !involvedInTopologySpreading(modified, pod)) || (original != nil && !involvedInTopologySpreading(original, pod)) {
		return framework.QueueSkip, nil
	}
	constraints, err := pl.getConstraints(pod)
	if err != nil {
		return framework.Queue, err
	}
	if modified != nil && original != nil {
		return podLabelChangeHint(original, modified, constraints), nil
	}
	p := modified
	if p == nil {
		p = original
	}
	if podLabelsMatchSpreadConstraints(constraints, p.Labels) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

func podLabelChangeHint(original, modified *v1.Pod, constraints []topologySpreadConstraint) framework.QueueingHint {
	if equality.Semantic.DeepEqual(modified.Labels, original.Labels) {
		return framework.QueueSkip
	}
	for _, c := range constraints {
		if c.Selector.Matches(labels.Set(original.Labels)) != c.Selector.Matches(labels.Set(modified.Labels)) {
			return framework.Queue
		}
	}
	return framework.QueueSkip
}

func (pl *PodTopologySpread) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	constraints, err := pl.getConstraints(pod)
	if err != nil {
		return framework.Queue, err
	}
	var origMatch, modMatch bool
	if original != nil {
		origMatch = nodeLabelsMatchSpreadConstraints(original.Labels, constraints)
	}
	if modified != nil {
		modMatch = nodeLabelsMatchSpreadConstraints(modified.Labels, constraints)
	}
	switch {
	case original != nil && modified != nil:
		if origMatch != modMatch {
			return framework.Queue, nil
		}
		if modMatch {
			for _, c := range constraints {
				if original.Labels[c.TopologyKey] != modified.Labels[c.TopologyKey] {
					return framework.Queue, nil
				}
			}
			if !equality.Semantic.DeepEqual(original.Spec.Taints, modified.Spec.Taints) {
				return framework.Queue, nil
			}
		}
		return framework.QueueSkip, nil
	case modified != nil:
		if modMatch {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	default:
		if origMatch {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	}
}
