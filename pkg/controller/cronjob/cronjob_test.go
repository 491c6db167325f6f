package cronjob

import (
	"context"
	"fmt"
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
)

type world struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	recorder *record.FakeRecorder
	clock    *testclock.FakeClock
}

var t0 = time.Date(2026, 3, 10, 10, 0, 30, 0, time.UTC)

func newWorld(t *testing.T, objs ...runtime.Object) *world {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Batch().V1().Jobs(), factory.Batch().V1().CronJobs())
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(1000)
	c.recorder = rec
	clk := testclock.NewFakeClock(t0)
	c.clock = clk
	client.PrependReactor("create", "jobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
		j := a.(clienttesting.CreateAction).GetObject().(*batchv1.Job)
		j.UID = types.UID("uid-" + j.Name)
		return false, nil, nil
	})
	w := &world{t: t, client: client, factory: factory, c: c, recorder: rec, clock: clk}
	return w
}

func (w *world) refresh() {
	ctx := context.Background()
	fill := func(indexer cache.Indexer, items []interface{}) {
		if err := indexer.Replace(items, ""); err != nil {
			w.t.Fatal(err)
		}
	}
	cjs, _ := w.client.BatchV1().CronJobs("").List(ctx, metav1.ListOptions{})
	jobs, _ := w.client.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	var items []interface{}
	for i := range cjs.Items {
		items = append(items, &cjs.Items[i])
	}
	fill(w.factory.Batch().V1().CronJobs().Informer().GetIndexer(), items)
	items = nil
	for i := range jobs.Items {
		items = append(items, &jobs.Items[i])
	}
	fill(w.factory.Batch().V1().Jobs().Informer().GetIndexer(), items)
}

func (w *world) sync() time.Duration {
	w.t.Helper()
	w.refresh()
	after, err := w.c.sync(context.Background(), "ns/cj")
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	w.refresh()
	if after == nil {
		return -1
	}
	return *after
}

func (w *world) jobs() []batchv1.Job {
	list, _ := w.client.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	return list.Items
}

func (w *world) cj() *batchv1.CronJob {
	cj, err := w.client.BatchV1().CronJobs("ns").Get(context.Background(), "cj", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return cj
}

func (w *world) events() string {
	var out []string
	for len(w.recorder.Events) > 0 {
		out = append(out, <-w.recorder.Events)
	}
	return strings.Join(out, "\n")
}

func (w *world) finishJob(name string, cond batchv1.JobConditionType, at time.Time) {
	j, err := w.client.BatchV1().Jobs("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	j.Status.StartTime = &metav1.Time{Time: at.Add(-10 * time.Second)}
	j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
	if cond == batchv1.JobComplete {
		j.Status.CompletionTime = &metav1.Time{Time: at}
	}
	if _, err := w.client.BatchV1().Jobs("ns").UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func newCronJob(schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "a"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
		},
	}
}

func TestCreatesJobAtScheduledTime(t *testing.T) {
	w := newWorld(t, newCronJob("*/1 * * * *"))
	if after := w.sync(); after != 29*time.Second+500*time.Millisecond+nextScheduleDelta && after != 30*time.Second+nextScheduleDelta {
		// Next minute at 10:01:00 from 10:00:30.
		t.Fatalf("requeue after %v", after)
	}
	if len(w.jobs()) != 0 {
		t.Fatal("job created before its time")
	}
	w.clock.SetTime(t0.Add(35 * time.Second)) // 10:01:05
	after := w.sync()
	jobs := w.jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs", len(jobs))
	}
	j := jobs[0]
	scheduled := time.Date(2026, 3, 10, 10, 1, 0, 0, time.UTC)
	if j.Name != fmt.Sprintf("cj-%d", scheduled.Unix()/60) || j.Labels["team"] != "a" || j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-10T10:01:00Z" ||
		metav1.GetControllerOf(&j).UID != "cj-uid" || j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("job %s labels %v annotations %v", j.Name, j.Labels, j.Annotations)
	}
	cj := w.cj()
	if len(cj.Status.Active) != 1 || cj.Status.Active[0].Name != j.Name || cj.Status.Active[0].Kind != "Job" || !cj.Status.LastScheduleTime.Time.Equal(scheduled) {
		t.Errorf("status %+v", cj.Status)
	}
	if after != 55*time.Second+nextScheduleDelta {
		t.Errorf("requeue after %v", after)
	}
	if ev := w.events(); !strings.Contains(ev, "Normal SuccessfulCreate Created job "+j.Name) {
		t.Errorf("events %q", ev)
	}
	// Same minute again: nothing new.
	w.sync()
	if len(w.jobs()) != 1 {
		t.Fatal("job created twice for one schedule")
	}
	// The job completes: it leaves the active list, lastSuccessfulTime set.
	w.finishJob(j.Name, batchv1.JobComplete, t0.Add(50*time.Second))
	w.sync()
	cj = w.cj()
	if len(cj.Status.Active) != 0 || cj.Status.LastSuccessfulTime == nil || !cj.Status.LastSuccessfulTime.Time.Equal(t0.Add(50*time.Second)) {
		t.Errorf("status after completion %+v", cj.Status)
	}
	if ev := w.events(); !strings.Contains(ev, "Normal SawCompletedJob Saw completed job: "+j.Name+", condition: Complete") {
		t.Errorf("events %q", ev)
	}
}

