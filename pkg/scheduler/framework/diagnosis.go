package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// ErrNoNodesAvailable is returned when the cluster has no nodes.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// NoNodeAvailableMsg starts every FitError message.
const NoNodeAvailableMsg = "0/%v nodes are available"

// Diagnosis explains a scheduling failure.
type Diagnosis struct {
	// NodeToStatus holds each rejected node's status.
	NodeToStatus *NodeToStatus
	// UnschedulablePlugins rejected the pod (Unschedulable or
	// UnschedulableAndUnresolvable); they decide which events requeue it.
	UnschedulablePlugins sets.Set[string]
	// PendingPlugins returned Pending.
	PendingPlugins sets.Set[string]
	// PreFilterMsg is the message of a PreFilter rejection.
	PreFilterMsg string
	// PostFilterMsg is the message of PostFilter (preemption).
	PostFilterMsg string
}

// AddPluginStatus records the plugin of a rejection.
func (d *Diagnosis) AddPluginStatus(s *Status) {
	if s.Plugin() == "" {
		return
	}
	if s.IsRejected() {
		if d.UnschedulablePlugins == nil {
			d.UnschedulablePlugins = sets.New[string]()
		}
		d.UnschedulablePlugins.Insert(s.Plugin())
	}
	if s.Code() == Pending {
		if d.PendingPlugins == nil {
			d.PendingPlugins = sets.New[string]()
		}
		d.PendingPlugins.Insert(s.Plugin())
	}
}

// FitError is returned when no node fits a pod.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error is upstream's message: "0/X nodes are available: <PreFilterMsg>.
// <histogram of filter reasons>. <PostFilterMsg>".
func (f *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += fmt.Sprintf(" %v.", f.Diagnosis.PreFilterMsg)
	} else {
		// When PreFilter rejected the pod every node carries the same
		// status, so the per-node histogram would only repeat it.
		reasons := map[string]int{}
		f.Diagnosis.NodeToStatus.ForEachExplicitNode(func(_ string, s *Status) {
			for _, r := range s.Reasons() {
				reasons[r]++
			}
		})
		if f.Diagnosis.NodeToStatus.Len() < f.NumAllNodes {
			for _, r := range f.Diagnosis.NodeToStatus.AbsentNodesStatus().Reasons() {
				reasons[r] += f.NumAllNodes - f.Diagnosis.NodeToStatus.Len()
			}
		}
		var parts []string
		for r, n := range reasons {
			parts = append(parts, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(parts)
		if len(parts) != 0 {
			msg += fmt.Sprintf(" %v.", strings.Join(parts, ", "))
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += fmt.Sprintf(" %v", f.Diagnosis.PostFilterMsg)
	}
	return msg
}
