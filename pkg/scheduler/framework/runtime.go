package framework

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"
)

// Options are the shared things every profile's framework uses.
type Options struct {
	ClientSet       clientset.Interface
	InformerFactory informers.SharedInformerFactory
	EventRecorder   events.EventRecorder
	Parallelizer    Parallelizer
	Snapshot        SharedLister
	// Served reports whether the API server serves "group/version/resource";
	// nil means everything is served.
	Served func(gvr string) bool
}

// Framework runs one profile's plugins and is the Handle they get.
type Framework struct {
	Options
	profileName              string
	percentageOfNodesToScore *int32

	pluginsMap        map[string]Plugin
	preEnqueue        []PreEnqueuePlugin
	queueSort         []QueueSortPlugin
	preFilter         []PreFilterPlugin
	filter            []FilterPlugin
	postFilter        []PostFilterPlugin
	preScore          []PreScorePlugin
	score             []ScorePlugin
	reserve           []ReservePlugin
	preBind           []PreBindPlugin
	bind              []BindPlugin
	postBind          []PostBindPlugin
	enqueueExtensions []EnqueueExtensions
	scoreWeights      map[string]int64

	nominator PodNominator
	activator PodActivator
}

var _ Handle = &Framework{}

type extensionPoint struct {
	name  string
	set   *configv1.PluginSet
	is    func(Plugin) bool
	apply func(f *Framework, plugins []Plugin)
}

func extensionPoints(p *configv1.Plugins) []extensionPoint {
	return []extensionPoint{
		{"PreEnqueue", &p.PreEnqueue, is[PreEnqueuePlugin], func(f *Framework, ps []Plugin) { f.preEnqueue = as[PreEnqueuePlugin](ps) }},
		{"QueueSort", &p.QueueSort, is[QueueSortPlugin], func(f *Framework, ps []Plugin) { f.queueSort = as[QueueSortPlugin](ps) }},
		{"PreFilter", &p.PreFilter, is[PreFilterPlugin], func(f *Framework, ps []Plugin) { f.preFilter = as[PreFilterPlugin](ps) }},
		{"Filter", &p.Filter, is[FilterPlugin], func(f *Framework, ps []Plugin) { f.filter = as[FilterPlugin](ps) }},
		{"PostFilter", &p.PostFilter, is[PostFilterPlugin], func(f *Framework, ps []Plugin) { f.postFilter = as[PostFilterPlugin](ps) }},
		{"PreScore", &p.PreScore, is[PreScorePlugin], func(f *Framework, ps []Plugin) { f.preScore = as[PreScorePlugin](ps) }},
		{"Score", &p.Score, is[ScorePlugin], func(f *Framework, ps []Plugin) { f.score = as[ScorePlugin](ps) }},
		{"Reserve", &p.Reserve, is[ReservePlugin], func(f *Framework, ps []Plugin) { f.reserve = as[ReservePlugin](ps) }},
		{"Permit", &p.Permit, func(Plugin) bool { return false }, func(*Framework, []Plugin) {}},
		{"PreBind", &p.PreBind, is[PreBindPlugin], func(f *Framework, ps []Plugin) { f.preBind = as[PreBindPlugin](ps) }},
		{"Bind", &p.Bind, is[BindPlugin], func(f *Framework, ps []Plugin) { f.bind = as[BindPlugin](ps) }},
		{"PostBind", &p.PostBind, is[PostBindPlugin], func(f *Framework, ps []Plugin) { f.postBind = as[PostBindPlugin](ps) }},
	}
}

func is[T any](p Plugin) bool { _, ok := p.(T); return ok }

func as[T any](ps []Plugin) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.(T))
	}
	return out
}

