package job

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

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
	c, err := NewController(client, factory.Batch().V1().Jobs(), factory.Core().V1().Pods())
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(1000)
	c.recorder = rec
	c.podControl = controller.RealPodControl{Client: client, Recorder: rec}
	clk := testclock.NewFakeClock(time.Now())
	c.clock = clk
	n := 0
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		pod := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		n++
		if pod.Name == "" {
			pod.Name = fmt.Sprintf("%s%d", pod.GenerateName, n)
		}
		pod.UID = types.UID(fmt.Sprintf("uid-%d", n))
		pod.CreationTimestamp = metav1.NewTime(clk.Now())
		pod.Status.Phase = corev1.PodPending
		return false, nil, nil
	})
	// The API server deletes pods without a node at once; with
	// finalizers it only marks them.
	client.PrependReactor("delete", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		name := a.(clienttesting.DeleteAction).GetName()
		obj, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), a.GetNamespace(), name)
		if err != nil {
			return false, nil, nil
		}
		pod := obj.(*corev1.Pod)
		if len(pod.Finalizers) == 0 {
			return false, nil, nil
		}
		pod.DeletionTimestamp = ptr.To(metav1.NewTime(clk.Now()))
		return true, nil, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, a.GetNamespace())
	})
	w := &world{t: t, client: client, factory: factory, c: c, recorder: rec, clock: clk}
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
	jobs, _ := w.client.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	pods, _ := w.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	var items []interface{}
	for i := range jobs.Items {
		items = append(items, &jobs.Items[i])
	}
	fill(w.factory.Batch().V1().Jobs().Informer().GetIndexer(), items)
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	fill(w.factory.Core().V1().Pods().Informer().GetIndexer(), items)
}

// sync runs one sync after the informers caught up with everything.
func (w *world) sync() {
	w.t.Helper()
	w.refresh()
	w.c.expectations.Delete("ns/job")
	w.c.finalizerExpectations.delete("ns/job")
	w.c.finishedJobs.Clear()
	if err := w.c.sync(context.Background(), "ns/job"); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	w.refresh()
}

func (w *world) job() *batchv1.Job {
	j, err := w.client.BatchV1().Jobs("ns").Get(context.Background(), "job", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return j
}

func (w *world) pods() []*corev1.Pod {
	list, _ := w.client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (w *world) activePods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range w.pods() {
		if controller.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// finish ends a pod with the exit code (0: Succeeded) an hour ago, so no
// back-off applies.
func (w *world) finish(p *corev1.Pod, exitCode int32) {
	w.t.Helper()
	p.Status.Phase = corev1.PodSucceeded
	if exitCode != 0 {
		p.Status.Phase = corev1.PodFailed
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: exitCode, FinishedAt: metav1.NewTime(w.clock.Now().Add(-time.Hour)),
	}}}}
	if _, err := w.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) conditions() string {
	var out []string
	for _, c := range w.job().Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return strings.Join(out, ",")
}

func newJob(completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "ns", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To(parallelism),
			BackoffLimit: ptr.To[int32](6),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"batch.kubernetes.io/controller-uid": "job-uid", "batch.kubernetes.io/job-name": "job"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
			PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
		},
	}
}

func TestNonIndexedJobCompletes(t *testing.T) {
	w := newWorld(t, newJob(3, 2))
	w.sync()
	pods := w.activePods()
	if len(pods) != 2 {
		t.Fatalf("%d pods, want parallelism 2", len(pods))
	}
	p := pods[0]
	if !strings.HasPrefix(p.Name, "job-") || !hasTrackingFinalizer(p) || metav1.GetControllerOf(p).Kind != "Job" {
		t.Errorf("pod %s finalizers %v", p.Name, p.Finalizers)
	}
	j := w.job()
	if j.Status.Active != 2 || j.Status.StartTime == nil || ptr.Deref(j.Status.Ready, -1) != 0 || ptr.Deref(j.Status.Terminating, -1) != 0 {
		t.Errorf("status %+v", j.Status)
	}
	for i := 0; i < 6 && !isJobFinished(w.job()); i++ {
		for _, p := range w.activePods() {
			w.finish(p, 0)
		}
		w.sync()
	}
	j = w.job()
	if got := w.conditions(); got != "SuccessCriteriaMet=True/CompletionsReached,Complete=True/CompletionsReached" {
		t.Fatalf("conditions %s", got)
	}
	if j.Status.Succeeded < 3 || j.Status.CompletionTime == nil || j.Status.Active != 0 {
		t.Errorf("status %+v", j.Status)
	}
	for _, p := range w.pods() {
		if hasTrackingFinalizer(p) {
			t.Errorf("pod %s keeps the tracking finalizer", p.Name)
		}
	}
	found := false
	for len(w.recorder.Events) > 0 {
		if ev := <-w.recorder.Events; ev == "Normal Completed Job completed" {
			found = true
		}
	}
	if !found {
		t.Error("no Completed event")
	}
}

