package ephemeral

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func setup(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Pods(), factory.Core().V1().PersistentVolumeClaims())
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(10)
	c.recorder = rec
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Pod:
			_ = factory.Core().V1().Pods().Informer().GetIndexer().Add(v)
		case *corev1.PersistentVolumeClaim:
			_ = factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(v)
		}
	}
	return c, client, rec
}

func podWithEphemeral() *corev1.Pod {
	class := "fast"
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "pod-uid"}, Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"type": "scratch"}},
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
			}}}}}}}
}

func TestCreatesClaim(t *testing.T) {
	c, client, _ := setup(t, podWithEphemeral())
	if err := c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	pvc, err := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "web-scratch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := metav1.GetControllerOf(pvc)
	if ref == nil || ref.UID != "pod-uid" || ref.Kind != "Pod" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("owner = %+v", pvc.OwnerReferences)
	}
	if pvc.Labels["type"] != "scratch" || *pvc.Spec.StorageClassName != "fast" {
		t.Errorf("claim = %+v", pvc)
	}
}

func TestForeignClaimIsAnError(t *testing.T) {
	foreign := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "web-scratch", Namespace: "ns"}}
	c, _, rec := setup(t, podWithEphemeral(), foreign)
	if err := c.sync(context.Background(), "ns/web"); err == nil {
		t.Fatal("a claim not created for the pod was accepted")
	}
	select {
	case e := <-rec.Events:
		if e != `Warning FailedBinding ephemeral volume scratch: PVC ns/web-scratch was not created for pod ns/web (pod is not owner)` {
			t.Errorf("event = %q", e)
		}
	default:
		t.Errorf("no event")
	}
}