// NewFramework instantiates a profile's plugins. profile must be defaulted
// (plugins merged with the defaults); args holds each plugin's typed args.
func NewFramework(ctx context.Context, registry Registry, profile *configv1.KubeSchedulerProfile, args map[string]runtime.Object, opts Options) (*Framework, error) {
	f := &Framework{Options: opts, pluginsMap: map[string]Plugin{}, scoreWeights: map[string]int64{}}
	if profile.SchedulerName != nil {
		f.profileName = *profile.SchedulerName
	}
	f.percentageOfNodesToScore = profile.PercentageOfNodesToScore
	if profile.Plugins == nil {
		return nil, fmt.Errorf("profile %q has no plugins", f.profileName)
	}
	plugins := profile.Plugins

	// Instantiate every plugin named anywhere, once.
	names := []string{}
	seen := sets.New[string]()
	addName := func(n string) {
		if n != "*" && !seen.Has(n) {
			seen.Insert(n)
			names = append(names, n)
		}
	}
	for _, p := range plugins.MultiPoint.Enabled {
		addName(p.Name)
	}
	for _, ep := range extensionPoints(plugins) {
		for _, p := range ep.set.Enabled {
			addName(p.Name)
		}
	}
	for _, name := range names {
		factory, ok := registry[name]
		if !ok {
			return nil, fmt.Errorf("plugin %q does not exist", name)
		}
		p, err := factory(ctx, args[name], f)
		if err != nil {
			return nil, fmt.Errorf("initializing plugin %q: %w", name, err)
		}
		f.pluginsMap[name] = p
	}

	for _, ep := range extensionPoints(plugins) {
		list, err := f.expand(plugins, ep)
		if err != nil {
			return nil, err
		}
		ep.apply(f, list)
	}
	if len(f.queueSort) > 1 {
		return nil, fmt.Errorf("only one QueueSort plugin can be enabled, got %d", len(f.queueSort))
	}
	if len(f.bind) == 0 {
		return nil, fmt.Errorf("at least one Bind plugin is needed")
	}

	// Score weights: explicit Score entries win over MultiPoint; 0 means 1.
	var total int64
	for _, p := range append(slices.Clone(plugins.Score.Enabled), plugins.MultiPoint.Enabled...) {
		pl, ok := f.pluginsMap[p.Name]
		if !ok || !is[ScorePlugin](pl) {
			continue
		}
		if _, done := f.scoreWeights[p.Name]; done {
			continue
		}
		var w int64
		if p.Weight != nil {
			w = int64(*p.Weight)
		}
		if w == 0 {
			w = 1
		}
		f.scoreWeights[p.Name] = w
		if w*MaxNodeScore > MaxTotalScore-total {
			return nil, fmt.Errorf("total score of Score plugins could overflow")
		}
		total += w * MaxNodeScore
	}
	for _, sp := range f.score {
		if f.scoreWeights[sp.Name()] == 0 {
			f.scoreWeights[sp.Name()] = 1
		}
	}

	// Plugins at points that can reject a pod register the events that may
	// undo the rejection.
	for _, name := range names {
		p := f.pluginsMap[name]
		if !(is[PreEnqueuePlugin](p) || is[PreFilterPlugin](p) || is[FilterPlugin](p) || is[ReservePlugin](p)) {
			continue
		}
		if !f.enabledAnywhere(name) {
			continue
		}
		if ext, ok := p.(EnqueueExtensions); ok {
			f.enqueueExtensions = append(f.enqueueExtensions, ext)
		} else {
			f.enqueueExtensions = append(f.enqueueExtensions, &defaultEnqueueExtension{name: name})
		}
	}
	return f, nil
}

func (f *Framework) enabledAnywhere(name string) bool {
	for _, l := range [][]Plugin{as2(f.preEnqueue), as2(f.preFilter), as2(f.filter), as2(f.reserve)} {
		for _, p := range l {
			if p.Name() == name {
				return true
			}
		}
	}
	return false
}

