package scheduler

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/informers/internalinterfaces"
	clientset "k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	schedcache "github.com/skiff-project/skiff/pkg/scheduler/cache"
	"github.com/skiff-project/skiff/pkg/scheduler/config"
	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins"
	"github.com/skiff-project/skiff/pkg/scheduler/queue"
)

// Upstream's bounds on how many nodes a cycle examines.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// Config is what a Scheduler is built from.
type Config struct {
	// Client reaches the API server (binding, status patches, preemption).
	Client clientset.Interface
	// InformerFactory is shared with the plugins; New registers the
	// scheduler's informers and the caller starts it.
	InformerFactory informers.SharedInformerFactory
	// ComponentConfig is the defaulted KubeSchedulerConfiguration.
	ComponentConfig *configv1.KubeSchedulerConfiguration
	// EventBroadcaster records events (events.k8s.io/v1 or core/v1).
	EventBroadcaster events.EventBroadcasterAdapter
	// Served reports whether the API server serves "group/version/resource";
	// informers for resources it does not serve are not started.
	Served func(gvr string) bool
	// Registry overrides the in-tree plugins (tests).
	Registry framework.Registry
}

// Scheduler assigns pending pods to nodes.
type Scheduler struct {
	Cache    *schedcache.Cache
	Queue    *queue.PriorityQueue
	Profiles map[string]*framework.Framework

	client                   clientset.Interface
	informerFactory          informers.SharedInformerFactory
	podLister                corelisters.PodLister
	snapshot                 *schedcache.Snapshot
	percentageOfNodesToScore int32
	nextStartNodeIndex       int
	served                   func(string) bool

	// OnScheduled, when set, is called after each successful bind with the
	// time from the pod's first attempt (benchmarks).
	OnScheduled func(pod *v1.Pod, latency time.Duration)
}

// NewPodInformer is the scheduler's pod informer: non-terminal pods only,
// without managedFields.
func NewPodInformer(cs clientset.Interface, resync time.Duration) cache.SharedIndexInformer {
	inf := coreinformers.NewPodInformerWithOptions(cs, metav1.NamespaceAll, internalinterfaces.InformerOptions{
		ResyncPeriod: resync,
		Indexers:     cache.Indexers{},
		TweakListOptions: func(o *metav1.ListOptions) {
			o.FieldSelector = fmt.Sprintf("status.phase!=%v,status.phase!=%v", v1.PodSucceeded, v1.PodFailed)
		},
	})
	_ = inf.SetTransform(func(obj any) (any, error) {
		if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
			a.SetManagedFields(nil)
		}
		return obj, nil
	})
	return inf
}

// NewInformerFactory returns a factory whose pod informer is NewPodInformer.
func NewInformerFactory(cs clientset.Interface, resync time.Duration) informers.SharedInformerFactory {
	f := informers.NewSharedInformerFactory(cs, resync)
	f.InformerFor(&v1.Pod{}, func(c clientset.Interface, resync time.Duration) cache.SharedIndexInformer {
		return NewPodInformer(c, resync)
	})
	return f
}

