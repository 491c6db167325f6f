package replication

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
	"github.com/skiff-project/skiff/pkg/controller/replicaset"
)

func TestReplicationControllerCreatesPodsAndReportsFailure(t *testing.T) {
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "rc-uid", Generation: 3},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: map[string]string{"app": "rc"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rc"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	client := fake.NewClientset(rc)
	factory := informers.NewSharedInformerFactory(client, 0)
	rcInformer := factory.Core().V1().ReplicationControllers()
	if err := rcInformer.Informer().GetIndexer().Add(rc); err != nil {
		t.Fatal(err)
	}
	pc := &controller.FakePodControl{Err: errors.New("quota exceeded")}
	kind := &rcKind{client: client, informer: rcInformer.Informer(), lister: rcInformer.Lister()}
	core, err := replicaset.NewCore(kind, factory.Core().V1().Pods(), pc, nil, "replicationmanager", replicaset.BurstReplicas)
	if err != nil {
		t.Fatal(err)
	}
	syncOnce(t, core, "ns/rc")
	got, _ := client.CoreV1().ReplicationControllers("ns").Get(context.Background(), "rc", metav1.GetOptions{})
	if got.Status.ObservedGeneration != 3 || len(got.Status.Conditions) != 1 ||
		got.Status.Conditions[0].Type != corev1.ReplicationControllerReplicaFailure || got.Status.Conditions[0].Reason != "FailedCreate" {
		t.Fatalf("status %+v", got.Status)
	}
	pc.Err = nil
	if err := rcInformer.Informer().GetIndexer().Update(got); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, core, "ns/rc")
	if len(pc.Created) != 2 {
		t.Fatalf("created %d pods", len(pc.Created))
	}
	ref := metav1.GetControllerOf(pc.Created[0])
	if ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || pc.Created[0].GenerateName != "rc-" {
		t.Errorf("pod %+v ref %+v", pc.Created[0].ObjectMeta, ref)
	}
	got, _ = client.CoreV1().ReplicationControllers("ns").Get(context.Background(), "rc", metav1.GetOptions{})
	if len(got.Status.Conditions) != 0 {
		t.Errorf("ReplicaFailure not cleared: %+v", got.Status.Conditions)
	}
}

func syncOnce(t *testing.T, core *replicaset.Core, key string) {
	t.Helper()
	if err := core.SyncKey(context.Background(), key); err != nil {
		t.Logf("sync %s: %v", key, err)
	}
}
