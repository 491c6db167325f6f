package vacprotection

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestFinalizer(t *testing.T) {
	now := metav1.Now()
	deleting := func() *storagev1.VolumeAttributesClass {
		return &storagev1.VolumeAttributesClass{ObjectMeta: metav1.ObjectMeta{Name: "gold", DeletionTimestamp: &now, Finalizers: []string{Finalizer}}, DriverName: "d"}
	}
	for name, tc := range map[string]struct {
		vac  *storagev1.VolumeAttributesClass
		uses []runtime.Object
		want bool
	}{
		"added":               {vac: &storagev1.VolumeAttributesClass{ObjectMeta: metav1.ObjectMeta{Name: "gold"}, DriverName: "d"}, want: true},
		"removed when unused": {vac: deleting(), want: false},
		"kept for a claim's spec": {vac: deleting(), want: true, uses: []runtime.Object{
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeAttributesClassName: ptr.To("gold")}}}},
		"kept for a claim's target": {vac: deleting(), want: true, uses: []runtime.Object{
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Status: corev1.PersistentVolumeClaimStatus{ModifyVolumeStatus: &corev1.ModifyVolumeStatus{TargetVolumeAttributesClassName: "gold"}}}}},
		"kept for a volume": {vac: deleting(), want: true, uses: []runtime.Object{
			&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Spec: corev1.PersistentVolumeSpec{VolumeAttributesClassName: ptr.To("gold")}}}},
		"removed when another class is used": {vac: deleting(), want: false, uses: []runtime.Object{
			&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Spec: corev1.PersistentVolumeSpec{VolumeAttributesClassName: ptr.To("silver")}}}},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset(append([]runtime.Object{tc.vac}, tc.uses...)...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := NewController(client, factory.Storage().V1().VolumeAttributesClasses(), factory.Core().V1().PersistentVolumes(), factory.Core().V1().PersistentVolumeClaims())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			factory.WaitForCacheSync(ctx.Done())
			if err := c.sync(ctx, "gold"); err != nil {
				t.Fatal(err)
			}
			got, _ := client.StorageV1().VolumeAttributesClasses().Get(ctx, "gold", metav1.GetOptions{})
			if slices.Contains(got.Finalizers, Finalizer) != tc.want {
				t.Errorf("finalizers = %v, want protected %v", got.Finalizers, tc.want)
			}
		})
	}
}
