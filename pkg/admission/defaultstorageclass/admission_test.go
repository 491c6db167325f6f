package defaultstorageclass

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func class(name string, isDefault bool, created time.Time) *storagev1.StorageClass {
	c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}}
	if isDefault {
		c.Annotations = map[string]string{IsDefaultAnnotation: "true"}
	}
	return c
}

func TestDefaultsClaimClass(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name    string
		classes []*storagev1.StorageClass
		claim   *string
		want    *string
	}{
		{"no default", []*storagev1.StorageClass{class("a", false, old)}, nil, nil},
		{"one default", []*storagev1.StorageClass{class("a", false, old), class("local", true, old)}, nil, ptr.To("local")},
		{"newest default wins", []*storagev1.StorageClass{class("older", true, old), class("newer", true, time.Now())}, nil, ptr.To("newer")},
		{"explicit class kept", []*storagev1.StorageClass{class("local", true, old)}, ptr.To("fast"), ptr.To("fast")},
		{"explicit empty class kept", []*storagev1.StorageClass{class("local", true, old)}, ptr.To(""), ptr.To("")},
	}
	for _, tc := range tests {
		f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
		for _, c := range tc.classes {
			_ = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(c)
		}
		p := New()
		p.SetExternalKubeInformerFactory(f)
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tc.claim}}
		a := admission.NewAttributesRecord(pvc, nil, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "ns", "c",
			corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), "", admission.Create, nil, false, nil)
		if err := p.Admit(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		got := pvc.Spec.StorageClassName
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: class = %v, want %v", tc.name, ptr.Deref(got, "<nil>"), ptr.Deref(tc.want, "<nil>"))
		}
	}
}
