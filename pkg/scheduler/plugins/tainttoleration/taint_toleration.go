// Package tainttoleration filters nodes with taints the pod does not
// tolerate and prefers nodes with fewer untolerated PreferNoSchedule taints.
package tainttoleration

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/helper"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.TaintToleration

const preScoreStateKey framework.StateKey = "PreScore" + Name

// ErrReasonNotMatch is upstream's (unused by Filter) reason constant.
const ErrReasonNotMatch = "node(s) had taints that the pod didn't tolerate"

// ErrReasonUntolerated is the Filter rejection reason.
const ErrReasonUntolerated = "node(s) had untolerated taint(s)"

// TaintToleration is the plugin.
type TaintToleration struct{}

var (
	_ framework.FilterPlugin      = &TaintToleration{}
	_ framework.PreScorePlugin    = &TaintToleration{}
	_ framework.ScorePlugin       = &TaintToleration{}
	_ framework.EnqueueExtensions = &TaintToleration{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return &TaintToleration{}, nil
}

func (pl *TaintToleration) Name() string { return Name }

func (pl *TaintToleration) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint}, QueueingHintFn: isSchedulableAfterNodeChange},
		{Event: framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.UpdatePodToleration}, QueueingHintFn: func(klog.Logger, *v1.Pod, any, any) (framework.QueueingHint, error) {
			return framework.Queue, nil
		}},
	}, nil
}

func untolerated(logger klog.Logger, node *v1.Node, pod *v1.Pod) bool {
	_, bad := v1helper.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, helper.DoNotScheduleTaintsFilterFunc(), false)
	return bad
}

func isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	wasUntolerated := true
	if original != nil {
		wasUntolerated = untolerated(logger, original, pod)
	}
	if wasUntolerated && !untolerated(logger, modified, pod) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

// Filter rejects nodes with NoSchedule/NoExecute taints the pod does not
// tolerate.
func (pl *TaintToleration) Filter(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	logger := klog.FromContext(ctx)
	taint, bad := v1helper.FindMatchingUntoleratedTaint(logger, nodeInfo.Node().Spec.Taints, pod.Spec.Tolerations, helper.DoNotScheduleTaintsFilterFunc(), false)
	if !bad {
		return nil
	}
	logger.V(4).Info("node had untolerated taints", "node", klog.KObj(nodeInfo.Node()), "pod", klog.KObj(pod), "untoleratedTaint", taint)
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUntolerated)
}

type preScoreState struct {
	tolerationsPreferNoSchedule []v1.Toleration
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore keeps the tolerations that can tolerate PreferNoSchedule taints.
func (pl *TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	var tolerations []v1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tolerations = append(tolerations, t)
		}
	}
	state.Write(preScoreStateKey, &preScoreState{tolerationsPreferNoSchedule: tolerations})
	return nil
}

// Score counts untolerated PreferNoSchedule taints (fewer is better).
func (pl *TaintToleration) Score(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	c, err := state.Read(preScoreStateKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("failed to read %q from cycleState: %w", preScoreStateKey, err))
	}
	s, ok := c.(*preScoreState)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("%+v convert to tainttoleration.preScoreState error", c))
	}
	logger := klog.FromContext(ctx)
	var n int64
	for i := range nodeInfo.Node().Spec.Taints {
		taint := &nodeInfo.Node().Spec.Taints[i]
		if taint.Effect != v1.TaintEffectPreferNoSchedule {
			continue
		}
		if !v1helper.TolerationsTolerateTaint(logger, s.tolerationsPreferNoSchedule, taint, false) {
			n++
		}
	}
	return n, nil
}

// NormalizeScore reverses the counts to [0, 100].
func (pl *TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	return helper.DefaultNormalizeScore(framework.MaxNodeScore, true, scores)
}

func (pl *TaintToleration) ScoreExtensions() framework.ScoreExtensions { return pl }
