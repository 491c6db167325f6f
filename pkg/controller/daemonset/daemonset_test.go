package daemonset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

type world struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	recorder *record.FakeRecorder
}

func newWorld(t *testing.T, objs ...runtime.Object) *world {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Apps().V1().DaemonSets(), factory.Apps().V1().ControllerRevisions(), factory.Core().V1().Pods(), factory.Core().V1().Nodes())
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(1000)
	c.recorder = rec
	n := 0
	client.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		obj := a.(clienttesting.CreateAction).GetObject()
		m := obj.(metav1.Object)
		n++
		if m.GetName() == "" {
			m.SetName(fmt.Sprintf("%s%d", m.GetGenerateName(), n))
		}
		m.SetUID(types.UID(fmt.Sprintf("uid-%d", n)))
		m.SetCreationTimestamp(metav1.NewTime(time.Now().Add(time.Duration(n) * time.Millisecond)))
		if pod, ok := obj.(*corev1.Pod); ok {
			pod.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	w := &world{t: t, client: client, factory: factory, c: c, recorder: rec}
	c.podControl = controller.RealPodControl{Client: client, Recorder: rec}
	w.refresh()
	return w
}

func (w *world) refresh() {
	ctx := context.Background()
	fill := func(indexer cache.Indexer, items []interface{}) {
		if err := indexer.Replace(items, ""); err != nil {
			w.t.Fatal(err)
		}
	}
	dss, _ := w.client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	pods, _ := w.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	nodes, _ := w.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	revs, _ := w.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	var items []interface{}
	for i := range dss.Items {
		items = append(items, &dss.Items[i])
	}
	fill(w.factory.Apps().V1().DaemonSets().Informer().GetIndexer(), items)
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	fill(w.factory.Core().V1().Pods().Informer().GetIndexer(), items)
	items = nil
	for i := range nodes.Items {
		items = append(items, &nodes.Items[i])
	}
	fill(w.factory.Core().V1().Nodes().Informer().GetIndexer(), items)
	items = nil
	for i := range revs.Items {
		items = append(items, &revs.Items[i])
	}
	fill(w.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer(), items)
}

func (w *world) sync() {
	w.t.Helper()
	w.refresh()
	// Expectations are met by the informer in a real run.
	w.c.expectations.Delete("ns/ds")
	if err := w.c.sync(context.Background(), "ns/ds"); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	w.refresh()
}

