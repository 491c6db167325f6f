package ttlafterfinished

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestDeletesAfterTTL(t *testing.T) {
	now := time.Now()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "j-uid"},
		Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](100)},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{
			Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-50 * time.Second)),
		}}},
	}
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](0)}}
	client := fake.NewClientset(job, running)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Batch().V1().Jobs())
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.NewFakeClock(now)
	c.clock = clk
	for _, j := range []*batchv1.Job{job, running} {
		if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
			t.Fatal(err)
		}
	}
	var deleted []clienttesting.DeleteActionImpl
	client.PrependReactor("delete", "jobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
		deleted = append(deleted, a.(clienttesting.DeleteActionImpl))
		return false, nil, nil
	})
	if err := c.sync(context.Background(), "ns/j"); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 0 {
		t.Fatal("deleted before the TTL")
	}
	if c.queue.Len() != 0 {
		// Requeued with a delay, so not yet in the queue.
		t.Fatal("requeued without delay")
	}
	clk.Step(51 * time.Second)
	if err := c.sync(context.Background(), "ns/j"); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0].Name != "j" || *deleted[0].DeleteOptions.PropagationPolicy != metav1.DeletePropagationForeground ||
		*deleted[0].DeleteOptions.Preconditions.UID != "j-uid" {
		t.Fatalf("deletes %+v", deleted)
	}
	if err := c.sync(context.Background(), "ns/r"); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 {
		t.Fatal("deleted a running job")
	}
}
