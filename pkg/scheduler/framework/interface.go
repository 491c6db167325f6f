package framework

import (
	"context"
	"math"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
)

// Score bounds, as upstream.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
	// MaxTotalScore bounds the sum of weighted scores.
	MaxTotalScore int64 = math.MaxInt64
)

// Plugin is a scheduling plugin.
type Plugin interface {
	Name() string
}

// PreEnqueuePlugin gates pods before they enter the active queue.
type PreEnqueuePlugin interface {
	Plugin
	PreEnqueue(ctx context.Context, pod *v1.Pod) *Status
}

// QueueSortPlugin orders the active queue.
type QueueSortPlugin interface {
	Plugin
	Less(a, b *QueuedPodInfo) bool
}

// EnqueueExtensions lists the cluster events that may make a pod rejected
// by the plugin schedulable.
type EnqueueExtensions interface {
	Plugin
	EventsToRegister(ctx context.Context) ([]ClusterEventWithHint, error)
}

// PreFilterExtensions update PreFilter state when the framework adds or
// removes pods while evaluating nominated pods and preemption.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// PreFilterPlugin runs once per cycle before Filter.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status)
	PreFilterExtensions() PreFilterExtensions
}

// FilterPlugin rejects nodes that cannot run the pod.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterPlugin runs when no node fits (preemption).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, filteredNodeStatusMap *NodeToStatus) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once per cycle before Score.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// ScoreExtensions normalise a plugin's scores to [0, MaxNodeScore].
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores NodeScoreList) *Status
}

// ScorePlugin ranks feasible nodes.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	ScoreExtensions() ScoreExtensions
}

