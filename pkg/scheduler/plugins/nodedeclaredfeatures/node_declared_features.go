// Package nodedeclaredfeatures keeps pods off nodes that do not declare the
// node features the pod needs (status.declaredFeatures).
package nodedeclaredfeatures

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	versionutil "k8s.io/apimachinery/pkg/util/version"
	ndf "k8s.io/component-helpers/nodedeclaredfeatures"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.NodeDeclaredFeatures

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// errReasonUnsatisfiedRequirements is the rejection reason.
const errReasonUnsatisfiedRequirements = "node(s) didn't match Pod's required features"

// schedulerVersion is the Kubernetes version skiff's scheduler implements;
// features retired before it are no longer required.
var schedulerVersion = versionutil.MustParseSemantic("v1.37.2")

// NodeDeclaredFeatures is the plugin.
type NodeDeclaredFeatures struct {
	fw *ndf.Framework
}

var (
	_ framework.PreFilterPlugin   = &NodeDeclaredFeatures{}
	_ framework.FilterPlugin      = &NodeDeclaredFeatures{}
	_ framework.EnqueueExtensions = &NodeDeclaredFeatures{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return &NodeDeclaredFeatures{fw: ndf.DefaultFramework}, nil
}

func (pl *NodeDeclaredFeatures) Name() string { return Name }

type preFilterState struct {
	reqs ndf.FeatureSet
}

func (s *preFilterState) Clone() framework.StateData { return s }

func (pl *NodeDeclaredFeatures) requirements(pod *v1.Pod) (ndf.FeatureSet, error) {
	return pl.fw.InferForPodScheduling(&ndf.PodInfo{Spec: &pod.Spec}, schedulerVersion)
}

// PreFilter infers the features the pod needs; pods needing none skip.
func (pl *NodeDeclaredFeatures) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	reqs, err := pl.requirements(pod)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if reqs.IsEmpty() {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, &preFilterState{reqs: reqs})
	return nil, nil
}

func (pl *NodeDeclaredFeatures) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects nodes that do not declare every required feature.
func (pl *NodeDeclaredFeatures) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	c, err := state.Read(preFilterStateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("error reading %q from cycle-state: %w", preFilterStateKey, err))
	}
	ok, err := c.(*preFilterState).reqs.IsSubset(nodeInfo.DeclaredFeatures)
	if err != nil {
		return framework.AsStatus(err)
	}
	if !ok {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, errReasonUnsatisfiedRequirements)
	}
	return nil
}

func (pl *NodeDeclaredFeatures) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeDeclaredFeature}, QueueingHintFn: isSchedulableAfterNodeChange},
		{Event: framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.Update}, QueueingHintFn: pl.isSchedulableAfterTargetPodUpdate},
	}, nil
}

func (pl *NodeDeclaredFeatures) isSchedulableAfterTargetPodUpdate(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	oldPod, newPod, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	oldReqs, err := pl.requirements(oldPod)
	if err != nil {
		return framework.Queue, err
	}
	newReqs, err := pl.requirements(newPod)
	if err != nil {
		return framework.Queue, err
	}
	if newReqs.Equal(oldReqs) {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

func isSchedulableAfterNodeChange(_ klog.Logger, _ *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	oldNode, newNode, err := framework.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldNode != nil && slices.Equal(oldNode.Status.DeclaredFeatures, newNode.Status.DeclaredFeatures) {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}
