package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

type fixture struct {
	client     *fake.Clientset
	informers  informers.SharedInformerFactory
	core       *Core
	podControl *controller.FakePodControl
}

func newFixture(t *testing.T, objs ...*appsv1.ReplicaSet) *fixture {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	rsInformer := factory.Apps().V1().ReplicaSets()
	if err := addControllerUIDIndexer(rsInformer.Informer()); err != nil {
		t.Fatal(err)
	}
	kind := &replicaSetKind{client: client, informer: rsInformer.Informer(), lister: rsInformer.Lister()}
	pc := &controller.FakePodControl{}
	core, err := NewCore(kind, factory.Core().V1().Pods(), pc, nil, "replicaset", BurstReplicas)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{client: client, informers: factory, core: core, podControl: pc}
	for _, rs := range objs {
		f.addRS(t, rs)
	}
	return f
}

func (f *fixture) addRS(t *testing.T, rs *appsv1.ReplicaSet) {
	t.Helper()
	if err := f.informers.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AppsV1().ReplicaSets(rs.Namespace).Create(context.Background(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) addPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if err := f.informers.Core().V1().Pods().Informer().GetIndexer().Add(pod); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) status(t *testing.T, rs *appsv1.ReplicaSet) appsv1.ReplicaSetStatus {
	t.Helper()
	got, err := f.client.AppsV1().ReplicaSets(rs.Namespace).Get(context.Background(), rs.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Status
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Generation: 2},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

var podCounter atomic.Int32

// newPod returns a pod controlled by rs (or an orphan when rs is nil) with
// the given phase and readiness.
func newPod(rs *appsv1.ReplicaSet, labels map[string]string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	n := podCounter.Add(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("pod-%d", n), Namespace: "ns", UID: types.UID(fmt.Sprintf("pod-uid-%d", n)),
			Labels: labels, ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour)),
		},
		Status: corev1.PodStatus{Phase: phase},
	}
	if rs != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
	}
	if phase == corev1.PodRunning {
		pod.Spec.NodeName = "node-1"
	}
	if ready {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Minute))}}
	}
	return pod
}