func TestIndexedJob(t *testing.T) {
	j := newJob(5, 2)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	w := newWorld(t, j)
	w.sync()
	pods := w.activePods()
	if len(pods) != 2 {
		t.Fatalf("%d pods", len(pods))
	}
	for i, p := range pods {
		ix := fmt.Sprint(i)
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] != ix || p.Labels[batchv1.JobCompletionIndexAnnotation] != ix ||
			p.Spec.Hostname != "job-"+ix || !strings.HasPrefix(p.Name, "job-"+ix+"-") {
			t.Errorf("pod %s annotations %v labels %v hostname %s", p.Name, p.Annotations, p.Labels, p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("env %+v", env)
		}
	}
	w.finish(pods[1], 0) // index 1 done first
	w.sync()
	if got := w.job().Status.CompletedIndexes; got != "1" {
		t.Errorf("completedIndexes %q", got)
	}
	if idx := indexesOf(w.activePods()); !idx.Has(0) || !idx.Has(2) {
		t.Errorf("active indexes %v, want 0 and 2", idx.UnsortedList())
	}
	for i := 0; i < 8 && !isJobFinished(w.job()); i++ {
		for _, p := range w.activePods() {
			w.finish(p, 0)
		}
		w.sync()
	}
	if got := w.job().Status.CompletedIndexes; got != "0-4" || w.job().Status.Succeeded != 5 {
		t.Errorf("completedIndexes %q succeeded %d", got, w.job().Status.Succeeded)
	}
	if !strings.Contains(w.conditions(), "Complete=True") {
		t.Errorf("conditions %s", w.conditions())
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	j := newJob(1, 1)
	j.Spec.BackoffLimit = ptr.To[int32](1)
	w := newWorld(t, j)
	for i := 0; i < 4 && !isJobFinished(w.job()); i++ {
		w.sync()
		for _, p := range w.activePods() {
			w.finish(p, 1)
		}
	}
	w.sync()
	if got := w.conditions(); got != "FailureTarget=True/BackoffLimitExceeded,Failed=True/BackoffLimitExceeded" {
		t.Fatalf("conditions %s", got)
	}
	if w.job().Status.Failed != 2 {
		t.Errorf("failed %d", w.job().Status.Failed)
	}
}

func TestPodFailurePolicy(t *testing.T) {
	j := newJob(2, 1)
	j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{7}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	}}
	w := newWorld(t, j)
	w.sync()
	w.finish(w.activePods()[0], 7) // ignored
	w.sync()
	if got := w.job().Status.Failed; got != 0 {
		t.Fatalf("ignored failure counted: %d", got)
	}
	w.sync()
	p := w.activePods()[0]
	w.finish(p, 42)
	w.sync()
	w.sync()
	if got := w.conditions(); got != "FailureTarget=True/PodFailurePolicy,Failed=True/PodFailurePolicy" {
		t.Fatalf("conditions %s", got)
	}
	want := fmt.Sprintf("Container c for pod ns/%s failed with exit code 42 matching FailJob rule at index 1", p.Name)
	if msg := w.job().Status.Conditions[1].Message; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}

func TestActiveDeadline(t *testing.T) {
	j := newJob(1, 1)
	j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	w := newWorld(t, j)
	w.sync()
	w.clock.Step(11 * time.Second)
	w.sync()
	// The running pod is deleted first; the Job fails once it is gone.
	if got := w.conditions(); got != "FailureTarget=True/DeadlineExceeded" {
		t.Fatalf("conditions %s", got)
	}
	if n := len(w.pods()); n != 1 || w.pods()[0].DeletionTimestamp == nil {
		t.Fatalf("pod not being deleted")
	}
	// The kubelet finishes it; the finalizer goes, then the pod.
	p := w.pods()[0]
	p.Status.Phase = corev1.PodFailed
	if _, err := w.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	w.sync()
	if got := w.conditions(); got != "FailureTarget=True/DeadlineExceeded,Failed=True/DeadlineExceeded" {
		t.Fatalf("conditions %s", got)
	}
}

