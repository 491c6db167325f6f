package testing

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	schedcache "github.com/skiff-project/skiff/pkg/scheduler/cache"
	"github.com/skiff-project/skiff/pkg/scheduler/config"
	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

type noopBinder struct{}

func (noopBinder) Name() string { return "NoopBinder" }
func (noopBinder) Bind(context.Context, *framework.CycleState, *v1.Pod, string) *framework.Status {
	return nil
}

// Framework is a framework for plugin tests, with the fake clientset and
// informers it uses.
type Framework struct {
	*framework.Framework
	Client   *fake.Clientset
	Informer informers.SharedInformerFactory
	Snapshot *schedcache.Snapshot
}

// NewFramework builds a framework running the named plugins (MultiPoint,
// with their default args unless args overrides) over a snapshot of nodes
// with pods; objs (PVCs, namespaces, ...) feed the informers.
func NewFramework(t testing.TB, registry framework.Registry, names []string, args map[string]runtime.Object, nodes []*v1.Node, pods []*v1.Pod, objs ...runtime.Object) *Framework {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := framework.Registry{"NoopBinder": func(context.Context, runtime.Object, framework.Handle) (framework.Plugin, error) {
		return noopBinder{}, nil
	}}
	for k, v := range registry {
		reg[k] = v
	}
	profile := &configv1.KubeSchedulerProfile{SchedulerName: new(string), Plugins: &configv1.Plugins{}}
	*profile.SchedulerName = v1.DefaultSchedulerName
	a := map[string]runtime.Object{}
	for _, n := range names {
		profile.Plugins.MultiPoint.Enabled = append(profile.Plugins.MultiPoint.Enabled, configv1.Plugin{Name: n})
		if d := config.DefaultArgs(n); d != nil {
			a[n] = d
		}
	}
	profile.Plugins.MultiPoint.Enabled = append(profile.Plugins.MultiPoint.Enabled, configv1.Plugin{Name: "NoopBinder"})
	for k, v := range args {
		a[k] = v
	}
	snapshot := NewSnapshot(nodes, pods)
	all := append([]runtime.Object(nil), objs...)
	for _, p := range pods {
		all = append(all, p)
	}
	for _, n := range nodes {
		all = append(all, n)
	}
	cs := fake.NewClientset(all...)
	f := informers.NewSharedInformerFactory(cs, 0)
	fw, err := framework.NewFramework(ctx, reg, profile, a, framework.Options{
		ClientSet: cs, InformerFactory: f, Snapshot: snapshot, Parallelizer: framework.NewParallelizer(4),
	})
	if err != nil {
		t.Fatalf("NewFramework: %v", err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return &Framework{Framework: fw, Client: cs, Informer: f, Snapshot: snapshot}
}

// NewSnapshot builds a snapshot of nodes with the pods assigned to them,
// through the scheduler cache (so image states are filled in).
func NewSnapshot(nodes []*v1.Node, pods []*v1.Pod) *schedcache.Snapshot {
	c := schedcache.New()
	logger := klog.Background()
	for _, n := range nodes {
		c.AddNode(logger, n)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			_ = c.AddPod(logger, p)
		}
	}
	s := schedcache.NewEmptySnapshot()
	_ = c.UpdateSnapshot(logger, s)
	return s
}

// NodeInfo returns a NodeInfo of node with pods.
func NodeInfo(node *v1.Node, pods ...*v1.Pod) *framework.NodeInfo {
	ni := framework.NewNodeInfo(pods...)
	if node != nil {
		ni.SetNode(node)
	}
	return ni
}

// Filter runs PreFilter and Filter of the framework's plugins for pod on
// the named node, as a scheduling cycle would.
func (f *Framework) Filter(t testing.TB, pod *v1.Pod, node string) *framework.Status {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	_, s, _ := f.RunPreFilterPlugins(ctx, state, pod)
	if !s.IsSuccess() {
		return s
	}
	ni, err := f.Snapshot.Get(node)
	if err != nil {
		t.Fatal(err)
	}
	return f.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
}

// Scores runs PreScore and Score (normalised and weighted) of the
// framework's plugins for pod over every node.
func (f *Framework) Scores(t testing.TB, pod *v1.Pod) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, s, _ := f.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() && !s.IsRejected() {
		t.Fatalf("PreFilter: %v", s)
	}
	nodes, _ := f.Snapshot.List()
	if s := f.RunPreScorePlugins(ctx, state, pod, nodes); !s.IsSuccess() {
		t.Fatalf("PreScore: %v", s)
	}
	scores, s := f.RunScorePlugins(ctx, state, pod, nodes)
	if !s.IsSuccess() {
		t.Fatalf("Score: %v", s)
	}
	out := map[string]int64{}
	for _, ns := range scores {
		out[ns.Name] = ns.TotalScore
	}
	return out
}