func TestCreatesMissingPodsOnceWithControllerRef(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if len(f.podControl.Created) != 3 {
		t.Fatalf("created %d pods, want 3", len(f.podControl.Created))
	}
	p := f.podControl.Created[0]
	if p.GenerateName != "web-" || p.Labels["tier"] != "web" {
		t.Errorf("pod generateName %q labels %v", p.GenerateName, p.Labels)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("controller ref %+v", ref)
	}
	// The creations are not observed yet: a second sync must not create again.
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if len(f.podControl.Created) != 3 {
		t.Fatalf("second sync created more pods: %d", len(f.podControl.Created))
	}
	// Seeing them through the informer satisfies the expectations.
	for _, p := range f.podControl.Created {
		p.UID = types.UID(p.Name)
		f.addPod(t, p)
		f.core.addPod(p)
	}
	if !f.core.expectations.Satisfied("ns/web") {
		t.Fatal("expectations not satisfied after observing creations")
	}
	st := f.status(t, rs)
	if st.Replicas != 0 || st.ObservedGeneration != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestDeletesLeastValuablePodsFirst(t *testing.T) {
	rs := newRS("web", 2)
	f := newFixture(t, rs)
	labels := rs.Spec.Template.Labels
	readyRunning := newPod(rs, labels, corev1.PodRunning, true)
	readyRunning2 := newPod(rs, labels, corev1.PodRunning, true)
	pending := newPod(rs, labels, corev1.PodPending, false)
	notReady := newPod(rs, labels, corev1.PodRunning, false)
	for _, p := range []*corev1.Pod{readyRunning, pending, notReady, readyRunning2} {
		f.addPod(t, p)
	}
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ns/" + pending.Name: true, "ns/" + notReady.Name: true}
	if len(f.podControl.Deleted) != 2 || !want[f.podControl.Deleted[0]] || !want[f.podControl.Deleted[1]] {
		t.Fatalf("deleted %v, want the pending and the not-ready pod", f.podControl.Deleted)
	}
	if f.core.expectations.Satisfied("ns/web") {
		t.Fatal("deletions should be expected")
	}
	// A deletion seen twice (deletionTimestamp update, then delete) counts once.
	f.core.deletePod(pending)
	f.core.deletePod(pending)
	if a, d := f.core.expectations.Pending("ns/web"); a != 0 || d != 1 {
		t.Fatalf("pending expectations %d/%d, want 0/1", a, d)
	}
	f.core.deletePod(notReady)
	if !f.core.expectations.Satisfied("ns/web") {
		t.Fatal("expectations not satisfied")
	}
}

func TestAdoptsMatchingOrphansAndReleasesOthers(t *testing.T) {
	rs := newRS("web", 2)
	f := newFixture(t, rs)
	orphan := newPod(nil, map[string]string{"app": "web"}, corev1.PodRunning, true)
	mismatched := newPod(rs, map[string]string{"app": "other"}, corev1.PodRunning, true)
	deletingOrphan := newPod(nil, map[string]string{"app": "web"}, corev1.PodRunning, true)
	deletingOrphan.DeletionTimestamp = ptr.To(metav1.Now())
	otherOwner := newPod(newRS("other", 1), map[string]string{"app": "web"}, corev1.PodRunning, true)
	for _, p := range []*corev1.Pod{orphan, mismatched, deletingOrphan, otherOwner} {
		f.addPod(t, p)
	}
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if len(f.podControl.Patches) != 2 {
		t.Fatalf("patches %v, want an adoption and a release", f.podControl.Patches)
	}
	var adopt, release string
	for _, p := range f.podControl.Patches {
		if strings.HasPrefix(p, "ns/"+orphan.Name+" ") {
			adopt = p
		} else {
			release = p
		}
	}
	if !strings.HasPrefix(adopt, "ns/"+orphan.Name+" ") || !strings.Contains(adopt, `"controller":true`) || !strings.Contains(adopt, `"uid":"`+string(orphan.UID)+`"`) {
		t.Errorf("adoption patch %s", adopt)
	}
	if !strings.HasPrefix(release, "ns/"+mismatched.Name+" ") || !strings.Contains(release, `"$patch":"delete"`) {
		t.Errorf("release patch %s", release)
	}
	// One adopted pod counts; one more is created.
	if len(f.podControl.Created) != 1 {
		t.Errorf("created %d, want 1", len(f.podControl.Created))
	}
}

func TestAdoptionRefusedWhenOwnerIsBeingDeleted(t *testing.T) {
	rs := newRS("web", 1)
	f := newFixture(t, rs)
	// The cache is stale; the API says the ReplicaSet is being deleted.
	live := rs.DeepCopy()
	live.DeletionTimestamp = ptr.To(metav1.Now())
	if _, err := f.client.AppsV1().ReplicaSets("ns").Update(context.Background(), live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.addPod(t, newPod(nil, map[string]string{"app": "web"}, corev1.PodRunning, true))
	err := f.core.sync(context.Background(), "ns/web")
	if err == nil || !strings.Contains(err.Error(), "has just been deleted") {
		t.Fatalf("err = %v", err)
	}
	if len(f.podControl.Patches) != 0 {
		t.Fatalf("patched %v", f.podControl.Patches)
	}
}

func TestStatusCounts(t *testing.T) {
	rs := newRS("web", 4)
	rs.Spec.MinReadySeconds = 120
	f := newFixture(t, rs)
	labels := rs.Spec.Template.Labels
	readyLong := newPod(rs, labels, corev1.PodRunning, true)
	readyLong.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Now().Add(-time.Hour))
	readyShort := newPod(rs, labels, corev1.PodRunning, true) // ready a minute: not available
	partial := newPod(rs, map[string]string{"app": "web"}, corev1.PodPending, false)
	notReady := newPod(rs, labels, corev1.PodRunning, false)
	terminating := newPod(rs, labels, corev1.PodRunning, true)
	terminating.DeletionTimestamp = ptr.To(metav1.Now())
	succeeded := newPod(rs, labels, corev1.PodSucceeded, false)
	for _, p := range []*corev1.Pod{readyLong, readyShort, partial, notReady, terminating, succeeded} {
		f.addPod(t, p)
	}
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	st := f.status(t, rs)
	want := appsv1.ReplicaSetStatus{Replicas: 4, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1, TerminatingReplicas: ptr.To[int32](1), ObservedGeneration: 2}
	st.Conditions = nil
	if !apiequality.Semantic.DeepEqual(st, want) {
		t.Errorf("status\n got %+v\nwant %+v", st, want)
	}
	if len(f.podControl.Created)+len(f.podControl.Deleted) != 0 {
		t.Errorf("unexpected creates/deletes")
	}
}

func TestReplicaFailureCondition(t *testing.T) {
	rs := newRS("web", 2)
	f := newFixture(t, rs)
	f.podControl.Err = errors.New(`pods "web-x" is forbidden: exceeded quota`)
	if err := f.core.sync(context.Background(), "ns/web"); err == nil {
		t.Fatal("want the create error")
	}
	st := f.status(t, rs)
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" ||
		st.Conditions[0].Status != corev1.ConditionTrue || !strings.Contains(st.Conditions[0].Message, "exceeded quota") {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	// Slow start: one doomed call, not two.
	if a, _ := f.core.expectations.Pending("ns/web"); a != 0 {
		t.Errorf("pending creations %d after a failed batch", a)
	}
	// Once creates work, the condition goes away.
	f.podControl.Err = nil
	f.core.kind.(*replicaSetKind).informer.GetIndexer().Update(func() *appsv1.ReplicaSet {
		cur, _ := f.client.AppsV1().ReplicaSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
		return cur
	}())
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if st := f.status(t, rs); len(st.Conditions) != 0 {
		t.Fatalf("conditions after success %+v", st.Conditions)
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	ok, err := SlowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if ok != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("ok=%d err=%v calls=%d", ok, err, calls.Load())
	}
	calls.Store(0)
	// Batches 1, 2, 4: the failure in the third batch stops the rest.
	ok, err = SlowStartBatch(10, 1, func() error {
		if calls.Add(1) > 4 {
			return errors.New("quota")
		}
		return nil
	})
	if err == nil || calls.Load() != 7 || ok != 4 {
		t.Fatalf("ok=%d err=%v calls=%d, want 4 successes of 7 calls", ok, err, calls.Load())
	}
}

func TestDeletionPrefersDoubledUpNodes(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "d-uid", Controller: ptr.To(true)}
	rs := newRS("web", 1)
	rs.OwnerReferences = []metav1.OwnerReference{owner}
	old := newRS("old", 0)
	old.OwnerReferences = []metav1.OwnerReference{owner}
	f := newFixture(t, rs, old)
	a := newPod(rs, rs.Spec.Template.Labels, corev1.PodRunning, true)
	a.Spec.NodeName = "node-a"
	b := newPod(rs, rs.Spec.Template.Labels, corev1.PodRunning, true)
	b.Spec.NodeName = "node-b"
	b.Status.Conditions[0].LastTransitionTime = a.Status.Conditions[0].LastTransitionTime
	b.CreationTimestamp = a.CreationTimestamp
	// The old ReplicaSet still runs a pod on node-b.
	sibling := newPod(old, old.Spec.Template.Labels, corev1.PodRunning, true)
	sibling.Spec.NodeName = "node-b"
	for _, p := range []*corev1.Pod{a, b, sibling} {
		f.addPod(t, p)
	}
	if err := f.core.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if len(f.podControl.Deleted) != 1 || f.podControl.Deleted[0] != "ns/"+b.Name {
		t.Fatalf("deleted %v, want the pod on the doubled-up node %s", f.podControl.Deleted, b.Name)
	}
}
