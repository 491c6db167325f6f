package disruption

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fakescale "k8s.io/client-go/scale/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	clock   *clocktesting.FakeClock
}

var widgetGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}

func newWorld(t *testing.T) *world {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))
	mapper := apimeta.NewDefaultRESTMapper(nil)
	mapper.Add(widgetGVK, apimeta.RESTScopeNamespace)
	scales := &fakescale.FakeScaleClient{}
	scales.AddReactor("get", "widgets", func(a clienttesting.Action) (bool, runtime.Object, error) {
		return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns", UID: "widget-uid"},
			Spec: autoscalingv1.ScaleSpec{Replicas: 10}}, nil
	})
	f := factory
	c, err := NewController(client, f.Core().V1().Pods(), f.Policy().V1().PodDisruptionBudgets(), f.Core().V1().ReplicationControllers(),
		f.Apps().V1().ReplicaSets(), f.Apps().V1().Deployments(), f.Apps().V1().StatefulSets(), mapper, scales, nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = record.NewFakeRecorder(100)
	return &world{t: t, client: client, factory: factory, c: c, clock: clk}
}

func (w *world) add(objs ...runtime.Object) {
	w.t.Helper()
	for _, obj := range objs {
		var err error
		f := w.factory
		switch o := obj.(type) {
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *policyv1.PodDisruptionBudget:
			if err = f.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Add(o); err == nil {
				_, err = w.client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
			}
		case *appsv1.ReplicaSet:
			err = f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *appsv1.Deployment:
			err = f.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
		case *appsv1.StatefulSet:
			err = f.Apps().V1().StatefulSets().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) sync(name string) policyv1.PodDisruptionBudgetStatus {
	w.t.Helper()
	if err := w.c.sync(context.Background(), "ns/"+name); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	pdb, err := w.client.PolicyV1().PodDisruptionBudgets("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return pdb.Status
}

func pdb(name string, mutate func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 3},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	mutate(p)
	return p
}

func pod(name string, ready bool, owner *metav1.OwnerReference) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: map[string]string{"app": "web"}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func ref(apiVersion, kind, name string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(name + "-uid"), Controller: ptr.To(true)}
}

func condition(s policyv1.PodDisruptionBudgetStatus) string {
	c := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%s/%s", c.Status, c.Reason)
}

func summary(s policyv1.PodDisruptionBudgetStatus) string {
	return fmt.Sprintf("healthy=%d desired=%d expected=%d allowed=%d observed=%d %s",
		s.CurrentHealthy, s.DesiredHealthy, s.ExpectedPods, s.DisruptionsAllowed, s.ObservedGeneration, condition(s))
}

func TestMinAvailableInteger(t *testing.T) {
	w := newWorld(t)
	rs := ref("apps/v1", "ReplicaSet", "rs")
	w.add(pdb("p", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromInt32(2)) }),
		pod("a", true, rs), pod("b", true, rs), pod("c", true, rs), pod("d", false, rs))
	got := summary(w.sync("p"))
	if want := "healthy=3 desired=2 expected=4 allowed=1 observed=3 True/SufficientPods"; got != want {
		t.Errorf("status %s, want %s", got, want)
	}
}

func TestMaxUnavailableOfDeployment(t *testing.T) {
	w := newWorld(t)
	w.add(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "d-uid"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "rs-uid", OwnerReferences: []metav1.OwnerReference{*ref("apps/v1", "Deployment", "d")}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3)}})
	rs := ref("apps/v1", "ReplicaSet", "rs")
	w.add(pdb("p", func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1)) }),
		pod("a", true, rs), pod("b", true, rs), pod("c", false, rs))
	got := summary(w.sync("p"))
	if want := "healthy=2 desired=2 expected=3 allowed=0 observed=3 False/InsufficientPods"; got != want {
		t.Errorf("status %s, want %s", got, want)
	}
}

func TestPercentOfStatefulSetAndCustomScale(t *testing.T) {
	w := newWorld(t)
	w.add(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "ss", Namespace: "ns", UID: "ss-uid"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](4)}})
	ss := ref("apps/v1", "StatefulSet", "ss")
	widget := &metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "widget-uid", Controller: ptr.To(true)}
	w.add(pdb("p", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("50%")) }),
		pod("a", true, ss), pod("b", true, ss), pod("c", true, widget))
	// Expected: 4 (StatefulSet) + 10 (the widget's scale); 50% rounds up to 7.
	got := summary(w.sync("p"))
	if want := "healthy=3 desired=7 expected=14 allowed=0 observed=3 False/InsufficientPods"; got != want {
		t.Errorf("status %s, want %s", got, want)
	}
}

