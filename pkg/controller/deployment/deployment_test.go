package deployment

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
	"k8s.io/client-go/tools/record"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// world runs the controller against a fake API: refresh copies the API's
// objects into the informer caches, as the watches would.
type world struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	recorder *record.FakeRecorder
	clock    *testclock.FakeClock
}

func newWorld(t *testing.T, objs ...runtime.Object) *world {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, client: client, factory: factory, c: c, recorder: record.NewFakeRecorder(100), clock: testclock.NewFakeClock(time.Now())}
	c.recorder = w.recorder
	created := 0
	// The fake API assigns no UIDs; the controller tells ReplicaSets apart by UID.
	client.PrependReactor("create", "replicasets", func(a clienttesting.Action) (bool, runtime.Object, error) {
		rs := a.(clienttesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
		rs.UID = types.UID("uid-" + rs.Name)
		created++
		rs.CreationTimestamp = metav1.NewTime(time.Now().Add(time.Duration(created) * time.Second))
		return false, nil, nil
	})
	c.clock = w.clock
	w.refresh()
	return w
}

func (w *world) refresh() {
	w.t.Helper()
	ctx := context.Background()
	ds, _ := w.client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	rss, _ := w.client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	pods, _ := w.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	replace := func(indexer interface {
		Replace([]interface{}, string) error
	}, items []interface{}) {
		if err := indexer.Replace(items, ""); err != nil {
			w.t.Fatal(err)
		}
	}
	var items []interface{}
	for i := range ds.Items {
		items = append(items, &ds.Items[i])
	}
	replace(w.factory.Apps().V1().Deployments().Informer().GetIndexer(), items)
	items = nil
	for i := range rss.Items {
		items = append(items, &rss.Items[i])
	}
	replace(w.factory.Apps().V1().ReplicaSets().Informer().GetIndexer(), items)
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	replace(w.factory.Core().V1().Pods().Informer().GetIndexer(), items)
}

func (w *world) sync(name string) {
	w.t.Helper()
	w.refresh()
	if err := w.c.sync(context.Background(), "ns/"+name); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	w.refresh()
}

// settle plays the ReplicaSet controller: every ReplicaSet gets as many
// pods as it wants, available ones as available(rs) says.
func (w *world) settle(available func(rs *appsv1.ReplicaSet) int32) {
	w.t.Helper()
	for _, rs := range w.replicaSets() {
		rs.Status.Replicas = *rs.Spec.Replicas
		rs.Status.ReadyReplicas = available(rs)
		rs.Status.AvailableReplicas = available(rs)
		rs.Status.ObservedGeneration = rs.Generation
		rs.Status.TerminatingReplicas = ptr.To[int32](0)
		if _, err := w.client.AppsV1().ReplicaSets("ns").UpdateStatus(context.Background(), rs, metav1.UpdateOptions{}); err != nil {
			w.t.Fatal(err)
		}
	}
	w.refresh()
}

func allAvailable(rs *appsv1.ReplicaSet) int32 { return *rs.Spec.Replicas }

func (w *world) replicaSets() []*appsv1.ReplicaSet {
	list, err := w.client.AppsV1().ReplicaSets("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool {
		ri, _ := revision(out[i])
		rj, _ := revision(out[j])
		return ri < rj
	})
	return out
}

