package framework

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// RunPreFilterPlugins runs PreFilter plugins. It returns the merged node
// restriction, the status, and the plugins that restricted the nodes.
// Plugins returning Skip are recorded in state so their Filter is skipped.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod) (*PreFilterResult, *Status, sets.Set[string]) {
	skip := sets.New[string]()
	defer func() {
		state.SkipFilterPlugins = skip
		state.filters = make([]FilterPlugin, 0, len(f.filter))
		for _, pl := range f.filter {
			if !skip.Has(pl.Name()) {
				state.filters = append(state.filters, pl)
			}
		}
	}()
	nodes, err := f.Snapshot.NodeInfos().List()
	if err != nil {
		return nil, AsStatus(fmt.Errorf("getting all nodes: %w", err)), nil
	}
	var result *PreFilterResult
	pluginsWithNodes := sets.New[string]()
	var returnStatus *Status
	for _, pl := range f.preFilter {
		r, s := pl.PreFilter(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip.Insert(pl.Name())
			continue
		}
		if !s.IsSuccess() {
			s.SetPlugin(pl.Name())
			switch s.Code() {
			case UnschedulableAndUnresolvable:
				// Preemption cannot help; no need to run the rest.
				return nil, s, nil
			case Unschedulable:
				// Preemption may help, so every PreFilter must run to
				// prepare its state.
				returnStatus = s
				continue
			}
			return nil, AsStatus(fmt.Errorf("running PreFilter plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name()), nil
		}
		if !r.AllNodes() {
			pluginsWithNodes.Insert(pl.Name())
		}
		result = result.Merge(r)
		if !result.AllNodes() && len(result.NodeNames) == 0 {
			msg := fmt.Sprintf("node(s) didn't satisfy plugin(s) %v simultaneously", sets.List(pluginsWithNodes))
			if len(pluginsWithNodes) == 1 {
				msg = fmt.Sprintf("node(s) didn't satisfy plugin %v", sets.List(pluginsWithNodes)[0])
			}
			return result, NewStatus(UnschedulableAndUnresolvable, msg), pluginsWithNodes
		}
	}
	return result, returnStatus, pluginsWithNodes
}

// RunPreFilterExtensionAddPod tells PreFilter plugins a pod was added.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		if pl.PreFilterExtensions() == nil || state.SkipFilterPlugins.Has(pl.Name()) {
			continue
		}
		if s := pl.PreFilterExtensions().AddPod(ctx, state, podToSchedule, podInfoToAdd, nodeInfo); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running AddPod on PreFilter plugin %q: %w", pl.Name(), s.AsError()))
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod tells PreFilter plugins a pod was removed.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		if pl.PreFilterExtensions() == nil || state.SkipFilterPlugins.Has(pl.Name()) {
			continue
		}
		if s := pl.PreFilterExtensions().RemovePod(ctx, state, podToSchedule, podInfoToRemove, nodeInfo); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running RemovePod on PreFilter plugin %q: %w", pl.Name(), s.AsError()))
		}
	}
	return nil
}

// RunFilterPlugins runs Filter plugins on one node, stopping at the first
// rejection.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status {
	filters := state.filters
	if filters == nil {
		// PreFilter did not run (tests, direct callers).
		for _, pl := range f.filter {
			if !state.SkipFilterPlugins.Has(pl.Name()) {
				filters = append(filters, pl)
			}
		}
	}
	for _, pl := range filters {
		if s := pl.Filter(ctx, state, pod, nodeInfo); !s.IsSuccess() {
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("running %q filter plugin: %w", pl.Name(), s.AsError()))
			}
			s.SetPlugin(pl.Name())
			return s
		}
	}
	return nil
}

// RunFilterPluginsWithNominatedPods runs the filters twice when
// higher-or-equal priority pods are nominated to the node: once as if they
// ran there, once without them; the pod must fit both ways.
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, info *NodeInfo) *Status {
	var status *Status
	podsAdded := false
	for i := 0; i < 2; i++ {
		stateToUse, infoToUse := state, info
		if i == 0 {
			var err error
			podsAdded, stateToUse, infoToUse, err = f.addGENominatedPods(ctx, pod, state, info)
			if err != nil {
				return AsStatus(err)
			}
		} else if !podsAdded || !status.IsSuccess() {
			break
		}
		status = f.RunFilterPlugins(ctx, stateToUse, pod, infoToUse)
		if !status.IsSuccess() && !status.IsRejected() {
			return status
		}
	}
	return status
}

func (f *Framework) addGENominatedPods(ctx context.Context, pod *v1.Pod, state *CycleState, nodeInfo *NodeInfo) (bool, *CycleState, *NodeInfo, error) {
	if nodeInfo.Node() == nil {
		return false, state, nodeInfo, nil
	}
	nominated := f.NominatedPodsForNode(nodeInfo.Node().Name)
	if len(nominated) == 0 {
		return false, state, nodeInfo, nil
	}
	var nodeOut *NodeInfo
	var stateOut *CycleState
	added := false
	for _, pi := range nominated {
		if corev1helpers.PodPriority(pi.Pod) >= corev1helpers.PodPriority(pod) && pi.Pod.UID != pod.UID {
			if nodeOut == nil {
				nodeOut, stateOut = nodeInfo.Snapshot(), state.Clone()
			}
			nodeOut.AddPodInfo(pi)
			if s := f.RunPreFilterExtensionAddPod(ctx, stateOut, pod, pi, nodeOut); !s.IsSuccess() {
				return false, state, nodeInfo, s.AsError()
			}
			added = true
		}
	}
	if !added {
		return false, state, nodeInfo, nil
	}
	return true, stateOut, nodeOut, nil
}