func TestMissingControllerFailsSafe(t *testing.T) {
	w := newWorld(t)
	w.add(pdb("p", func(p *policyv1.PodDisruptionBudget) {
		p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		p.Status.DisruptionsAllowed = 5
	}), pod("a", true, ref("apps/v1", "ReplicaSet", "gone")))
	s := w.sync("p")
	if s.DisruptionsAllowed != 0 || condition(s) != "False/SyncFailed" {
		t.Errorf("status %s, want no disruptions and SyncFailed", summary(s))
	}
}

func TestDisruptedPods(t *testing.T) {
	w := newWorld(t)
	rs := ref("apps/v1", "ReplicaSet", "rs")
	now := w.clock.Now()
	w.add(pdb("p", func(p *policyv1.PodDisruptionBudget) {
		p.Spec.MinAvailable = ptr.To(intstr.FromInt32(1))
		p.Status.DisruptedPods = map[string]metav1.Time{
			"a": metav1.NewTime(now.Add(-time.Minute)),     // evicted a minute ago: not healthy
			"b": metav1.NewTime(now.Add(-3 * time.Minute)), // never deleted: dropped, healthy again
		}
	}), pod("a", true, rs), pod("b", true, rs), pod("c", true, rs))
	s := w.sync("p")
	if _, ok := s.DisruptedPods["a"]; !ok || len(s.DisruptedPods) != 1 {
		t.Errorf("disruptedPods = %v, want only a", s.DisruptedPods)
	}
	if s.CurrentHealthy != 2 || s.DisruptionsAllowed != 1 {
		t.Errorf("status %s", summary(s))
	}
	if w.c.recheckQueue.Len() != 0 {
		t.Fatalf("recheck queued immediately")
	}
	// Past a's timeout, the recheck brings the budget back and a counts.
	w.clock.Step(61 * time.Second)
	if err := waitFor(func() bool { return w.c.recheckQueue.Len() == 1 }); err != nil {
		t.Fatal("no recheck of the budget when the eviction times out")
	}
	s = w.sync("p")
	if len(s.DisruptedPods) != 0 || s.CurrentHealthy != 3 {
		t.Errorf("after timeout: %s %v", summary(s), s.DisruptedPods)
	}
}

func waitFor(cond func() bool) error {
	for i := 0; i < 200; i++ {
		if cond() {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("timed out")
}

func TestNoWriteWhenCurrent(t *testing.T) {
	w := newWorld(t)
	rs := ref("apps/v1", "ReplicaSet", "rs")
	w.add(pdb("p", func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromInt32(1)) }), pod("a", true, rs))
	w.sync("p")
	cur, _ := w.client.PolicyV1().PodDisruptionBudgets("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if err := w.factory.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Update(cur); err != nil {
		t.Fatal(err)
	}
	w.client.ClearActions()
	if err := w.c.sync(context.Background(), "ns/p"); err != nil {
		t.Fatal(err)
	}
	for _, a := range w.client.Actions() {
		if a.GetVerb() == "update" {
			t.Errorf("status rewritten without change")
		}
	}
}

func TestStaleDisruptionTarget(t *testing.T) {
	w := newWorld(t)
	p := pod("a", true, nil)
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", LastTransitionTime: metav1.NewTime(w.clock.Now().Add(-3 * time.Minute))})
	w.add(p)
	if _, err := w.client.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.c.syncStalePodDisruption(context.Background(), "ns/a"); err != nil {
		t.Fatal(err)
	}
	got, _ := w.client.CoreV1().Pods("ns").Get(context.Background(), "a", metav1.GetOptions{})
	for _, c := range got.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status != corev1.ConditionFalse {
			t.Errorf("DisruptionTarget = %s, want False", c.Status)
		}
	}
	// A fresh condition waits.
	fresh := pod("b", true, nil)
	fresh.Status.Conditions = append(fresh.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.NewTime(w.clock.Now().Add(-30 * time.Second))})
	if stale, after := w.c.staleDisruptionCondition(fresh); !stale || after != 90*time.Second {
		t.Errorf("fresh condition: stale=%v after=%v", stale, after)
	}
}