// New builds a scheduler and registers its event handlers.
func New(ctx context.Context, cfg Config) (*Scheduler, error) {
	cc := cfg.ComponentConfig
	if cc == nil {
		cc = config.Default()
	}
	served := cfg.Served
	if served == nil {
		served = func(string) bool { return true }
	}
	registry := cfg.Registry
	if registry == nil {
		registry = plugins.NewInTreeRegistry()
	}
	snapshot := schedcache.NewEmptySnapshot()
	parallelism := framework.DefaultParallelism
	if cc.Parallelism != nil {
		parallelism = int(*cc.Parallelism)
	}
	s := &Scheduler{
		Cache:           schedcache.New(),
		Profiles:        map[string]*framework.Framework{},
		client:          cfg.Client,
		informerFactory: cfg.InformerFactory,
		podLister:       cfg.InformerFactory.Core().V1().Pods().Lister(),
		snapshot:        snapshot,
		served:          served,
	}
	if cc.PercentageOfNodesToScore != nil {
		s.percentageOfNodesToScore = *cc.PercentageOfNodesToScore
	}
	queueProfiles := map[string]queue.Profile{}
	var less func(a, b *framework.QueuedPodInfo) bool
	for i := range cc.Profiles {
		prof := &cc.Profiles[i]
		var recorder events.EventRecorder
		if cfg.EventBroadcaster != nil {
			recorder = cfg.EventBroadcaster.NewRecorder(*prof.SchedulerName)
		}
		fw, err := framework.NewFramework(ctx, registry, prof, config.PluginArgs(prof), framework.Options{
			ClientSet:       cfg.Client,
			InformerFactory: cfg.InformerFactory,
			EventRecorder:   recorder,
			Parallelizer:    framework.NewParallelizer(parallelism),
			Snapshot:        snapshot,
			Served:          served,
		})
		if err != nil {
			return nil, fmt.Errorf("initializing profile %q: %w", *prof.SchedulerName, err)
		}
		s.Profiles[fw.ProfileName()] = fw
		hints, err := buildQueueingHintMap(ctx, fw.EnqueueExtensions())
		if err != nil {
			return nil, err
		}
		queueProfiles[fw.ProfileName()] = queue.Profile{Hints: hints, PreEnqueue: fw.PreEnqueuePlugins()}
		if less == nil {
			less = fw.QueueSortFunc()
		}
	}
	if len(s.Profiles) == 0 {
		return nil, fmt.Errorf("at least one profile is required")
	}
	opts := queue.Options{}
	if cc.PodInitialBackoffSeconds != nil {
		opts.PodInitialBackoffDuration = time.Duration(*cc.PodInitialBackoffSeconds) * time.Second
	}
	if cc.PodMaxBackoffSeconds != nil {
		opts.PodMaxBackoffDuration = time.Duration(*cc.PodMaxBackoffSeconds) * time.Second
	}
	s.Queue = queue.New(less, queueProfiles, opts)
	for _, fw := range s.Profiles {
		fw.SetPodNominator(s.Queue)
		fw.SetPodActivator(s.Queue)
	}
	if err := s.addAllEventHandlers(); err != nil {
		return nil, err
	}
	return s, nil
}

func buildQueueingHintMap(ctx context.Context, exts []framework.EnqueueExtensions) (queue.QueueingHintMap, error) {
	m := queue.QueueingHintMap{}
	for _, e := range exts {
		events, err := e.EventsToRegister(ctx)
		if err != nil {
			return nil, fmt.Errorf("plugin %s EventsToRegister: %w", e.Name(), err)
		}
		// A plugin without events is requeued by any event, so it cannot
		// leave pods stuck.
		if len(events) == 0 {
			events = []framework.ClusterEventWithHint{{Event: framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.All}}}
		}
		for _, ev := range events {
			m[ev.Event] = append(m[ev.Event], queue.HintEntry{PluginName: e.Name(), Fn: ev.QueueingHintFn})
		}
	}
	return m, nil
}

// Run schedules pods until ctx ends. The informers must be started and
// synced first (see WaitForCacheSync).
func (s *Scheduler) Run(ctx context.Context) {
	s.Queue.Run(ctx)
	go func() {
		<-ctx.Done()
		s.Queue.Close()
	}()
	for ctx.Err() == nil {
		s.ScheduleOne(ctx)
	}
}

// numFeasibleNodesToFind is how many feasible nodes a cycle looks for
// before it stops filtering: all below 100 nodes, else a percentage
// (adaptive by default: 50% minus 1% per 125 nodes, at least 5%), and at
// least 100.
func (s *Scheduler) numFeasibleNodesToFind(profilePercentage *int32, numAllNodes int32) int32 {
	if numAllNodes < minFeasibleNodesToFind {
		return numAllNodes
	}
	percentage := s.percentageOfNodesToScore
	if profilePercentage != nil {
		percentage = *profilePercentage
	}
	if percentage == 0 {
		percentage = int32(50) - numAllNodes/125
		if percentage < minFeasibleNodesPercentageToFind {
			percentage = minFeasibleNodesPercentageToFind
		}
	}
	n := numAllNodes * percentage / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

var _ runtime.Object = &v1.Pod{}

func loggerFor(ctx context.Context, pod *v1.Pod) klog.Logger {
	return klog.LoggerWithValues(klog.FromContext(ctx), "pod", klog.KObj(pod))
}
