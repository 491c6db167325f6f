package replicationcontroller

import (
	"context"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
)

func requestContext(group, version, resource, subresource string) context.Context {
	return genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
		APIGroup: group, APIVersion: version, Resource: resource, Subresource: subresource,
	})
}

func testRC() *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-1", ResourceVersion: "5", Generation: 1},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: map[string]string{"app": "web"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					Containers:    []corev1.Container{{Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}},
					RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, TerminationGracePeriodSeconds: ptr.To[int64](30),
				},
			},
		},
	}
}

func TestCreateAndUpdateGenerationAndStatus(t *testing.T) {
	ctx := requestContext("", "v1", "replicationcontrollers", "")
	rc := testRC()
	rc.Generation = 7
	rc.Status.Replicas = 3
	strategy.PrepareForCreate(ctx, rc)
	if rc.Generation != 1 || rc.Status.Replicas != 0 {
		t.Errorf("after create: generation %d, status %+v", rc.Generation, rc.Status)
	}
	if errs := strategy.Validate(ctx, rc); len(errs) != 0 {
		t.Fatalf("a valid RC: %v", errs)
	}

	old := testRC()
	old.Status.Replicas = 2
	same := old.DeepCopy()
	same.Labels = map[string]string{"x": "y"}
	same.Status.Replicas = 9
	strategy.PrepareForUpdate(ctx, same, old)
	if same.Generation != 1 || same.Status.Replicas != 2 {
		t.Errorf("metadata-only update: generation %d, status %+v", same.Generation, same.Status)
	}
	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](4)
	strategy.PrepareForUpdate(ctx, scaled, old)
	if scaled.Generation != 2 {
		t.Errorf("spec update: generation %d, want 2", scaled.Generation)
	}

	status := old.DeepCopy()
	status.Spec.Replicas = ptr.To[int32](9)
	status.Status.Replicas = 4
	statusStrategy.PrepareForUpdate(ctx, status, old)
	if *status.Spec.Replicas != 2 || status.Status.Replicas != 4 {
		t.Errorf("status update: spec replicas %d, status %+v", *status.Spec.Replicas, status.Status)
	}
}

func TestSelectorMustMatchTemplate(t *testing.T) {
	ctx := requestContext("", "v1", "replicationcontrollers", "")
	rc := testRC()
	rc.Spec.Template.Labels = map[string]string{"app": "other"}
	errs := strategy.Validate(ctx, rc)
	if !strings.Contains(errs.ToAggregate().Error(), "spec.template.metadata.labels: Invalid value") {
		t.Fatalf("mismatched selector: %v", errs)
	}
}

func TestDefaultGarbageCollectionPolicy(t *testing.T) {
	if got := strategy.DefaultGarbageCollectionPolicy(requestContext("", "v1", "replicationcontrollers", "")); got != rest.OrphanDependents {
		t.Errorf("core/v1: %v, want orphan (upstream's legacy default)", got)
	}
	if got := strategy.DefaultGarbageCollectionPolicy(context.Background()); got != rest.DeleteDependents {
		t.Errorf("no request info: %v, want delete dependents", got)
	}
}

func TestGetAttrs(t *testing.T) {
	rc := testRC()
	rc.Status.Replicas = 3
	_, fields, err := getAttrs(rc)
	if err != nil {
		t.Fatal(err)
	}
	if fields["status.replicas"] != "3" || fields["metadata.namespace"] != "default" {
		t.Errorf("fields = %v", fields)
	}
}

func TestScaleUpdate(t *testing.T) {
	ctx := requestContext("", "v1", "replicationcontrollers", "scale")
	rc := testRC()
	rc.Status.Replicas = 1

	got := scaleFromRC(rc)
	if got.Spec.Replicas != 2 || got.Status.Replicas != 1 || got.Status.Selector != "app=web" || got.UID != rc.UID {
		t.Fatalf("scale of the RC = %+v", got)
	}

	want := scaleFromRC(rc)
	want.Spec.Replicas = 7
	info := &scaleUpdatedObjectInfo{name: "web", reqObjInfo: rest.DefaultUpdatedObjectInfo(want), gvk: &ScaleREST{}}
	obj, err := info.UpdatedObject(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if updated := obj.(*corev1.ReplicationController); *updated.Spec.Replicas != 7 || *rc.Spec.Replicas != 2 {
		t.Fatalf("updated replicas %d (old object's %d)", *updated.Spec.Replicas, *rc.Spec.Replicas)
	}

	negative := scaleFromRC(rc)
	negative.Spec.Replicas = -1
	info = &scaleUpdatedObjectInfo{name: "web", reqObjInfo: rest.DefaultUpdatedObjectInfo(negative), gvk: &ScaleREST{}}
	_, err = info.UpdatedObject(ctx, rc)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas: Invalid value: -1: must be greater than or equal to 0") {
		t.Fatalf("negative replicas: %v", err)
	}

	otherUID := scaleFromRC(rc)
	otherUID.UID = "uid-2"
	info = &scaleUpdatedObjectInfo{name: "web", reqObjInfo: rest.DefaultUpdatedObjectInfo(otherUID), gvk: &ScaleREST{}}
	if _, err = info.UpdatedObject(ctx, rc); !apierrors.IsConflict(err) {
		t.Fatalf("a Scale of another UID: %v, want a conflict", err)
	}

	if gvk := (&ScaleREST{}).GroupVersionKind(corev1.SchemeGroupVersion); gvk != autoscalingv1.SchemeGroupVersion.WithKind("Scale") {
		t.Errorf("scale kind = %v", gvk)
	}
}
