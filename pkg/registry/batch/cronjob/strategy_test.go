package cronjob

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func requestContext() context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "batch", APIVersion: "v1", Resource: "cronjobs",
	})
}

func newCronJob() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "default", ResourceVersion: "1"},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}},
			}},
		},
	}
	scheme.Scheme.Default(cj)
	return cj
}

func TestPrepareForCreateAndUpdate(t *testing.T) {
	cj := newCronJob()
	cj.Status.LastScheduleTime = &metav1.Time{}
	strategy.PrepareForCreate(requestContext(), cj)
	if cj.Generation != 1 || cj.Status.LastScheduleTime != nil {
		t.Errorf("generation %d status %+v", cj.Generation, cj.Status)
	}
	if errs := rest.ValidateCreate(requestContext(), cj, strategy); len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}

	suspended := cj.DeepCopy()
	suspended.Spec.Suspend = ptr.To(true)
	strategy.PrepareForUpdate(requestContext(), suspended, cj)
	if suspended.Generation != 2 {
		t.Errorf("generation = %d, want 2", suspended.Generation)
	}

	status := cj.DeepCopy()
	status.Spec.Schedule = "0 0 * * *"
	status.Status.LastScheduleTime = &metav1.Time{}
	statusStrategy.PrepareForUpdate(requestContext(), status, cj)
	if status.Spec.Schedule != "*/5 * * * *" || status.Status.LastScheduleTime == nil {
		t.Errorf("status update: schedule %q status %+v", status.Spec.Schedule, status.Status)
	}
}

func TestTimeZoneInSchedule(t *testing.T) {
	cj := newCronJob()
	cj.Spec.Schedule = "TZ=UTC 0 * * * *"
	errs := rest.ValidateCreate(requestContext(), cj, strategy)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "cannot use TZ or CRON_TZ in schedule") {
		t.Errorf("create: errors = %v", errs)
	}
	// A stored schedule with a time zone only warns on update.
	old := cj.DeepCopy()
	updated := cj.DeepCopy()
	updated.Labels = map[string]string{"a": "b"}
	warnings := strategy.WarningsOnUpdate(requestContext(), updated, old)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "cannot use TZ or CRON_TZ in spec.spec.schedule") {
		t.Errorf("update: warnings = %v", warnings)
	}
}
