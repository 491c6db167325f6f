package volumeattachment

import (
	"context"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func newAttachment() *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "va", Labels: map[string]string{"a": "1"}},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: "csi.example.com",
			NodeName: "n1",
			Source:   storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv1")},
		},
	}
}

func TestMainResourceKeepsStatus(t *testing.T) {
	va := newAttachment()
	va.Status.Attached = true
	strategy.PrepareForCreate(context.Background(), va)
	if va.Status.Attached {
		t.Error("create kept status.attached")
	}

	old := newAttachment()
	old.Status.Attached = true
	updated := old.DeepCopy()
	updated.Status.Attached = false
	updated.Labels["a"] = "2"
	strategy.PrepareForUpdate(context.Background(), updated, old)
	if !updated.Status.Attached {
		t.Error("update through the main resource changed the status")
	}
	if updated.Labels["a"] != "2" {
		t.Error("update through the main resource lost a label change")
	}
}

func TestStatusKeepsSpecAndMetadata(t *testing.T) {
	old := newAttachment()
	updated := old.DeepCopy()
	updated.Spec.NodeName = "n2"
	updated.Labels["a"] = "2"
	updated.Status = storagev1.VolumeAttachmentStatus{
		Attached:    true,
		AttachError: &storagev1.VolumeError{Message: "boom", ErrorCode: ptr.To[int32](5)},
	}
	statusStrategy.PrepareForUpdate(context.Background(), updated, old)
	if updated.Spec.NodeName != "n1" {
		t.Errorf("status update changed spec.nodeName to %q", updated.Spec.NodeName)
	}
	if updated.Labels["a"] != "1" {
		t.Errorf("status update changed a label to %q", updated.Labels["a"])
	}
	if !updated.Status.Attached || updated.Status.AttachError == nil || updated.Status.AttachError.ErrorCode == nil {
		t.Errorf("status update lost the new status: %+v", updated.Status)
	}
	if errs := statusStrategy.ValidateUpdate(context.Background(), updated, old); len(errs) != 0 {
		t.Errorf("valid status update rejected: %v", errs)
	}
}
