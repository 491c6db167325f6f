package persistentvolumeclaim

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testPVC() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "c1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func TestCreateClearsStatusAndNormalizesDataSources(t *testing.T) {
	pvc := testPVC()
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "src"}
	strategy.PrepareForCreate(context.Background(), pvc)
	if pvc.Status.Phase != "" {
		t.Error("create kept a status")
	}
	if ref := pvc.Spec.DataSourceRef; ref == nil || ref.Kind != "PersistentVolumeClaim" || ref.Name != "src" {
		t.Errorf("dataSourceRef = %+v, want it to mirror dataSource", ref)
	}

	// Only claims and snapshots were ever allowed in dataSource; others
	// are silently dropped, as upstream.
	legacy := testPVC()
	legacy.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "ConfigMap", Name: "x"}
	strategy.PrepareForCreate(context.Background(), legacy)
	if legacy.Spec.DataSource != nil || legacy.Spec.DataSourceRef != nil {
		t.Errorf("an unsupported dataSource was kept: %+v", legacy.Spec)
	}
}

func TestNormalizeDataSources(t *testing.T) {
	spec := corev1.PersistentVolumeClaimSpec{DataSourceRef: &corev1.TypedObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "s"}}
	normalizeDataSources(&spec)
	if ds := spec.DataSource; ds == nil || *ds.APIGroup != "snapshot.storage.k8s.io" || ds.Kind != "VolumeSnapshot" || ds.Name != "s" {
		t.Errorf("dataSource = %+v", ds)
	}
	crossNamespace := corev1.PersistentVolumeClaimSpec{DataSourceRef: &corev1.TypedObjectReference{Kind: "VolumeSnapshot", Name: "s", Namespace: ptr.To("other")}}
	normalizeDataSources(&crossNamespace)
	if crossNamespace.DataSource != nil {
		t.Error("a cross-namespace dataSourceRef got a dataSource")
	}
}

func TestStatusOnlyThroughStatus(t *testing.T) {
	old := testPVC()
	old.Status.Phase = corev1.ClaimPending
	upd := old.DeepCopy()
	upd.Status.Phase = corev1.ClaimBound
	strategy.PrepareForUpdate(context.Background(), upd, old)
	if upd.Status.Phase != corev1.ClaimPending {
		t.Error("an update of the main resource changed the status")
	}
	status := old.DeepCopy()
	status.Status.Phase = corev1.ClaimBound
	status.Spec.VolumeName = "pv1"
	statusStrategy.PrepareForUpdate(context.Background(), status, old)
	if status.Status.Phase != corev1.ClaimBound || status.Spec.VolumeName != "" {
		t.Errorf("status update: spec %+v status %+v", status.Spec, status.Status)
	}
}

func TestGetAttrs(t *testing.T) {
	_, fields, err := getAttrs(testPVC())
	if err != nil {
		t.Fatal(err)
	}
	if fields["name"] != "c1" || fields["metadata.namespace"] != "default" {
		t.Errorf("fields = %v", fields)
	}
}