// RunPostFilterPlugins runs PostFilter plugins until one succeeds or
// returns UnschedulableAndUnresolvable or Error.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, m *NodeToStatus) (*PostFilterResult, *Status) {
	var result *PostFilterResult
	var reasons []string
	var rejector string
	for _, pl := range f.postFilter {
		r, s := pl.PostFilter(ctx, state, pod, m)
		switch {
		case s.IsSuccess():
			return r, s
		case s.Code() == UnschedulableAndUnresolvable:
			return r, s.WithPlugin(pl.Name())
		case !s.IsRejected():
			return nil, AsStatus(s.AsError()).WithPlugin(pl.Name())
		case r != nil && r.Mode() != ModeNoop:
			result = r
		}
		reasons = append(reasons, s.Reasons()...)
		if rejector == "" {
			rejector = pl.Name()
		}
	}
	return result, NewStatus(Unschedulable, reasons...).WithPlugin(rejector)
}

// RunPreScorePlugins runs PreScore plugins; Skip skips the coupled Score.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status {
	skip := sets.New[string]()
	defer func() { state.SkipScorePlugins = skip }()
	for _, pl := range f.preScore {
		s := pl.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip.Insert(pl.Name())
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("running PreScore plugin %q: %w", pl.Name(), s.AsError()))
		}
	}
	return nil
}

// RunScorePlugins scores nodes with every non-skipped Score plugin,
// normalises and weights the scores.
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) ([]NodePluginScores, *Status) {
	all := make([]NodePluginScores, len(nodes))
	var plugins []ScorePlugin
	for _, pl := range f.score {
		if !state.SkipScorePlugins.Has(pl.Name()) {
			plugins = append(plugins, pl)
		}
	}
	if len(plugins) == 0 {
		for i, n := range nodes {
			all[i] = NodePluginScores{Name: n.Node().Name}
		}
		return all, nil
	}
	perPlugin := make([]NodeScoreList, len(plugins))
	for i := range plugins {
		perPlugin[i] = make(NodeScoreList, len(nodes))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	f.Parallelizer().Until(ctx, len(nodes), func(index int) {
		ni := nodes[index]
		name := ni.Node().Name
		for i, pl := range plugins {
			score, s := pl.Score(ctx, state, pod, ni)
			if !s.IsSuccess() {
				fail(fmt.Errorf("plugin %q failed with: %w", pl.Name(), s.AsError()))
				return
			}
			perPlugin[i][index] = NodeScore{Name: name, Score: score}
		}
	})
	if firstErr != nil {
		return nil, AsStatus(fmt.Errorf("running Score plugins: %w", firstErr))
	}
	for i, pl := range plugins {
		if ext := pl.ScoreExtensions(); ext != nil {
			if s := ext.NormalizeScore(ctx, state, pod, perPlugin[i]); !s.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("running Normalize on Score plugins: plugin %q failed with: %w", pl.Name(), s.AsError()))
			}
		}
	}
	for index := range nodes {
		scores := make([]PluginScore, len(plugins))
		var total int64
		for i, pl := range plugins {
			score := perPlugin[i][index].Score
			if score > MaxNodeScore || score < MinNodeScore {
				return nil, AsStatus(fmt.Errorf("applying score defaultWeights on Score plugins: plugin %q returns an invalid score %v, it should in the range of [%v, %v] after normalizing",
					pl.Name(), score, MinNodeScore, MaxNodeScore))
			}
			w := score * f.scoreWeights[pl.Name()]
			scores[i] = PluginScore{Name: pl.Name(), Score: w}
			total += w
		}
		all[index] = NodePluginScores{Name: nodes[index].Node().Name, Scores: scores, TotalScore: total}
	}
	return all, nil
}

// RunReservePluginsReserve runs Reserve plugins; on failure the caller runs
// Unreserve.
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.reserve {
		if s := pl.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				s.SetPlugin(pl.Name())
				return s
			}
			return AsStatus(fmt.Errorf("running Reserve plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunReservePluginsUnreserve runs Unreserve in reverse order.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunPreBindPlugins runs PreBind plugins.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.preBind {
		if s := pl.PreBind(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				s.SetPlugin(pl.Name())
				return s
			}
			return AsStatus(fmt.Errorf("running PreBind plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunBindPlugins runs Bind plugins until one does not Skip.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	var s *Status
	for _, pl := range f.bind {
		s = pl.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		if !s.IsSuccess() {
			if s.IsRejected() {
				s.SetPlugin(pl.Name())
				return s
			}
			return AsStatus(fmt.Errorf("running Bind plugin %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
		return s
	}
	return s
}

// RunPostBindPlugins informs PostBind plugins.
func (f *Framework) RunPostBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for _, pl := range f.postBind {
		pl.PostBind(ctx, state, pod, nodeName)
	}
}