func (w *world) deployment(name string) *appsv1.Deployment {
	d, err := w.client.AppsV1().Deployments("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *world) update(d *appsv1.Deployment) {
	d.Generation++
	if _, err := w.client.AppsV1().Deployments("ns").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func sizes(sets []*appsv1.ReplicaSet) string {
	var parts []string
	for _, rs := range sets {
		parts = append(parts, fmt.Sprint(*rs.Spec.Replicas))
	}
	return strings.Join(parts, ",")
}

func newDeployment(name string, replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

func TestNewDeploymentCreatesReplicaSet(t *testing.T) {
	d := newDeployment("web", 3, intstr.FromString("25%"), intstr.FromString("25%"))
	d.Annotations = map[string]string{"team": "a", corev1.LastAppliedConfigAnnotation: "{}"}
	w := newWorld(t, d)
	w.sync("web")
	sets := w.replicaSets()
	if len(sets) != 1 {
		t.Fatalf("%d replica sets", len(sets))
	}
	rs := sets[0]
	hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" || rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
		t.Errorf("replica set %s labels %v selector %v", rs.Name, rs.Labels, rs.Spec.Selector)
	}
	if *rs.Spec.Replicas != 3 {
		t.Errorf("replicas %d", *rs.Spec.Replicas)
	}
	wantAnn := map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4", "team": "a"}
	for k, v := range wantAnn {
		if rs.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if _, ok := rs.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied annotation copied")
	}
	ref := metav1.GetControllerOf(rs)
	if ref == nil || ref.Kind != "Deployment" || ref.UID != "d-uid" || !*ref.BlockOwnerDeletion {
		t.Errorf("owner %+v", ref)
	}
	got := w.deployment("web")
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision %q", got.Annotations[RevisionAnnotation])
	}
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if c == nil || c.Reason != NewReplicaSetReason || c.Message != fmt.Sprintf("Created new replica set %q", rs.Name) {
		t.Errorf("progressing %+v", c)
	}
	if ev := <-w.recorder.Events; ev != "Normal ScalingReplicaSet Scaled up replica set "+rs.Name+" from 0 to 3" {
		t.Errorf("event %q", ev)
	}

	// Pods come up: complete.
	w.settle(allAvailable)
	w.sync("web")
	got = w.deployment("web")
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewRSAvailableReason || c.Status != corev1.ConditionTrue ||
		c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name) {
		t.Errorf("progressing %+v", c)
	}
	if c := getCondition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Reason != MinimumReplicasAvailable || c.Status != corev1.ConditionTrue {
		t.Errorf("available %+v", c)
	}
	if got.Status.Replicas != 3 || got.Status.UpdatedReplicas != 3 || got.Status.AvailableReplicas != 3 || got.Status.ObservedGeneration != 1 ||
		got.Status.TerminatingReplicas == nil || *got.Status.TerminatingReplicas != 0 {
		t.Errorf("status %+v", got.Status)
	}
}

func TestRollingUpdateRespectsSurgeAndUnavailable(t *testing.T) {
	d := newDeployment("web", 4, intstr.FromInt32(1), intstr.FromInt32(1))
	w := newWorld(t, d)
	w.sync("web")
	w.settle(allAvailable)
	w.sync("web")

	cur := w.deployment("web")
	cur.Spec.Template.Spec.Containers[0].Image = "img:2"
	w.update(cur)

	// New pods never become available: the rollout stops at
	// maxUnavailable and maxSurge.
	notNew := func(rs *appsv1.ReplicaSet) int32 {
		if rs.Annotations[RevisionAnnotation] == "2" {
			return 0
		}
		return *rs.Spec.Replicas
	}
	var steps []string
	for i := 0; i < 6; i++ {
		w.sync("web")
		w.settle(notNew)
		sets := w.replicaSets()
		steps = append(steps, sizes(sets))
		total := int32(0)
		available := int32(0)
		for _, rs := range sets {
			total += *rs.Spec.Replicas
			available += notNew(rs)
		}
		if total > 5 {
			t.Fatalf("step %d: %d pods exceed replicas+maxSurge: %v", i, total, steps)
		}
		if available < 3 {
			t.Fatalf("step %d: %d available below replicas-maxUnavailable: %v", i, available, steps)
		}
	}
	if last := steps[len(steps)-1]; last != "3,2" {
		t.Errorf("stuck rollout ended at %s (steps %v), want old 3, new 2", last, steps)
	}
	// Now the new pods become available: the rollout finishes.
	for i := 0; i < 8; i++ {
		w.sync("web")
		w.settle(allAvailable)
	}
	if got := sizes(w.replicaSets()); got != "0,4" {
		t.Fatalf("final sizes %s", got)
	}
	w.sync("web")
	got := w.deployment("web")
	if got.Annotations[RevisionAnnotation] != "2" || got.Status.UpdatedReplicas != 4 || got.Status.Replicas != 4 {
		t.Errorf("deployment %v %+v", got.Annotations, got.Status)
	}
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewRSAvailableReason {
		t.Errorf("progressing %+v", c)
	}
}

