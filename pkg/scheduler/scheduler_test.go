package scheduler

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/skiff-project/skiff/pkg/scheduler/config"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

// fakeCluster is a fake clientset whose pods/binding sets spec.nodeName,
// as the API server's binding subresource does.
func fakeCluster(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	cs := fake.NewClientset(objs...)
	var mu sync.Mutex
	cs.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(clienttesting.CreateAction)
		if !ok || ca.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*v1.Binding)
		mu.Lock()
		defer mu.Unlock()
		obj, err := cs.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		pod.Spec.NodeName = b.Target.Name
		pod.ResourceVersion = "2"
		return true, b, cs.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace)
	})
	return cs
}

func startScheduler(t *testing.T, ctx context.Context, cs *fake.Clientset) *Scheduler {
	t.Helper()
	f := NewInformerFactory(cs, 0)
	s, err := New(ctx, Config{Client: cs, InformerFactory: f, ComponentConfig: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go s.Run(ctx)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSchedulesAndReportsFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	objs := []runtime.Object{
		st.MakeNode("n1").Capacity(map[v1.ResourceName]string{"cpu": "2", "memory": "4Gi"}).Obj(),
		st.MakeNode("n2").Capacity(map[v1.ResourceName]string{"cpu": "2", "memory": "4Gi"}).Obj(),
		st.MakeNode("n3").Capacity(map[v1.ResourceName]string{"cpu": "2", "memory": "4Gi"}).
			Taints(v1.Taint{Key: "dedicated", Value: "x", Effect: v1.TaintEffectNoSchedule}).Obj(),
		st.MakePod("default", "a").Req(map[v1.ResourceName]string{"cpu": "1500m"}).Obj(),
		st.MakePod("default", "b").Req(map[v1.ResourceName]string{"cpu": "1500m"}).Obj(),
	}
	cs := fakeCluster(t, objs...)
	startScheduler(t, ctx, cs)

	bound := map[string]string{}
	waitFor(t, "a and b bound", func() bool {
		for _, n := range []string{"a", "b"} {
			p, _ := cs.CoreV1().Pods("default").Get(ctx, n, metav1.GetOptions{})
			bound[n] = p.Spec.NodeName
		}
		return bound["a"] != "" && bound["b"] != ""
	})
	if bound["a"] == bound["b"] || bound["a"] == "n3" || bound["b"] == "n3" {
		t.Fatalf("pods placed on %v; want one each on n1 and n2", bound)
	}

	for _, tc := range []struct {
		pod  *v1.Pod
		want string
	}{
		{
			// Fits once pods leave: preemption is tried, but no victim has
			// a lower priority.
			pod:  st.MakePod("default", "c").Req(map[v1.ResourceName]string{"cpu": "1"}).Obj(),
			want: "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
		},
		{
			// Larger than any node: preemption cannot help anywhere.
			pod:  st.MakePod("default", "huge").Req(map[v1.ResourceName]string{"cpu": "3"}).Obj(),
			want: "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
		},
	} {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, tc.pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var msg string
		waitFor(t, tc.pod.Name+"'s PodScheduled condition", func() bool {
			p, _ := cs.CoreV1().Pods("default").Get(ctx, tc.pod.Name, metav1.GetOptions{})
			for _, c := range p.Status.Conditions {
				if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse {
					msg = c.Message
					return c.Reason == v1.PodReasonUnschedulable
				}
			}
			return false
		})
		if msg != tc.want {
			t.Errorf("%s: condition message:\n got %q\nwant %q", tc.pod.Name, msg, tc.want)
		}
		if strings.Contains(msg, "%!") {
			t.Errorf("badly formatted message %q", msg)
		}
	}
}
