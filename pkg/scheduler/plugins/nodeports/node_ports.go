// Package nodeports filters nodes where the pod's hostPorts are taken.
package nodeports

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.NodePorts

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// ErrReason is the rejection reason.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

// NodePorts is the plugin.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = &NodePorts{}
	_ framework.FilterPlugin      = &NodePorts{}
	_ framework.EnqueueExtensions = &NodePorts{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return &NodePorts{}, nil
}

func (pl *NodePorts) Name() string { return Name }

type preFilterState []v1.ContainerPort

func (s preFilterState) Clone() framework.StateData { return s }

// PreFilter collects the pod's host ports; pods without any skip Filter.
func (pl *NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	ports := framework.HostPorts(pod)
	if len(ports) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, preFilterState(ports))
	return nil, nil
}

func (pl *NodePorts) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func (pl *NodePorts) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}, QueueingHintFn: isSchedulableAfterAssignedPodDeleted},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}},
	}, nil
}

func isSchedulableAfterAssignedPodDeleted(logger klog.Logger, pod *v1.Pod, oldObj, _ any) (framework.QueueingHint, error) {
	deleted, _, err := framework.As[*v1.Pod](oldObj, nil)
	if err != nil {
		return framework.Queue, err
	}
	if deleted.Spec.NodeName == "" && deleted.Status.NominatedNodeName == "" {
		return framework.QueueSkip, nil
	}
	ports := framework.HostPorts(deleted)
	if len(ports) == 0 {
		return framework.QueueSkip, nil
	}
	inUse := framework.HostPortInfo{}
	for _, p := range ports {
		inUse.Add(p.HostIP, string(p.Protocol), p.HostPort)
	}
	if fitsPorts(framework.HostPorts(pod), inUse) {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

// Filter rejects nodes where a wanted host port is in use.
func (pl *NodePorts) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	c, err := state.Read(preFilterStateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycleState: %w", preFilterStateKey, err))
	}
	wanted, ok := c.(preFilterState)
	if !ok {
		return framework.AsStatus(fmt.Errorf("%+v  convert to nodeports.preFilterState error", c))
	}
	if !fitsPorts(wanted, nodeInfo.UsedPorts) {
		return framework.NewStatus(framework.Unschedulable, ErrReason)
	}
	return nil
}

// Fits reports whether pod's host ports are free on nodeInfo.
func Fits(pod *v1.Pod, nodeInfo *framework.NodeInfo) bool {
	return fitsPorts(framework.HostPorts(pod), nodeInfo.UsedPorts)
}

func fitsPorts(wanted []v1.ContainerPort, inUse framework.HostPortInfo) bool {
	for _, p := range wanted {
		if inUse.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return false
		}
	}
	return true
}