func TestRecreateWaitsForOldPods(t *testing.T) {
	d := newDeployment("web", 2, intstr.FromInt32(0), intstr.FromInt32(0))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	w := newWorld(t, d)
	w.sync("web")
	w.settle(allAvailable)
	old := w.replicaSets()[0]
	// A running pod of the old ReplicaSet.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: old.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(old, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if _, err := w.client.CoreV1().Pods("ns").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur := w.deployment("web")
	cur.Spec.Template.Spec.Containers[0].Image = "img:2"
	w.update(cur)
	w.sync("web")
	if sets := w.replicaSets(); len(sets) != 1 || *sets[0].Spec.Replicas != 0 {
		t.Fatalf("old not scaled down first: %s", sizes(sets))
	}
	w.settle(allAvailable) // old ReplicaSet reports 0 replicas
	w.sync("web")
	if sets := w.replicaSets(); len(sets) != 1 {
		t.Fatalf("new replica set created while an old pod runs")
	}
	if err := w.client.CoreV1().Pods("ns").Delete(context.Background(), "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync("web")
	if sets := w.replicaSets(); sizes(sets) != "0,2" {
		t.Fatalf("sizes %s", sizes(sets))
	}
}

func TestPausedDeploymentDoesNotRollButScales(t *testing.T) {
	d := newDeployment("web", 2, intstr.FromInt32(1), intstr.FromInt32(0))
	w := newWorld(t, d)
	w.sync("web")
	w.settle(allAvailable)
	w.sync("web")
	cur := w.deployment("web")
	cur.Spec.Paused = true
	cur.Spec.Template.Spec.Containers[0].Image = "img:2"
	cur.Spec.Replicas = ptr.To[int32](5)
	w.update(cur)
	w.sync("web")
	sets := w.replicaSets()
	if len(sets) != 1 || *sets[0].Spec.Replicas != 5 {
		t.Fatalf("paused: sets %s", sizes(sets))
	}
	got := w.deployment("web")
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != PausedDeployReason || c.Status != corev1.ConditionUnknown {
		t.Errorf("progressing %+v", c)
	}
	got.Spec.Paused = false
	w.update(got)
	w.sync("web")
	got = w.deployment("web")
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewReplicaSetReason {
		t.Errorf("after resume: progressing %+v", c)
	}
	if len(w.replicaSets()) != 2 {
		t.Errorf("resume did not start the rollout")
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	d := newDeployment("web", 2, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](30)
	w := newWorld(t, d)
	w.sync("web")
	w.settle(func(*appsv1.ReplicaSet) int32 { return 0 })
	w.sync("web")
	w.clock.Step(31 * time.Second)
	// Conditions' times come from the wall clock; age the condition.
	got := w.deployment("web")
	for i := range got.Status.Conditions {
		got.Status.Conditions[i].LastUpdateTime = metav1.NewTime(time.Now().Add(-time.Minute))
	}
	w.c.clock = testclock.NewFakeClock(time.Now())
	if _, err := w.client.AppsV1().Deployments("ns").UpdateStatus(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync("web")
	got = w.deployment("web")
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if c == nil || c.Reason != TimedOutReason || c.Status != corev1.ConditionFalse || !strings.HasSuffix(c.Message, "has timed out progressing.") {
		t.Fatalf("progressing %+v", c)
	}
	if a := getCondition(got.Status, appsv1.DeploymentAvailable); a == nil || a.Reason != MinimumReplicasUnavailable || a.Status != corev1.ConditionFalse {
		t.Errorf("available %+v", a)
	}
}

func TestRevisionHistoryLimitAndRollbackReusesReplicaSet(t *testing.T) {
	d := newDeployment("web", 1, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	w := newWorld(t, d)
	roll := func(image string) {
		cur := w.deployment("web")
		cur.Spec.Template.Spec.Containers[0].Image = image
		w.update(cur)
		for i := 0; i < 6; i++ {
			w.sync("web")
			w.settle(allAvailable)
		}
	}
	w.sync("web")
	w.settle(allAvailable)
	roll("img:2")
	roll("img:3")
	sets := w.replicaSets()
	if len(sets) != 2 {
		t.Fatalf("history limit 1 keeps 1 old replica set, got %d", len(sets))
	}
	if r, _ := revision(sets[0]); r != 2 {
		t.Errorf("kept revision %d, want 2", r)
	}
	// kubectl rollout undo: the template of revision 2 is put back.
	roll("img:2")
	sets = w.replicaSets()
	if len(sets) != 2 {
		t.Fatalf("rollback created a new replica set: %d", len(sets))
	}
	top := sets[len(sets)-1]
	if top.Spec.Template.Spec.Containers[0].Image != "img:2" || top.Annotations[RevisionAnnotation] != "4" || top.Annotations[RevisionHistoryAnnotation] != "2" {
		t.Errorf("rolled-back replica set %s image %s annotations %v", top.Name, top.Spec.Template.Spec.Containers[0].Image, top.Annotations)
	}
	if got := w.deployment("web"); got.Annotations[RevisionAnnotation] != "4" {
		t.Errorf("deployment revision %q", got.Annotations[RevisionAnnotation])
	}
}

func TestProportionalScalingDuringRollout(t *testing.T) {
	d := newDeployment("web", 10, intstr.FromInt32(3), intstr.FromInt32(2))
	w := newWorld(t, d)
	w.sync("web")
	w.settle(allAvailable)
	cur := w.deployment("web")
	cur.Spec.Template.Spec.Containers[0].Image = "img:2"
	w.update(cur)
	w.sync("web") // new RS: 3 (surge); old: 10 -> 8 (unavailable 2)
	if got := sizes(w.replicaSets()); got != "8,3" {
		t.Fatalf("mid-rollout sizes %s", got)
	}
	cur = w.deployment("web")
	cur.Spec.Replicas = ptr.To[int32](20)
	w.update(cur)
	w.sync("web")
	// 11 pods for 13 allowed become 23 allowed: +12, split by each
	// ReplicaSet's share of 13 (8 -> +6, 3 -> +2), the rounding
	// leftover (4) to the largest.
	sets := w.replicaSets()
	if specReplicas(sets) != 23 {
		t.Fatalf("sizes after scaling %s, want a total of 23", sizes(sets))
	}
	if got := sizes(sets); got != "18,5" {
		t.Errorf("proportions %s, want 18,5", got)
	}
}

func TestAdoptsOrphanReplicaSetAndPodsKeepLabels(t *testing.T) {
	d := newDeployment("web", 1, intstr.FromInt32(1), intstr.FromInt32(0))
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "ns", UID: "orphan-uid", Labels: map[string]string{"app": "web"}},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: d.Spec.Selector, Template: d.Spec.Template},
	}
	w := newWorld(t, d, orphan)
	var patched bool
	w.client.PrependReactor("patch", "replicasets", func(clienttesting.Action) (bool, runtime.Object, error) {
		patched = true
		return false, nil, nil
	})
	w.sync("web")
	if !patched {
		t.Fatal("orphan replica set not adopted")
	}
	// Its template is the Deployment's: no new ReplicaSet.
	if sets := w.replicaSets(); len(sets) != 1 {
		t.Errorf("replica sets %d", len(sets))
	}
}