func TestSuspendAndResume(t *testing.T) {
	w := newWorld(t, newJob(2, 2))
	w.sync()
	j := w.job()
	j.Spec.Suspend = ptr.To(true)
	if _, err := w.client.BatchV1().Jobs("ns").Update(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	if n := len(w.activePods()); n != 0 {
		t.Fatalf("%d active pods in a suspended job", n)
	}
	if got := w.conditions(); got != "Suspended=True/JobSuspended" || w.job().Status.StartTime != nil {
		t.Fatalf("conditions %s startTime %v", got, w.job().Status.StartTime)
	}
	j = w.job()
	j.Spec.Suspend = ptr.To(false)
	if _, err := w.client.BatchV1().Jobs("ns").Update(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleted pods of the fake API keep existing until their finalizer
	// is gone: clear them as the API server would.
	for _, p := range w.pods() {
		_ = w.client.CoreV1().Pods("ns").Delete(context.Background(), p.Name, metav1.DeleteOptions{})
	}
	w.sync()
	if got := w.conditions(); got != "Suspended=False/JobResumed" || w.job().Status.StartTime == nil {
		t.Fatalf("conditions %s", got)
	}
	if n := len(w.activePods()); n != 2 {
		t.Fatalf("%d pods after resume", n)
	}
}

func TestSuccessPolicy(t *testing.T) {
	j := newJob(3, 3)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	w := newWorld(t, j)
	w.sync()
	for _, p := range w.activePods() {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
			w.finish(p, 0)
		}
	}
	w.sync()
	if got := w.conditions(); got != "SuccessCriteriaMet=True/SuccessPolicy" {
		t.Fatalf("conditions %s", got)
	}
	// Remaining pods terminate; then Complete.
	for _, p := range w.pods() {
		if p.DeletionTimestamp != nil {
			p.Status.Phase = corev1.PodFailed
			if _, err := w.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.sync()
	w.sync()
	if got := w.conditions(); got != "SuccessCriteriaMet=True/SuccessPolicy,Complete=True/SuccessPolicy" {
		t.Fatalf("conditions %s", got)
	}
}

func TestBackoffLimitPerIndex(t *testing.T) {
	j := newJob(2, 2)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	w := newWorld(t, j)
	w.sync()
	fail0 := func() {
		for _, p := range w.activePods() {
			if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
				w.finish(p, 1)
			}
		}
	}
	fail0()
	w.sync()
	// Replacement of index 0 carries the failure count.
	var replacement *corev1.Pod
	for _, p := range w.activePods() {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
			replacement = p
		}
	}
	if replacement == nil || replacement.Annotations[batchv1.JobIndexFailureCountAnnotation] != "1" {
		t.Fatalf("replacement %+v", replacement)
	}
	fail0()
	w.sync()
	if got := ptr.Deref(w.job().Status.FailedIndexes, ""); got != "0" {
		t.Fatalf("failedIndexes %q", got)
	}
	for _, p := range w.activePods() {
		w.finish(p, 0)
	}
	w.sync()
	w.sync()
	if got := w.conditions(); got != "FailureTarget=True/FailedIndexes,Failed=True/FailedIndexes" {
		t.Fatalf("conditions %s", got)
	}
}

func TestManagedByAnotherController(t *testing.T) {
	j := newJob(1, 1)
	j.Spec.ManagedBy = ptr.To("example.com/other")
	w := newWorld(t, j)
	w.sync()
	if len(w.pods()) != 0 {
		t.Fatal("created pods for a Job managed by another controller")
	}
}

func TestOrphanPodFinalizerRemoved(t *testing.T) {
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "ns", Finalizers: []string{batchv1.JobTrackingFinalizer}}}
	w := newWorld(t, orphan)
	if err := w.c.syncOrphan(context.Background(), orphanKey{namespace: "ns", value: "orphan"}); err != nil {
		t.Fatal(err)
	}
	if p := w.pods()[0]; hasTrackingFinalizer(p) {
		t.Fatalf("finalizers %v", p.Finalizers)
	}
}

func TestIntervals(t *testing.T) {
	iv := parseIntervals("0,2-4,7", 10).withIndexes([]int{1, 5, 9})
	if got := iv.String(); got != "0-5,7,9" || iv.total() != 8 || !iv.has(3) || iv.has(8) {
		t.Errorf("intervals %s total %d", got, iv.total())
	}
	if got := parseIntervals("3,4", 10).String(); got != "3,4" {
		t.Errorf("pair %s", got)
	}
	if !matchSucceededIndexes(parseIntervals("0-3", 10), parseIntervals("1,3", 10), ptr.To[int32](2)) {
		t.Error("succeededCount 2 of 0-3 with 1,3 done")
	}
	if matchSucceededIndexes(parseIntervals("0-3", 10), parseIntervals("1,3", 10), nil) {
		t.Error("all of 0-3 needed")
	}
}
