package framework

import (
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ActionType is a bit set of what happened to an object.
type ActionType int64

// The actions, as upstream. Update* bits narrow an update to the part of
// the object that changed.
const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	// UpdateNodeTaint covers taints and spec.unschedulable.
	UpdateNodeTaint
	UpdateNodeCondition
	UpdateNodeAnnotation
	UpdateNodeDeclaredFeature
	UpdatePodLabel
	UpdatePodScaleDown
	UpdatePodScaleUp
	UpdatePodToleration
	UpdatePodSchedulingGatesEliminated
	// UpdatePodGeneratedResourceClaim: status.resourceClaimStatuses changed
	// (the resourceclaim controller recorded a claim it made).
	UpdatePodGeneratedResourceClaim

	None ActionType = 0
	All  ActionType = 1<<iota - 1

	Update = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition | UpdateNodeAnnotation | UpdateNodeDeclaredFeature |
		UpdatePodLabel | UpdatePodScaleDown | UpdatePodScaleUp | UpdatePodToleration | UpdatePodSchedulingGatesEliminated |
		UpdatePodGeneratedResourceClaim
)

var actionNames = []string{"Add", "Delete", "UpdateNodeAllocatable", "UpdateNodeLabel", "UpdateNodeTaint", "UpdateNodeCondition",
	"UpdateNodeAnnotation", "UpdateNodeDeclaredFeature", "UpdatePodLabel", "UpdatePodScaleDown", "UpdatePodScaleUp", "UpdatePodToleration", "UpdatePodSchedulingGatesEliminated",
	"UpdatePodGeneratedResourceClaim"}