// ReservePlugin reserves resources for the chosen node; Unreserve undoes it.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// PreBindPlugin runs before binding (e.g. binding volumes).
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// BindPlugin binds the pod; Skip passes to the next binder.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// PostBindPlugin is informed of successful binds.
type PostBindPlugin interface {
	Plugin
	PostBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// PreFilterResult narrows the nodes to evaluate; nil NodeNames means all.
type PreFilterResult struct {
	NodeNames sets.Set[string]
}

// AllNodes reports whether every node is eligible.
func (p *PreFilterResult) AllNodes() bool { return p == nil || p.NodeNames == nil }

// Merge intersects two results.
func (p *PreFilterResult) Merge(in *PreFilterResult) *PreFilterResult {
	if p.AllNodes() && in.AllNodes() {
		return nil
	}
	var r sets.Set[string]
	switch {
	case p.AllNodes():
		r = in.NodeNames.Clone()
	case in.AllNodes():
		r = p.NodeNames.Clone()
	default:
		r = p.NodeNames.Intersection(in.NodeNames)
	}
	return &PreFilterResult{NodeNames: r}
}

// NominatingMode says what to do with a pod's nominatedNodeName.
type NominatingMode int

const (
	// ModeNoop leaves it unchanged.
	ModeNoop NominatingMode = iota
	// ModeOverride sets it to NominatedNodeName (possibly clearing it).
	ModeOverride
)

// NominatingInfo carries a nomination decision.
type NominatingInfo struct {
	NominatedNodeName string
	NominatingMode    NominatingMode
}

// Mode is the nominating mode; Noop for nil.
func (n *NominatingInfo) Mode() NominatingMode {
	if n == nil {
		return ModeNoop
	}
	return n.NominatingMode
}

// PostFilterResult is PostFilter's nomination.
type PostFilterResult struct {
	*NominatingInfo
}

// NewPostFilterResultWithNominatedNode nominates node (or clears with "").
func NewPostFilterResultWithNominatedNode(node string) *PostFilterResult {
	return &PostFilterResult{NominatingInfo: &NominatingInfo{NominatedNodeName: node, NominatingMode: ModeOverride}}
}

// NodeScore is a node's score from one plugin.
type NodeScore struct {
	Name  string
	Score int64
}

// NodeScoreList is the scores of all nodes from one plugin.
type NodeScoreList []NodeScore

// PluginScore is one plugin's weighted score.
type PluginScore struct {
	Name  string
	Score int64
}

// NodePluginScores are the scores of one node.
type NodePluginScores struct {
	Name       string
	Scores     []PluginScore
	TotalScore int64
}

// NodeToStatus maps nodes to why they were rejected; nodes absent from
// the map share AbsentNodesStatus.
type NodeToStatus struct {
	nodeToStatus      map[string]*Status
	absentNodesStatus *Status
}

// NewDefaultNodeToStatus returns an empty map whose absent nodes are
// UnschedulableAndUnresolvable.
func NewDefaultNodeToStatus() *NodeToStatus {
	return &NodeToStatus{nodeToStatus: map[string]*Status{}, absentNodesStatus: NewStatus(UnschedulableAndUnresolvable)}
}

// Get returns the status of node.
func (m *NodeToStatus) Get(node string) *Status {
	if s, ok := m.nodeToStatus[node]; ok {
		return s
	}
	return m.absentNodesStatus
}

// Set records the status of node.
func (m *NodeToStatus) Set(node string, s *Status) { m.nodeToStatus[node] = s }

// Len counts nodes with an explicit status.
func (m *NodeToStatus) Len() int { return len(m.nodeToStatus) }

// AbsentNodesStatus is the status of nodes not in the map.
func (m *NodeToStatus) AbsentNodesStatus() *Status { return m.absentNodesStatus }

// SetAbsentNodesStatus sets the status of nodes not in the map.
func (m *NodeToStatus) SetAbsentNodesStatus(s *Status) { m.absentNodesStatus = s }

// ForEachExplicitNode visits the nodes in the map.
func (m *NodeToStatus) ForEachExplicitNode(fn func(node string, s *Status)) {
	for n, s := range m.nodeToStatus {
		fn(n, s)
	}
}

// NodesForStatusCode lists the nodes whose status has code.
func (m *NodeToStatus) NodesForStatusCode(lister NodeInfoLister, code Code) ([]*NodeInfo, error) {
	var out []*NodeInfo
	if m.absentNodesStatus.Code() == code {
		all, err := lister.List()
		if err != nil {
			return nil, err
		}
		if m.Len() == 0 {
			return all, nil
		}
		for _, n := range all {
			if m.Get(n.Node().Name).Code() == code {
				out = append(out, n)
			}
		}
		return out, nil
	}
	for name, s := range m.nodeToStatus {
		if s.Code() == code {
			if n, err := lister.Get(name); err == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// NodeInfoLister lists the NodeInfos of a snapshot.
type NodeInfoLister interface {
	List() ([]*NodeInfo, error)
	HavePodsWithAffinityList() ([]*NodeInfo, error)
	HavePodsWithRequiredAntiAffinityList() ([]*NodeInfo, error)
	Get(nodeName string) (*NodeInfo, error)
}

// StorageInfoLister answers whether a PVC is used by any pod.
type StorageInfoLister interface {
	IsPVCUsedByPods(key string) bool
}

// SharedLister is the snapshot plugins read.
type SharedLister interface {
	NodeInfos() NodeInfoLister
	StorageInfos() StorageInfoLister
}

// Parallelizer runs work over many pieces.
type Parallelizer interface {
	Until(ctx context.Context, pieces int, work func(i int))
}

// PodNominator tracks nominated pods.
type PodNominator interface {
	AddNominatedPod(logger klog.Logger, pi *PodInfo, nominatingInfo *NominatingInfo)
	DeleteNominatedPodIfExists(pod *v1.Pod)
	UpdateNominatedPod(logger klog.Logger, oldPod *v1.Pod, newPodInfo *PodInfo)
	NominatedPodsForNode(nodeName string) []*PodInfo
}

// PodActivator moves pods to the active queue.
type PodActivator interface {
	Activate(logger klog.Logger, pods map[string]*v1.Pod)
}

// Handle is what plugins get from the framework.
type Handle interface {
	PodNominator
	PodActivator
	SnapshotSharedLister() SharedLister
	ClientSet() clientset.Interface
	SharedInformerFactory() informers.SharedInformerFactory
	EventRecorder() events.EventRecorder
	Parallelizer() Parallelizer
	// Served reports whether the API server serves a resource
	// ("group/version/resource", core as "v1/pods"), so plugins skip
	// listers for resources the cluster does not have.
	Served(gvr string) bool

	RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, info *NodeInfo) *Status
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// PluginFactory builds a plugin from its (typed, defaulted) args.
type PluginFactory func(ctx context.Context, args runtime.Object, h Handle) (Plugin, error)

// Registry maps plugin names to factories.
type Registry map[string]PluginFactory

// QueuedPodInfo is a pod in the scheduling queue.
type QueuedPodInfo struct {
	*PodInfo
	// Timestamp is when the pod was last added to a queue.
	Timestamp time.Time
	// Attempts counts scheduling attempts.
	Attempts int
	// UnschedulableCount counts attempts that ended Unschedulable.
	UnschedulableCount int
	// ConsecutiveErrorsCount counts consecutive attempts that ended in an
	// error.
	ConsecutiveErrorsCount int
	// InitialAttemptTimestamp is when the pod was first popped.
	InitialAttemptTimestamp *time.Time
	// UnschedulablePlugins rejected the pod in its last attempt.
	UnschedulablePlugins sets.Set[string]
	// PendingPlugins returned Pending in its last attempt.
	PendingPlugins sets.Set[string]
	// GatingPlugin is the PreEnqueue plugin holding the pod back.
	GatingPlugin string
	// BackoffExpiration caches the end of the backoff.
	BackoffExpiration time.Time
}

// Gated reports whether a PreEnqueue plugin holds the pod.
func (q *QueuedPodInfo) Gated() bool { return q.GatingPlugin != "" }

// DeepCopy copies the queued pod.
func (q *QueuedPodInfo) DeepCopy() *QueuedPodInfo {
	out := *q
	out.PodInfo = q.PodInfo.DeepCopy()
	out.UnschedulablePlugins = q.UnschedulablePlugins.Clone()
	out.PendingPlugins = q.PendingPlugins.Clone()
	return &out
}

// UID is the pod's UID.
func (q *QueuedPodInfo) UID() types.UID { return q.Pod.UID }
