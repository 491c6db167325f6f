//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// podRecorder watches the pods of a namespace and records, in the API
// server's order, when each pod first appears and first turns Ready, and
// the most pods alive (neither terminal nor deleted) at once.
type podRecorder struct {
	mu       sync.Mutex
	events   []string
	seen     map[string]bool
	ready    map[string]bool
	alive    map[string]bool
	maxAlive int
	cancel   context.CancelFunc
	done     chan struct{}
}

func recordPods(t *testing.T, c kubernetes.Interface, ns string) *podRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &podRecorder{seen: map[string]bool{}, ready: map[string]bool{}, alive: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			r.mu.Lock()
			if !r.seen[p.Name] {
				r.seen[p.Name] = true
				r.events = append(r.events, "created "+p.Name)
			}
			if podReady(p) && !r.ready[p.Name] {
				r.ready[p.Name] = true
				r.events = append(r.events, "ready "+p.Name)
			}
			live := ev.Type != watch.Deleted && p.DeletionTimestamp == nil &&
				p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
			if live {
				r.alive[p.Name] = true
			} else {
				delete(r.alive, p.Name)
			}
			r.maxAlive = max(r.maxAlive, len(r.alive))
			r.mu.Unlock()
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *podRecorder) stop() {
	r.cancel()
	<-r.done
}

func (r *podRecorder) snapshot() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), r.maxAlive
}

// testStatefulSetOrdered: a StatefulSet of 3 with a volume claim template
// creates db-0, db-1, db-2 each after the previous one is Ready, and each
// gets a PersistentVolumeClaim bound by the local-path provisioner.
func testStatefulSetOrdered(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-sts")
	rec := recordPods(t, c, ns)
	kubectlMust(t, s, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: db, namespace: %[1]s}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: %[1]s}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: registry.k8s.io/pause:3.10, volumeMounts: [{name: data, mountPath: /data}]}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
`, ns), "apply", "-f", "-")
	kubectlMust(t, s, "", "rollout", "status", "statefulset/db", "-n", ns, "--timeout=60s")
	rec.stop()
	events, _ := rec.snapshot()
	want := []string{"created db-0", "ready db-0", "created db-1", "ready db-1", "created db-2", "ready db-2"}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("pod order:\n got %v\nwant %v", events, want)
	}
	pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pvc := range pvcs.Items {
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		got = append(got, fmt.Sprintf("%s:%s:%s:%t", pvc.Name, pvc.Status.Phase, class, pvc.Spec.VolumeName != ""))
	}
	sort.Strings(got)
	if want := "[data-db-0:Bound:local-path:true data-db-1:Bound:local-path:true data-db-2:Bound:local-path:true]"; fmt.Sprint(got) != want {
		t.Errorf("claims: %v, want %s", got, want)
	}
	// Each volume is pinned to the node its pod runs on.
	for i := range 3 {
		pod, err := c.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("db-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-db-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pv, err := c.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil ||
			!strings.Contains(fmt.Sprint(pv.Spec.NodeAffinity.Required.NodeSelectorTerms), pod.Spec.NodeName) {
			t.Errorf("volume %s of pod %s on %s has node affinity %+v", pv.Name, pod.Name, pod.Spec.NodeName, pv.Spec.NodeAffinity)
		}
	}
}

// testDaemonSetPerNode: a DaemonSet selecting the three main nodes runs
// exactly one ready pod on each.
func testDaemonSetPerNode(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-ds")
	kubectlMust(t, s, fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: %s}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {%q: main}
      containers: [{name: agent, image: registry.k8s.io/pause:3.10}]
`, ns, mainPoolLabel), "apply", "-f", "-")
	kubectlMust(t, s, "", "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, p := range pods.Items {
		if !podReady(&p) {
			t.Errorf("pod %s on %s is not ready", p.Name, p.Spec.NodeName)
		}
		nodes = append(nodes, p.Spec.NodeName)
	}
	sort.Strings(nodes)
	if fmt.Sprint(nodes) != "[sim-0 sim-1 sim-2]" {
		t.Errorf("daemon pods on %v, want one on each of sim-0, sim-1, sim-2", nodes)
	}
	ds, err := c.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := ds.Status; st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 3 || st.NumberReady != 3 || st.NumberMisscheduled != 0 {
		t.Errorf("daemon set status %+v", st)
	}
}

// testIndexedJob: an Indexed Job with completions=5, parallelism=2
// completes every index, never running more than 2 pods at once.
func testIndexedJob(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-job")
	rec := recordPods(t, c, ns)
	kubectlMust(t, s, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: idx, namespace: %s}
spec:
  completions: 5
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: registry.k8s.io/pause:3.10}]
`, ns), "apply", "-f", "-")
	kubectlMust(t, s, "", "wait", "--for=condition=Complete", "job/idx", "-n", ns, "--timeout=60s")
	job, err := c.BatchV1().Jobs(ns).Get(ctx, "idx", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := job.Status; st.Succeeded != 5 || st.Failed != 0 || st.CompletedIndexes != "0-4" || st.CompletionTime == nil {
		t.Errorf("job status: succeeded %d failed %d completedIndexes %q completionTime %v", st.Succeeded, st.Failed, st.CompletedIndexes, st.CompletionTime)
	}
	_, maxAlive := rec.snapshot()
	if maxAlive > 2 {
		t.Errorf("%d pods ran at once, parallelism is 2", maxAlive)
	}
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=idx"})
	if err != nil {
		t.Fatal(err)
	}
	indexes := map[string]bool{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			indexes[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = true
		}
	}
	if len(indexes) != 5 {
		t.Errorf("succeeded pods have indexes %v, want 0..4", indexes)
	}
}

// startCronJob creates a CronJob scheduled every minute and returns the
// test that it creates a Job within 70s, which completes and is recorded
// in the CronJob's status.
func startCronJob(t *testing.T, s *framework.Server) func(*testing.T) {
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-cron")
	kubectlMust(t, s, "", "create", "cronjob", "tick", "-n", ns, "--image=registry.k8s.io/pause:3.10", "--schedule=*/1 * * * *")
	start := time.Now()
	return func(t *testing.T) { testCronJob(t, c, ns, start) }
}

func testCronJob(t *testing.T, c kubernetes.Interface, ns string, start time.Time) {
	ctx := context.Background()
	var job *batchv1.Job
	eventuallyState(t, 70*time.Second-time.Since(start), "the CronJob creates a Job within 70s", func() (bool, string) {
		jobs, err := c.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for i := range jobs.Items {
			if ref := metav1.GetControllerOf(&jobs.Items[i]); ref != nil && ref.Kind == "CronJob" && ref.Name == "tick" {
				job = &jobs.Items[i]
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d jobs", len(jobs.Items))
	})
	t.Logf("job %s created %v after the CronJob", job.Name, time.Since(start).Round(time.Second))
	if !strings.HasPrefix(job.Name, "tick-") {
		t.Errorf("job name %s, want tick-<scheduled minute>", job.Name)
	}
	eventuallyState(t, 30*time.Second, "the Job completes and the CronJob records it", func() (bool, string) {
		cj, err := c.BatchV1().CronJobs(ns).Get(ctx, "tick", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cj.Status.LastScheduleTime != nil && cj.Status.LastSuccessfulTime != nil,
			fmt.Sprintf("last schedule %v, last success %v, active %v", cj.Status.LastScheduleTime, cj.Status.LastSuccessfulTime, cj.Status.Active)
	})
}
