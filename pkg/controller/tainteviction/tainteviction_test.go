package tainteviction

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
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

func newWorld(t *testing.T) *world {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := NewController(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(), clk)
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = record.NewFakeRecorder(100)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.ctx = ctx
	return &world{t: t, client: client, factory: factory, c: c, clock: clk}
}

func (w *world) addPod(name string, tolerations ...corev1.Toleration) {
	w.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{NodeName: "n1", Tolerations: tolerations}}
	if _, err := w.client.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	if err := w.factory.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) setTaints(taints ...corev1.Taint) {
	w.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Taints: taints}}
	if err := w.factory.Core().V1().Nodes().Informer().GetIndexer().Update(n); err != nil {
		w.t.Fatal(err)
	}
	if err := w.c.syncNode(context.Background(), "n1"); err != nil {
		w.t.Fatal(err)
	}
}

// exists waits briefly for the eviction goroutine, then reports whether
// the pod is still there.
func (w *world) exists(name string) bool {
	w.t.Helper()
	for i := 0; i < 100; i++ {
		_, err := w.client.CoreV1().Pods("ns").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

var unreachable = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}

func tolerate(seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func TestIntolerantPodEvictedAtOnce(t *testing.T) {
	w := newWorld(t)
	w.addPod("p")
	w.setTaints(unreachable)
	w.clock.Step(0)
	if w.exists("p") {
		t.Fatal("pod not tolerating the taint was not deleted")
	}
}

func TestTolerationSeconds(t *testing.T) {
	w := newWorld(t)
	w.addPod("short", tolerate(ptr.To[int64](300)))
	w.addPod("forever", tolerate(nil))
	w.setTaints(unreachable)
	w.clock.Step(299 * time.Second)
	if !w.exists("short") {
		t.Fatal("evicted before tolerationSeconds")
	}
	w.clock.Step(2 * time.Second)
	if w.exists("short") {
		t.Fatal("not evicted after tolerationSeconds")
	}
	if !w.exists("forever") {
		t.Error("pod tolerating forever was evicted")
	}
	if _, ok := w.c.evictions[types.NamespacedName{Namespace: "ns", Name: "forever"}]; ok {
		t.Error("eviction scheduled for a pod tolerating forever")
	}
}

func TestTaintRemovedCancels(t *testing.T) {
	w := newWorld(t)
	w.addPod("p", tolerate(ptr.To[int64](60)))
	w.setTaints(unreachable)
	w.clock.Step(30 * time.Second)
	w.setTaints()
	w.clock.Step(60 * time.Second)
	if !w.exists("p") {
		t.Fatal("pod evicted after the taint was removed")
	}
}

func TestDisruptionTargetCondition(t *testing.T) {
	w := newWorld(t)
	w.addPod("p")
	var got *corev1.Pod
	w.client.PrependReactor("delete", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p, _ := w.client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "ns", "p")
		got = p.(*corev1.Pod)
		return false, nil, nil
	})
	if err := w.c.deletePod(context.Background(), types.NamespacedName{Namespace: "ns", Name: "p"}); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("pod not deleted")
	}
	var cond *corev1.PodCondition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == corev1.DisruptionTarget {
			cond = &got.Status.Conditions[i]
		}
	}
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != "DeletionByTaintManager" {
		t.Errorf("DisruptionTarget condition = %+v", cond)
	}
}

func TestMinTolerationTime(t *testing.T) {
	for _, tc := range []struct {
		tolerations []corev1.Toleration
		want        time.Duration
	}{
		{nil, 0},
		{[]corev1.Toleration{tolerate(nil)}, -1},
		{[]corev1.Toleration{tolerate(ptr.To[int64](30)), tolerate(ptr.To[int64](10)), tolerate(nil)}, 10 * time.Second},
		{[]corev1.Toleration{tolerate(ptr.To[int64](-5))}, 0},
	} {
		if got := minTolerationTime(tc.tolerations); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.tolerations, got, tc.want)
		}
	}
}
