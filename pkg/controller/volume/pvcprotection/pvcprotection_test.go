package pvcprotection

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func setup(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().Pods())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Pod:
			_ = factory.Core().V1().Pods().Informer().GetIndexer().Add(v)
		case *corev1.PersistentVolumeClaim:
			_ = factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(v)
		}
	}
	return c, client
}

func claim(deleting bool, finalizers ...string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns", Finalizers: finalizers}}
	if deleting {
		now := metav1.Now()
		c.DeletionTimestamp = &now
	}
	return c
}

func podUsing(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: node,
		Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}}
}

func finalizers(t *testing.T, client *fake.Clientset) []string {
	got, err := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Finalizers
}

func TestAddsFinalizer(t *testing.T) {
	c, client := setup(t, claim(false))
	if err := c.sync(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(finalizers(t, client), Finalizer) {
		t.Errorf("finalizer not added")
	}
}

func TestKeepsClaimInUse(t *testing.T) {
	c, client := setup(t, claim(true, Finalizer), podUsing("p", "node-1"))
	if err := c.sync(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(finalizers(t, client), Finalizer) {
		t.Errorf("finalizer removed while a scheduled pod uses the claim")
	}
}

func TestReleasesUnusedClaim(t *testing.T) {
	// An unscheduled pod does not hold the claim.
	c, client := setup(t, claim(true, Finalizer, "other"), podUsing("p", ""))
	if err := c.sync(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if got := finalizers(t, client); slices.Contains(got, Finalizer) || !slices.Contains(got, "other") {
		t.Errorf("finalizers = %v", got)
	}
}

func TestLiveListCatchesStaleCache(t *testing.T) {
	c, client := setup(t, claim(true, Finalizer))
	// The pod exists in the API but not (yet) in the informer.
	if _, err := client.CoreV1().Pods("ns").Create(context.Background(), podUsing("p", "node-1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(finalizers(t, client), Finalizer) {
		t.Errorf("finalizer removed although the API shows a pod using the claim")
	}
}

func TestUnusedCondition(t *testing.T) {
	bound := claim(false, Finalizer)
	bound.Status.Phase = corev1.ClaimBound
	c, client := setup(t, bound)
	if err := c.sync(context.Background(), "ns/data"); err != nil {
		t.Fatal(err)
	}
	got, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data", metav1.GetOptions{})
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != corev1.PersistentVolumeClaimUnused ||
		got.Status.Conditions[0].Status != corev1.ConditionTrue || got.Status.Conditions[0].Reason != "NoPodsUsingPVC" {
		t.Errorf("conditions = %+v", got.Status.Conditions)
	}
}
