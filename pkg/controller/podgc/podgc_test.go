package podgc

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func pod(name, node string, phase corev1.PodPhase, age time.Duration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func TestPodGC(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	evicted := pod("evicted", "n1", corev1.PodFailed, time.Minute)
	evicted.Status.Reason = "Evicted"
	terminating := pod("unscheduled-terminating", "", corev1.PodPending, time.Minute)
	terminating.DeletionTimestamp = ptr.To(metav1.Now())
	objs := []runtime.Object{
		node,
		pod("old-done", "n1", corev1.PodSucceeded, 3*time.Hour),
		pod("new-done", "n1", corev1.PodSucceeded, time.Hour),
		evicted,
		pod("running", "n1", corev1.PodRunning, time.Hour),
		pod("orphan", "gone", corev1.PodRunning, time.Hour),
		terminating,
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		var err error
		switch v := o.(type) {
		case *corev1.Node:
			err = factory.Core().V1().Nodes().Informer().GetIndexer().Add(v)
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetIndexer().Add(v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c := NewController(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(), 1)
	c.quarantineTime = 0
	var statusPatches []string
	client.PrependReactor("patch", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.PatchAction)
		if p.GetSubresource() == "status" {
			statusPatches = append(statusPatches, p.GetName()+" "+string(p.GetPatch()))
		}
		return false, nil, nil
	})
	// With no quarantine, the missing node is checked in the same sweep.
	c.gc(context.Background())

	list, _ := client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, p := range list.Items {
		left = append(left, p.Name)
	}
	sort.Strings(left)
	// Threshold 1 of 3 terminated: the evicted one, then the oldest go.
	if got := strings.Join(left, ","); got != "new-done,running" {
		t.Fatalf("pods left %s", got)
	}
	joined := strings.Join(statusPatches, "\n")
	if !strings.Contains(joined, "orphan ") || !strings.Contains(joined, `"reason":"DeletionByPodGC"`) || !strings.Contains(joined, `"phase":"Failed"`) ||
		!strings.Contains(joined, `"uid":"uid-orphan"`) {
		t.Errorf("status patches %s", joined)
	}
}
