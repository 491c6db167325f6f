package job

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func requestContext(version, subresource string) context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "batch", APIVersion: version, Resource: "jobs", Subresource: subresource,
	})
}

// newJob returns a job as the codec hands it to the strategy on create:
// defaulted, with system metadata filled in.
func newJob() *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "1234"},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
	scheme.Scheme.Default(job)
	return job
}

func TestPrepareForCreateGeneratesSelector(t *testing.T) {
	job := newJob()
	job.Status.Active = 2
	strategy.PrepareForCreate(requestContext("v1", ""), job)

	wantLabels := map[string]string{
		"controller-uid": "1234", "batch.kubernetes.io/controller-uid": "1234",
		"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
	}
	for k, v := range wantLabels {
		if job.Spec.Template.Labels[k] != v {
			t.Errorf("template label %s = %q, want %q", k, job.Spec.Template.Labels[k], v)
		}
	}
	if got := job.Spec.Selector.MatchLabels; len(got) != 1 || got["batch.kubernetes.io/controller-uid"] != "1234" {
		t.Errorf("selector = %v, want the prefixed controller-uid only", got)
	}
	if job.Generation != 1 || job.Status.Active != 0 {
		t.Errorf("generation %d status %+v", job.Generation, job.Status)
	}
	if errs := rest.ValidateCreate(requestContext("v1", ""), job, strategy); len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func TestPrepareForCreateKeepsUserLabels(t *testing.T) {
	job := newJob()
	job.Spec.Template.Labels = map[string]string{"job-name": "custom", "batch.kubernetes.io/controller-uid": "wrong"}
	strategy.PrepareForCreate(requestContext("v1", ""), job)
	if job.Spec.Template.Labels["job-name"] != "custom" || job.Spec.Template.Labels["batch.kubernetes.io/controller-uid"] != "wrong" {
		t.Errorf("user labels overwritten: %v", job.Spec.Template.Labels)
	}
	found := map[string]string{}
	for _, err := range rest.ValidateCreate(requestContext("v1", ""), job, strategy) {
		found[err.Field] = err.Detail
	}
	if found["spec.template.metadata.labels[batch.kubernetes.io/controller-uid]"] != "must be '1234'" ||
		found["spec.template.metadata.labels[job-name]"] != "must be 'pi'" {
		t.Errorf("errors = %v, want the conflicting labels rejected", found)
	}
}

func TestPrepareForCreateManualSelector(t *testing.T) {
	job := newJob()
	job.Spec.ManualSelector = ptr.To(true)
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
	job.Spec.Template.Labels = map[string]string{"a": "b"}
	strategy.PrepareForCreate(requestContext("v1", ""), job)
	if len(job.Spec.Template.Labels) != 1 || len(job.Spec.Selector.MatchLabels) != 1 {
		t.Errorf("manual selector changed: labels %v selector %v", job.Spec.Template.Labels, job.Spec.Selector)
	}
	if errs := rest.ValidateCreate(requestContext("v1", ""), job, strategy); len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func createdJob() *batchv1.Job {
	job := newJob()
	strategy.PrepareForCreate(requestContext("v1", ""), job)
	job.ResourceVersion = "1"
	return job
}

func TestPrepareForUpdateGeneration(t *testing.T) {
	old := createdJob()
	job := old.DeepCopy()
	job.Labels = map[string]string{"x": "y"}
	job.Status.Succeeded = 1
	strategy.PrepareForUpdate(requestContext("v1", ""), job, old)
	if job.Generation != 1 || job.Status.Succeeded != 0 {
		t.Errorf("generation %d status %+v", job.Generation, job.Status)
	}
	job.Spec.Suspend = ptr.To(true)
	strategy.PrepareForUpdate(requestContext("v1", ""), job, old)
	if job.Generation != 2 {
		t.Errorf("generation = %d, want 2 after suspending", job.Generation)
	}
}

func TestSuspendedJobTemplateResources(t *testing.T) {
	withCPU := func(job *batchv1.Job) *batchv1.Job {
		job = job.DeepCopy()
		job.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		return job
	}
	running := createdJob()
	errs := rest.ValidateUpdate(requestContext("v1", ""), withCPU(running), running, strategy)
	if len(errs) != 1 || errs[0].Field != "spec.template" || !strings.Contains(errs[0].Error(), "field is immutable") {
		t.Errorf("running job: errors = %v, want the template immutable", errs)
	}

	suspended := createdJob()
	suspended.Spec.Suspend = ptr.To(true)
	if errs := rest.ValidateUpdate(requestContext("v1", ""), withCPU(suspended), suspended, strategy); len(errs) != 0 {
		t.Errorf("suspended job that never ran: errors = %v", errs)
	}

	started := suspended.DeepCopy()
	started.Status.StartTime = &metav1.Time{}
	started.Status.Active = 1
	if errs := rest.ValidateUpdate(requestContext("v1", ""), withCPU(started), started, strategy); len(errs) == 0 {
		t.Errorf("suspended job with active pods: resources change accepted")
	}
}

func TestStatusUpdate(t *testing.T) {
	old := createdJob()
	job := old.DeepCopy()
	job.Spec.Parallelism = ptr.To[int32](5)
	job.Status.Active = 1
	job.Status.Ready = ptr.To[int32](2)
	ctx := requestContext("v1", "status")
	statusStrategy.PrepareForUpdate(ctx, job, old)
	if *job.Spec.Parallelism != 1 {
		t.Errorf("spec changed through /status")
	}
	errs := rest.ValidateUpdate(ctx, job, old, statusStrategy)
	if len(errs) != 1 || errs[0].Field != "status.ready" {
		t.Errorf("errors = %v, want more ready than active rejected", errs)
	}
}

func TestGarbageCollectionPolicy(t *testing.T) {
	if got := strategy.DefaultGarbageCollectionPolicy(requestContext("v1", "")); got != rest.OrphanDependents {
		t.Errorf("batch/v1 policy = %v, want orphan", got)
	}
	if got := strategy.DefaultGarbageCollectionPolicy(context.Background()); got != rest.DeleteDependents {
		t.Errorf("policy without a request = %v, want delete", got)
	}
}

func TestSelectableFields(t *testing.T) {
	job := createdJob()
	job.Status.Succeeded = 2
	_, fields, err := getAttrs(job)
	if err != nil || fields["status.successful"] != "2" || fields["metadata.name"] != "pi" {
		t.Errorf("fields %v err %v", fields, err)
	}
}
