//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// podEvents records what a pod informer saw, by pod name.
type podEvents struct {
	mu      sync.Mutex
	added   map[string]bool
	updated map[string]string // name -> last seen label "v" (from add or update)
	deleted map[string]bool
}

// TestPodInformerSurvivesRestart keeps a client-go pod informer running
// while the server restarts and checks it sees every add, update and delete
// made before, across and after the restart.
func TestPodInformerSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := framework.StartServer(t)
	client, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ev := &podEvents{added: map[string]bool{}, updated: map[string]string{}, deleted: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			p := obj.(*corev1.Pod)
			ev.mu.Lock()
			ev.added[p.Name] = true
			// After a relist an informer reports an object it missed
			// being created and changed as one add of its latest state.
			if v, ok := p.Labels["v"]; ok {
				ev.updated[p.Name] = v
			}
			ev.mu.Unlock()
		},
		UpdateFunc: func(_, obj interface{}) {
			p := obj.(*corev1.Pod)
			ev.mu.Lock()
			ev.updated[p.Name] = p.Labels["v"]
			ev.mu.Unlock()
		},
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			p := obj.(*corev1.Pod)
			ev.mu.Lock()
			ev.deleted[p.Name] = true
			ev.mu.Unlock()
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}

	pods := client.CoreV1().Pods("default")
	mk := func(name string) {
		t.Helper()
		_, err := pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	label := func(name, v string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"v":%q}}}`, v)
		if _, err := pods.Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatalf("label %s: %v", name, err)
		}
	}
	del := func(name string) {
		t.Helper()
		// Unscheduled pods are deleted at once.
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}

	mk("before")
	mk("doomed")
	label("before", "1")

	s.Stop()
	s.Start()
	// The restarted server is a new process; the same client keeps working.
	mk("after")
	label("before", "2")
	label("after", "1")
	del("doomed")

	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.added["before"] && ev.added["doomed"] && ev.added["after"] &&
			ev.updated["before"] == "2" && ev.updated["after"] == "1" && ev.deleted["doomed"], nil
	})
	if err != nil {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		t.Fatalf("informer missed events across the restart: added=%v updated=%v deleted=%v", ev.added, ev.updated, ev.deleted)
	}
}