// run plays the scheduler and kubelet: pods get bound to their pinned
// node; running and ready when ready is set.
func (w *world) run(ready bool) {
	for _, p := range w.pods() {
		node, err := targetNode(p)
		if err != nil {
			w.t.Fatal(err)
		}
		p.Spec.NodeName = node
		if _, err := w.client.CoreV1().Pods("ns").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			w.t.Fatal(err)
		}
		if ready && p.Status.Phase != corev1.PodRunning {
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
			if _, err := w.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

func (w *world) pods() []*corev1.Pod {
	list, _ := w.client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out
}

// placement is "node:hash" per pod, sorted.
func (w *world) placement() string {
	var out []string
	for _, p := range w.pods() {
		node, _ := targetNode(p)
		out = append(out, node+":"+p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey][:3])
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (w *world) ds() *appsv1.DaemonSet {
	ds, err := w.client.AppsV1().DaemonSets("ns").Get(context.Background(), "ds", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return ds
}

func (w *world) updateDS(f func(*appsv1.DaemonSet)) {
	ds := w.ds()
	f(ds)
	ds.Generation++
	if _, err := w.client.AppsV1().DaemonSets("ns").Update(context.Background(), ds, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func newDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "ns", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ds"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ds"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"role": "worker"},
					Containers:   []corev1.Container{{Name: "c", Image: "img:1"}},
				},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

var worker = map[string]string{"role": "worker"}

func TestOnePodPerEligibleNode(t *testing.T) {
	w := newWorld(t, newDS(),
		node("a", worker),
		node("b", map[string]string{"role": "db"}),
		node("c", worker, corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}),
		node("d", worker, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}),
	)
	w.sync()
	pods := w.pods()
	var nodes []string
	for _, p := range pods {
		n, _ := targetNode(p)
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	if strings.Join(nodes, ",") != "a,d" {
		t.Fatalf("pods on %v, want a and d (b: selector, c: untolerated taint)", nodes)
	}
	p := pods[0]
	if p.Spec.NodeName != "" || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Key != "metadata.name" {
		t.Errorf("pod not pinned by node affinity: %+v", p.Spec.Affinity)
	}
	tolerated := map[string]bool{}
	for _, tol := range p.Spec.Tolerations {
		tolerated[tol.Key+"/"+string(tol.Effect)] = true
	}
	for _, want := range []string{"node.kubernetes.io/not-ready/NoExecute", "node.kubernetes.io/unreachable/NoExecute", "node.kubernetes.io/disk-pressure/NoSchedule",
		"node.kubernetes.io/memory-pressure/NoSchedule", "node.kubernetes.io/pid-pressure/NoSchedule", "node.kubernetes.io/unschedulable/NoSchedule"} {
		if !tolerated[want] {
			t.Errorf("missing toleration %s", want)
		}
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || metav1.GetControllerOf(p).Kind != "DaemonSet" {
		t.Errorf("labels %v", p.Labels)
	}
	w.run(true)
	w.sync()
	st := w.ds().Status
	if st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 2 || st.NumberReady != 2 || st.NumberAvailable != 2 ||
		st.UpdatedNumberScheduled != 2 || st.NumberMisscheduled != 0 || st.NumberUnavailable != 0 || st.ObservedGeneration != 1 {
		t.Errorf("status %+v", st)
	}
	revs, _ := w.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 1 || revs.Items[0].Revision != 1 || revs.Items[0].Name != "ds-"+p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] {
		t.Errorf("revisions %+v", revs.Items)
	}
}

func TestNoExecuteTaintEvictsAndLabelChangeAdds(t *testing.T) {
	w := newWorld(t, newDS(), node("a", worker), node("b", nil))
	w.sync()
	w.run(true)
	w.sync()
	a, _ := w.client.CoreV1().Nodes().Get(context.Background(), "a", metav1.GetOptions{})
	a.Spec.Taints = []corev1.Taint{{Key: "evict", Effect: corev1.TaintEffectNoExecute}}
	if _, err := w.client.CoreV1().Nodes().Update(context.Background(), a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := w.client.CoreV1().Nodes().Get(context.Background(), "b", metav1.GetOptions{})
	b.Labels = worker
	if _, err := w.client.CoreV1().Nodes().Update(context.Background(), b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	if got := w.placement(); !strings.HasPrefix(got, "b:") || strings.Contains(got, "a:") {
		t.Fatalf("placement %s, want only b", got)
	}
}

func TestFailedPodIsReplaced(t *testing.T) {
	w := newWorld(t, newDS(), node("a", worker))
	w.sync()
	w.run(true)
	p := w.pods()[0]
	p.Status.Phase = corev1.PodFailed
	if _, err := w.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	if len(w.pods()) != 0 {
		t.Fatalf("failed pod not deleted")
	}
	found := false
	for len(w.recorder.Events) > 0 {
		if ev := <-w.recorder.Events; strings.HasPrefix(ev, "Warning FailedDaemonPod Found failed daemon pod ns/"+p.Name+" on node a, will try to kill it") {
			found = true
		}
	}
	if !found {
		t.Error("no FailedDaemonPod event")
	}
	w.sync()
	if len(w.pods()) != 1 {
		t.Fatalf("no replacement pod")
	}
}

func TestRollingUpdateMaxUnavailable(t *testing.T) {
	w := newWorld(t, newDS(), node("a", worker), node("b", worker), node("c", worker))
	w.sync()
	w.run(true)
	w.sync()
	oldHash := w.pods()[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey][:3]
	w.updateDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:2" })
	w.sync()
	if n := len(w.pods()); n != 2 {
		t.Fatalf("%d pods after first update sync, want one old pod deleted (maxUnavailable 1): %s", n, w.placement())
	}
	// Next sync creates the replacement; nothing else goes while it is
	// not available.
	w.sync()
	w.run(false)
	w.sync()
	old := strings.Count(w.placement(), ":"+oldHash)
	if old != 2 {
		t.Fatalf("placement %s: want 2 old pods while the new one is unavailable", w.placement())
	}
	for i := 0; i < 8; i++ {
		w.run(true)
		w.sync()
	}
	if strings.Contains(w.placement(), ":"+oldHash) || len(w.pods()) != 3 {
		t.Fatalf("rollout did not finish: %s", w.placement())
	}
	st := w.ds().Status
	if st.UpdatedNumberScheduled != 3 || st.NumberAvailable != 3 {
		t.Errorf("status %+v", st)
	}
	revs, _ := w.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 2 {
		t.Errorf("%d revisions", len(revs.Items))
	}
}

func TestRollingUpdateSurge(t *testing.T) {
	ds := newDS()
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}
	w := newWorld(t, ds, node("a", worker), node("b", worker))
	w.sync()
	w.run(true)
	w.sync()
	w.updateDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:2" })
	w.sync()
	if n := len(w.pods()); n != 3 {
		t.Fatalf("%d pods, want one surge pod next to the two old ones: %s", n, w.placement())
	}
	w.run(false)
	w.sync()
	if n := len(w.pods()); n != 3 {
		t.Fatalf("old pod removed before its replacement is available: %s", w.placement())
	}
	for i := 0; i < 6; i++ {
		w.run(true)
		w.sync()
	}
	if n := len(w.pods()); n != 2 || w.ds().Status.UpdatedNumberScheduled != 2 {
		t.Fatalf("surge rollout did not finish: %s %+v", w.placement(), w.ds().Status)
	}
}
