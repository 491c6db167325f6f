package storageobjectinuseprotection

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
)

func TestAddsFinalizersOnce(t *testing.T) {
	tests := []struct {
		obj       runtime.Object
		resource  string
		finalizer string
	}{
		{&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, "persistentvolumeclaims", PVCProtectionFinalizer},
		{&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v", Finalizers: []string{PVProtectionFinalizer}}}, "persistentvolumes", PVProtectionFinalizer},
	}
	for _, tc := range tests {
		a := admission.NewAttributesRecord(tc.obj, nil, corev1.SchemeGroupVersion.WithKind("X"), "ns", "x",
			corev1.SchemeGroupVersion.WithResource(tc.resource), "", admission.Create, nil, false, nil)
		if err := New().Admit(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		m := tc.obj.(metav1.Object)
		if f := m.GetFinalizers(); len(f) != 1 || f[0] != tc.finalizer {
			t.Errorf("%s finalizers = %v", tc.resource, f)
		}
	}
}
