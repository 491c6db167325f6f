package persistentvolume

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

var fixedNow = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

func testStrategies() (persistentVolumeStrategy, persistentVolumeStatusStrategy) {
	s := strategy
	s.now = func() metav1.Time { return fixedNow }
	return s, persistentVolumeStatusStrategy{s}
}

func testPV() *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/pv1"}},
		},
	}
}

func TestCreateStartsPending(t *testing.T) {
	s, _ := testStrategies()
	pv := testPV()
	pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound, Message: "hand-made"}
	s.PrepareForCreate(context.Background(), pv)
	if pv.Status.Phase != corev1.VolumePending || pv.Status.Message != "" || pv.Status.LastPhaseTransitionTime == nil || !pv.Status.LastPhaseTransitionTime.Equal(&fixedNow) {
		t.Fatalf("status after create = %+v, want Pending since now", pv.Status)
	}
}

func TestPhaseTransitionTime(t *testing.T) {
	_, status := testStrategies()
	earlier := metav1.NewTime(fixedNow.Add(-time.Hour))
	old := testPV()
	old.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &earlier}

	same := old.DeepCopy()
	same.Status.LastPhaseTransitionTime = nil
	status.PrepareForUpdate(context.Background(), same, old)
	if !same.Status.LastPhaseTransitionTime.Equal(&earlier) {
		t.Errorf("same phase: transition time %v, want the old %v", same.Status.LastPhaseTransitionTime, earlier)
	}

	moved := old.DeepCopy()
	moved.Status.Phase = corev1.VolumeAvailable
	moved.Spec.StorageClassName = "changed"
	status.PrepareForUpdate(context.Background(), moved, old)
	if !moved.Status.LastPhaseTransitionTime.Equal(&fixedNow) {
		t.Errorf("new phase: transition time %v, want now", moved.Status.LastPhaseTransitionTime)
	}
	if moved.Spec.StorageClassName != "" {
		t.Error("a status update changed the spec")
	}
}

func TestMainResourceKeepsStatus(t *testing.T) {
	s, _ := testStrategies()
	old := testPV()
	old.Status.Phase = corev1.VolumeBound
	upd := old.DeepCopy()
	upd.Status.Phase = corev1.VolumeFailed
	s.PrepareForUpdate(context.Background(), upd, old)
	if upd.Status.Phase != corev1.VolumeBound {
		t.Error("an update of the main resource changed the status")
	}
}

func TestValidation(t *testing.T) {
	ctx := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{APIVersion: "v1", Resource: "persistentvolumes"})
	s, _ := testStrategies()
	if errs := s.Validate(ctx, testPV()); len(errs) != 0 {
		t.Fatalf("a valid PV: %v", errs)
	}
	noSource := testPV()
	noSource.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{}
	if errs := s.Validate(ctx, noSource); !strings.Contains(errs.ToAggregate().Error(), "spec: Required value: must specify a volume type") {
		t.Errorf("no volume source: %v", errs)
	}
	mountOptions := testPV()
	mountOptions.Annotations = map[string]string{corev1.MountOptionAnnotation: "ro"}
	if errs := s.Validate(ctx, mountOptions); !strings.Contains(errs.ToAggregate().Error(), "may not specify mount options for this volume type") {
		t.Errorf("mount options on hostPath: %v", errs)
	}
}

func TestGetAttrs(t *testing.T) {
	_, fields, err := getAttrs(testPV())
	if err != nil {
		t.Fatal(err)
	}
	if fields["name"] != "pv1" || fields["metadata.name"] != "pv1" {
		t.Errorf("fields = %v", fields)
	}
}
