package pvprotection

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestFinalizer(t *testing.T) {
	now := metav1.Now()
	for name, tc := range map[string]struct {
		pv   *corev1.PersistentVolume
		want bool
	}{
		"added":              {&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v"}}, true},
		"kept while bound":   {&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v", DeletionTimestamp: &now, Finalizers: []string{Finalizer}}, Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}}, true},
		"removed when freed": {&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "v", DeletionTimestamp: &now, Finalizers: []string{Finalizer}}, Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset(tc.pv)
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := NewController(client, factory.Core().V1().PersistentVolumes())
			if err != nil {
				t.Fatal(err)
			}
			_ = factory.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(tc.pv)
			if err := c.sync(context.Background(), "v"); err != nil {
				t.Fatal(err)
			}
			got, _ := client.CoreV1().PersistentVolumes().Get(context.Background(), "v", metav1.GetOptions{})
			if slices.Contains(got.Finalizers, Finalizer) != tc.want {
				t.Errorf("finalizers = %v", got.Finalizers)
			}
		})
	}
}