func as2[T Plugin](ps []T) []Plugin {
	out := make([]Plugin, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// expand resolves one extension point upstream's way: plugins configured
// explicitly at the point and also in MultiPoint first (in the point's
// order), then MultiPoint plugins, then the point's other plugins.
func (f *Framework) expand(plugins *configv1.Plugins, ep extensionPoint) ([]Plugin, error) {
	enabled := []string{}
	for _, p := range ep.set.Enabled {
		if _, ok := f.pluginsMap[p.Name]; !ok {
			return nil, fmt.Errorf("%s plugin %q does not exist", ep.name, p.Name)
		}
		if !ep.is(f.pluginsMap[p.Name]) {
			return nil, fmt.Errorf("plugin %q does not extend %s plugin", p.Name, ep.name)
		}
		if slices.Contains(enabled, p.Name) {
			return nil, fmt.Errorf("plugin %q already registered as %q", p.Name, ep.name)
		}
		enabled = append(enabled, p.Name)
	}
	disabled := sets.New[string]()
	for _, p := range ep.set.Disabled {
		disabled.Insert(p.Name)
	}
	var out []string
	if !disabled.Has("*") {
		override := sets.New[string]()
		var multi []string
		for _, p := range plugins.MultiPoint.Enabled {
			pl := f.pluginsMap[p.Name]
			if !ep.is(pl) || disabled.Has(p.Name) {
				continue
			}
			if slices.Contains(enabled, p.Name) {
				override.Insert(p.Name)
				continue
			}
			if slices.Contains(multi, p.Name) {
				return nil, fmt.Errorf("plugin %q already registered as %q", p.Name, ep.name)
			}
			multi = append(multi, p.Name)
		}
		for _, n := range enabled {
			if override.Has(n) {
				out = append(out, n)
			}
		}
		out = append(out, multi...)
		for _, n := range enabled {
			if !override.Has(n) {
				out = append(out, n)
			}
		}
	} else {
		out = enabled
	}
	list := make([]Plugin, 0, len(out))
	for _, n := range out {
		list = append(list, f.pluginsMap[n])
	}
	return list, nil
}

type defaultEnqueueExtension struct{ name string }

func (d *defaultEnqueueExtension) Name() string { return d.name }
func (d *defaultEnqueueExtension) EventsToRegister(context.Context) ([]ClusterEventWithHint, error) {
	return []ClusterEventWithHint{{Event: ClusterEvent{Resource: WildCard, ActionType: All}}}, nil
}

// ProfileName is the profile's schedulerName.
func (f *Framework) ProfileName() string { return f.profileName }

// PercentageOfNodesToScore is the profile's override, or nil.
func (f *Framework) PercentageOfNodesToScore() *int32 { return f.percentageOfNodesToScore }

// PreEnqueuePlugins are the profile's PreEnqueue plugins.
func (f *Framework) PreEnqueuePlugins() []PreEnqueuePlugin { return f.preEnqueue }

// EnqueueExtensions are the event registrations of the profile's plugins.
func (f *Framework) EnqueueExtensions() []EnqueueExtensions { return f.enqueueExtensions }

// QueueSortFunc is the profile's queue order (priority, then arrival by
// default).
func (f *Framework) QueueSortFunc() func(a, b *QueuedPodInfo) bool {
	if len(f.queueSort) == 0 {
		return func(a, b *QueuedPodInfo) bool {
			p1, p2 := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
			return p1 > p2 || (p1 == p2 && a.Timestamp.Before(b.Timestamp))
		}
	}
	return f.queueSort[0].Less
}

// ListPlugins names the plugins at each extension point (for logs and tests).
func (f *Framework) ListPlugins() map[string][]string {
	out := map[string][]string{}
	add := func(point string, ps []Plugin) {
		for _, p := range ps {
			out[point] = append(out[point], p.Name())
		}
	}
	add("PreEnqueue", as2(f.preEnqueue))
	add("QueueSort", as2(f.queueSort))
	add("PreFilter", as2(f.preFilter))
	add("Filter", as2(f.filter))
	add("PostFilter", as2(f.postFilter))
	add("PreScore", as2(f.preScore))
	add("Score", as2(f.score))
	add("Reserve", as2(f.reserve))
	add("PreBind", as2(f.preBind))
	add("Bind", as2(f.bind))
	add("PostBind", as2(f.postBind))
	return out
}

// ScoreWeight is a score plugin's weight.
func (f *Framework) ScoreWeight(name string) int64 { return f.scoreWeights[name] }

// Plugin returns an instantiated plugin by name.
func (f *Framework) Plugin(name string) Plugin { return f.pluginsMap[name] }

// HasFilterPlugins reports whether Filter plugins are configured.
func (f *Framework) HasFilterPlugins() bool { return len(f.filter) > 0 }

// HasPostFilterPlugins reports whether PostFilter plugins are configured.
func (f *Framework) HasPostFilterPlugins() bool { return len(f.postFilter) > 0 }

// HasScorePlugins reports whether Score plugins are configured.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// SetPodNominator wires the queue's nominator.
func (f *Framework) SetPodNominator(n PodNominator) { f.nominator = n }

// SetPodActivator wires the queue's activator.
func (f *Framework) SetPodActivator(a PodActivator) { f.activator = a }

// Handle methods.

func (f *Framework) SnapshotSharedLister() SharedLister { return f.Snapshot }
func (f *Framework) ClientSet() clientset.Interface     { return f.Options.ClientSet }
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory {
	return f.InformerFactory
}
func (f *Framework) EventRecorder() events.EventRecorder { return f.Options.EventRecorder }
func (f *Framework) Parallelizer() Parallelizer {
	if f.Options.Parallelizer == nil {
		return NewParallelizer(DefaultParallelism)
	}
	return f.Options.Parallelizer
}
func (f *Framework) Served(gvr string) bool { return f.Options.Served == nil || f.Options.Served(gvr) }

func (f *Framework) AddNominatedPod(logger klog.Logger, pi *PodInfo, ni *NominatingInfo) {
	if f.nominator != nil {
		f.nominator.AddNominatedPod(logger, pi, ni)
	}
}
func (f *Framework) DeleteNominatedPodIfExists(pod *v1.Pod) {
	if f.nominator != nil {
		f.nominator.DeleteNominatedPodIfExists(pod)
	}
}
func (f *Framework) UpdateNominatedPod(logger klog.Logger, oldPod *v1.Pod, newPodInfo *PodInfo) {
	if f.nominator != nil {
		f.nominator.UpdateNominatedPod(logger, oldPod, newPodInfo)
	}
}
func (f *Framework) NominatedPodsForNode(nodeName string) []*PodInfo {
	if f.nominator == nil {
		return nil
	}
	return f.nominator.NominatedPodsForNode(nodeName)
}
func (f *Framework) Activate(logger klog.Logger, pods map[string]*v1.Pod) {
	if f.activator != nil {
		f.activator.Activate(logger, pods)
	}
}