func (a ActionType) String() string {
	switch a {
	case All:
		return "All"
	case Update:
		return "Update"
	case None:
		return "None"
	}
	var parts []string
	for i, n := range actionNames {
		if a&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

// EventResource is the kind of object an event is about.
type EventResource string

// The resources plugins register events for. AssignedPod, UnscheduledPod
// and TargetPod are views of Pod: bound pods, pending pods, and the pod
// being requeued itself.
const (
	Pod                   EventResource = "Pod"
	AssignedPod           EventResource = "AssignedPod"
	UnscheduledPod        EventResource = "UnscheduledPod"
	TargetPod             EventResource = "TargetPod"
	Node                  EventResource = "Node"
	PersistentVolume      EventResource = "PersistentVolume"
	PersistentVolumeClaim EventResource = "PersistentVolumeClaim"
	StorageClass          EventResource = "storage.k8s.io/StorageClass"
	CSINode               EventResource = "storage.k8s.io/CSINode"
	CSIDriver             EventResource = "storage.k8s.io/CSIDriver"
	VolumeAttachment      EventResource = "storage.k8s.io/VolumeAttachment"
	ResourceClaim         EventResource = "resource.k8s.io/ResourceClaim"
	WildCard              EventResource = "*"
)

// ClusterEvent is something that happened in the cluster.
type ClusterEvent struct {
	Resource    EventResource
	ActionType  ActionType
	CustomLabel string
}

// Label names the event for logs.
func (e ClusterEvent) Label() string {
	if e.CustomLabel != "" {
		return e.CustomLabel
	}
	return string(e.Resource) + e.ActionType.String()
}

// IsWildCard reports the catch-all event.
func (e ClusterEvent) IsWildCard() bool { return e.Resource == WildCard && e.ActionType == All }

// Match reports whether the registered event e covers the incoming event:
// the incoming event must be as specific or more (a registered Update
// matches an incoming UpdatePodLabel, not the other way round, since an
// incoming generic Update means no specific part changed).
func (e ClusterEvent) Match(incoming ClusterEvent) bool {
	if e.IsWildCard() {
		return true
	}
	if e.ActionType&incoming.ActionType == 0 || incoming.ActionType > e.ActionType {
		return false
	}
	return e.Resource == incoming.Resource || e.Resource == WildCard ||
		(e.Resource == Pod && (incoming.Resource == AssignedPod || incoming.Resource == UnscheduledPod || incoming.Resource == TargetPod))
}

// QueueingHint says whether an event may make a rejected pod schedulable.
type QueueingHint int

const (
	// QueueSkip leaves the pod where it is.
	QueueSkip QueueingHint = iota
	// Queue moves the pod to the active or backoff queue.
	Queue
)

// QueueingHintFn decides for one pod and one event. oldObj/newObj are the
// event's objects (nil for adds and deletes respectively).
type QueueingHintFn func(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (QueueingHint, error)

// ClusterEventWithHint is an event a plugin registers, with its hint.
type ClusterEventWithHint struct {
	Event ClusterEvent
	// QueueingHintFn nil means always Queue.
	QueueingHintFn QueueingHintFn
}

// Well-known events.
var (
	EventAssignedPodAdd       = ClusterEvent{Resource: AssignedPod, ActionType: Add}
	EventAssignedPodUpdate    = ClusterEvent{Resource: AssignedPod, ActionType: Update}
	EventAssignedPodDelete    = ClusterEvent{Resource: AssignedPod, ActionType: Delete}
	EventUnscheduledPodAdd    = ClusterEvent{Resource: UnscheduledPod, ActionType: Add}
	EventUnscheduledPodUpdate = ClusterEvent{Resource: UnscheduledPod, ActionType: Update}
	EventUnscheduledPodDelete = ClusterEvent{Resource: UnscheduledPod, ActionType: Delete}
	EventUnschedulableTimeout = ClusterEvent{Resource: WildCard, ActionType: All, CustomLabel: "UnschedulableTimeout"}
	EventForceActivate        = ClusterEvent{Resource: WildCard, ActionType: All, CustomLabel: "ForceActivate"}
)

// NodeSchedulingPropertiesChange lists what changed between two versions
// of a node that scheduling cares about.
func NodeSchedulingPropertiesChange(newNode, oldNode *v1.Node) []ClusterEvent {
	var events []ClusterEvent
	add := func(a ActionType) { events = append(events, ClusterEvent{Resource: Node, ActionType: a}) }
	if newNode.Spec.Unschedulable != oldNode.Spec.Unschedulable {
		add(UpdateNodeTaint)
	}
	if !equality.Semantic.DeepEqual(oldNode.Status.Allocatable, newNode.Status.Allocatable) {
		add(UpdateNodeAllocatable)
	}
	if !equality.Semantic.DeepEqual(oldNode.Labels, newNode.Labels) {
		add(UpdateNodeLabel)
	}
	if !equality.Semantic.DeepEqual(oldNode.Spec.Taints, newNode.Spec.Taints) {
		add(UpdateNodeTaint)
	}
	if nodeConditionsChanged(newNode, oldNode) {
		add(UpdateNodeCondition)
	}
	if !equality.Semantic.DeepEqual(oldNode.Annotations, newNode.Annotations) {
		add(UpdateNodeAnnotation)
	}
	if !slices.Equal(oldNode.Status.DeclaredFeatures, newNode.Status.DeclaredFeatures) {
		add(UpdateNodeDeclaredFeature)
	}
	return events
}

// nodeConditionsChanged compares condition types and statuses only, so
// heartbeats do not count as changes.
func nodeConditionsChanged(newNode, oldNode *v1.Node) bool {
	strip := func(cs []v1.NodeCondition) map[v1.NodeConditionType]v1.ConditionStatus {
		m := make(map[v1.NodeConditionType]v1.ConditionStatus, len(cs))
		for _, c := range cs {
			m[c.Type] = c.Status
		}
		return m
	}
	return !equality.Semantic.DeepEqual(strip(oldNode.Status.Conditions), strip(newNode.Status.Conditions))
}

// PodSchedulingPropertiesChange lists what changed between two versions of
// a pod. isTarget marks the pod being requeued itself.
func PodSchedulingPropertiesChange(newPod, oldPod *v1.Pod, isTarget bool) []ClusterEvent {
	r := UnscheduledPod
	if newPod.Spec.NodeName != "" {
		r = AssignedPod
	} else if isTarget {
		r = TargetPod
	}
	var events []ClusterEvent
	add := func(a ActionType) { events = append(events, ClusterEvent{Resource: r, ActionType: a}) }
	if !equality.Semantic.DeepEqual(newPod.Labels, oldPod.Labels) {
		add(UpdatePodLabel)
	}
	newReqs, oldReqs := PodRequests(newPod), PodRequests(oldPod)
	for name, o := range oldReqs {
		if n, ok := newReqs[name]; !ok || o.MilliValue() > n.MilliValue() {
			add(UpdatePodScaleDown)
			break
		}
	}
	for name, n := range newReqs {
		if o, ok := oldReqs[name]; !ok || n.MilliValue() > o.MilliValue() {
			add(UpdatePodScaleUp)
			break
		}
	}
	if len(newPod.Spec.SchedulingGates) == 0 && len(oldPod.Spec.SchedulingGates) != 0 {
		add(UpdatePodSchedulingGatesEliminated)
	}
	if len(newPod.Spec.Tolerations) != len(oldPod.Spec.Tolerations) {
		add(UpdatePodToleration)
	}
	if !equality.Semantic.DeepEqual(newPod.Status.ResourceClaimStatuses, oldPod.Status.ResourceClaimStatuses) {
		add(UpdatePodGeneratedResourceClaim)
	}
	if len(events) == 0 {
		add(Update)
	}
	return events
}

// As casts an event's objects; either may be nil, and a deleted object may
// come as a DeletedFinalStateUnknown tombstone.
func As[T any](oldObj, newObj any) (T, T, error) {
	var oldT, newT T
	var ok bool
	if newObj != nil {
		if newT, ok = newObj.(T); !ok {
			return oldT, newT, errUnexpectedType(newObj)
		}
	}
	if oldObj != nil {
		if tombstone, isTombstone := oldObj.(cache.DeletedFinalStateUnknown); isTombstone {
			oldObj = tombstone.Obj
		}
		if oldT, ok = oldObj.(T); !ok {
			return oldT, newT, errUnexpectedType(oldObj)
		}
	}
	return oldT, newT, nil
}

func typeName(obj any) string { return fmt.Sprintf("%T", obj) }
