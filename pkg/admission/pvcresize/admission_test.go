package pvcresize

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func claim(class, size string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
}

func TestResize(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	_ = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "grows"}, AllowVolumeExpansion: ptr.To(true)})
	_ = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fixed"}})
	p := New()
	p.SetExternalKubeInformerFactory(f)
	tests := []struct {
		name     string
		old, new *corev1.PersistentVolumeClaim
		want     string
	}{
		{"grow expandable bound claim", claim("grows", "1Gi", corev1.ClaimBound), claim("grows", "2Gi", corev1.ClaimBound), ""},
		{"shrinking is not this plugin's business", claim("fixed", "2Gi", corev1.ClaimBound), claim("fixed", "1Gi", corev1.ClaimBound), ""},
		{"class does not allow expansion", claim("fixed", "1Gi", corev1.ClaimBound), claim("fixed", "2Gi", corev1.ClaimBound), "only dynamically provisioned pvc can be resized"},
		{"unbound", claim("grows", "1Gi", corev1.ClaimPending), claim("grows", "2Gi", corev1.ClaimPending), "Only bound persistent volume claims can be expanded"},
	}
	for _, tc := range tests {
		a := admission.NewAttributesRecord(tc.new, tc.old, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "ns", "c",
			corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), "", admission.Update, nil, false, nil)
		err := p.Validate(context.Background(), a, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