func TestConcurrencyPolicies(t *testing.T) {
	for _, policy := range []batchv1.ConcurrencyPolicy{batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent, batchv1.AllowConcurrent} {
		t.Run(string(policy), func(t *testing.T) {
			cj := newCronJob("*/1 * * * *")
			cj.Spec.ConcurrencyPolicy = policy
			w := newWorld(t, cj)
			w.clock.SetTime(t0.Add(35 * time.Second))
			w.sync()
			w.clock.SetTime(t0.Add(95 * time.Second))
			w.sync()
			names := map[string]bool{}
			for _, j := range w.jobs() {
				names[j.Name] = true
			}
			active := len(w.cj().Status.Active)
			ev := w.events()
			switch policy {
			case batchv1.ForbidConcurrent:
				if len(names) != 1 || !strings.Contains(ev, "JobAlreadyActive") {
					t.Errorf("jobs %v events %q", names, ev)
				}
			case batchv1.ReplaceConcurrent:
				if len(names) != 1 || !names[fmt.Sprintf("cj-%d", t0.Add(90*time.Second).Truncate(time.Minute).Unix()/60)] || active != 1 || !strings.Contains(ev, fmt.Sprintf("SuccessfulDelete Deleted job cj-%d", t0.Add(30*time.Second).Unix()/60)) {
					t.Errorf("jobs %v active %d events %q", names, active, ev)
				}
			case batchv1.AllowConcurrent:
				if len(names) != 2 || active != 2 {
					t.Errorf("jobs %v active %d", names, active)
				}
			}
		})
	}
}

func TestStartingDeadlineAndSuspend(t *testing.T) {
	cj := newCronJob("0 * * * *")
	cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60)
	w := newWorld(t, cj)
	// 11:00 was missed by more than a minute.
	w.clock.SetTime(time.Date(2026, 3, 10, 11, 5, 0, 0, time.UTC))
	w.sync()
	if len(w.jobs()) != 0 {
		t.Fatal("job started past its deadline")
	}
	w.clock.SetTime(time.Date(2026, 3, 10, 12, 0, 30, 0, time.UTC))
	cur := w.cj()
	cur.Spec.Suspend = ptr.To(true)
	if _, err := w.client.BatchV1().CronJobs("ns").Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := w.sync(); after != -1 || len(w.jobs()) != 0 {
		t.Fatalf("suspended cronjob: requeue %v jobs %d", after, len(w.jobs()))
	}
	cur = w.cj()
	cur.Spec.Suspend = ptr.To(false)
	if _, err := w.client.BatchV1().CronJobs("ns").Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	if len(w.jobs()) != 1 {
		t.Fatal("no job within the deadline after resume")
	}
}

func TestTimeZone(t *testing.T) {
	cj := newCronJob("0 9 * * *")
	cj.Spec.TimeZone = ptr.To("America/New_York")
	w := newWorld(t, cj)
	// 9:00 in New York on 10 March 2026 (EDT) is 13:00 UTC.
	w.clock.SetTime(time.Date(2026, 3, 10, 12, 59, 0, 0, time.UTC))
	w.sync()
	if len(w.jobs()) != 0 {
		t.Fatal("too early")
	}
	w.clock.SetTime(time.Date(2026, 3, 10, 13, 0, 10, 0, time.UTC))
	w.sync()
	jobs := w.jobs()
	if len(jobs) != 1 || jobs[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-10T09:00:00-04:00" {
		t.Fatalf("jobs %+v", jobs)
	}
}

func TestHistoryLimits(t *testing.T) {
	w := newWorld(t, newCronJob("*/1 * * * *"))
	for i := 1; i <= 3; i++ {
		w.clock.SetTime(t0.Add(time.Duration(i)*time.Minute + 5*time.Second))
		w.sync()
	}
	jobs := w.jobs()
	if len(jobs) != 3 {
		t.Fatalf("%d jobs", len(jobs))
	}
	for i, j := range jobs {
		w.finishJob(j.Name, batchv1.JobFailed, t0.Add(time.Duration(i+3)*time.Minute))
	}
	w.sync()
	if n := len(w.jobs()); n != 1 {
		t.Fatalf("failedJobsHistoryLimit 1 kept %d jobs", n)
	}
}

func TestUnparseableSchedule(t *testing.T) {
	w := newWorld(t, newCronJob("TZ=0"))
	w.sync()
	if ev := w.events(); !strings.Contains(ev, "Warning UnparseableSchedule") {
		t.Errorf("events %q", ev)
	}
}
