package statefulset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
}

func newWorld(t *testing.T, objs ...runtime.Object) *world {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods(),
		factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions())
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(1000)
	c.recorder = rec
	c.pods.recorder = rec
	// What the API server does on create: a UID, and pods start Pending.
	n := 0
	client.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		obj := a.(clienttesting.CreateAction).GetObject()
		m := obj.(metav1.Object)
		n++
		m.SetUID(types.UID(fmt.Sprintf("uid-%s-%d", m.GetName(), n)))
		m.SetCreationTimestamp(metav1.NewTime(time.Now().Add(time.Duration(n) * time.Millisecond)))
		if pod, ok := obj.(*corev1.Pod); ok {
			pod.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	w := &world{t: t, client: client, factory: factory, c: c}
	w.refresh()
	return w
}

func (w *world) refresh() {
	w.t.Helper()
	ctx := context.Background()
	fill := func(indexer cache.Indexer, items []runtime.Object) {
		var list []interface{}
		for _, o := range items {
			list = append(list, o)
		}
		if err := indexer.Replace(list, ""); err != nil {
			w.t.Fatal(err)
		}
	}
	sets, _ := w.client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	pods, _ := w.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	pvcs, _ := w.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	revs, _ := w.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	var objs []runtime.Object
	for i := range sets.Items {
		objs = append(objs, &sets.Items[i])
	}
	fill(w.factory.Apps().V1().StatefulSets().Informer().GetIndexer(), objs)
	objs = nil
	for i := range pods.Items {
		objs = append(objs, &pods.Items[i])
	}
	fill(w.factory.Core().V1().Pods().Informer().GetIndexer(), objs)
	objs = nil
	for i := range pvcs.Items {
		objs = append(objs, &pvcs.Items[i])
	}
	fill(w.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer(), objs)
	objs = nil
	for i := range revs.Items {
		objs = append(objs, &revs.Items[i])
	}
	fill(w.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer(), objs)
}

func (w *world) sync() {
	w.t.Helper()
	w.refresh()
	if err := w.c.sync(context.Background(), "ns/web"); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	w.refresh()
}

func (w *world) pods() []*corev1.Pod {
	list, _ := w.client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return ordinalOf(out[i]) < ordinalOf(out[j]) })
	return out
}

func (w *world) names() string {
	var n []string
	for _, p := range w.pods() {
		n = append(n, p.Name)
	}
	return strings.Join(n, ",")
}

// readyAll plays the kubelet: every pod runs and is ready.
func (w *world) readyAll() {
	for _, p := range w.pods() {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
		if _, err := w.client.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) set() *appsv1.StatefulSet {
	s, err := w.client.AppsV1().StatefulSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) updateSet(f func(s *appsv1.StatefulSet)) {
	s := w.set()
	f(s)
	s.Generation++
	if _, err := w.client.AppsV1().StatefulSets("ns").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func newSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
			PodManagementPolicy:  appsv1.OrderedReadyPodManagement,
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

func TestOrderedCreationWithIdentityAndClaims(t *testing.T) {
	w := newWorld(t, newSet(3))
	w.sync()
	if got := w.names(); got != "web-0" {
		t.Fatalf("first sync pods %q, want web-0 only", got)
	}
	p := w.pods()[0]
	if p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "nginx" || p.Labels[appsv1.StatefulSetPodNameLabel] != "web-0" || p.Labels[appsv1.PodIndexLabel] != "0" {
		t.Errorf("identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Errorf("volumes %+v", p.Spec.Volumes)
	}
	rev := p.Labels[appsv1.StatefulSetRevisionLabel]
	if !strings.HasPrefix(rev, "web-") {
		t.Errorf("revision label %q", rev)
	}
	pvc, err := w.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data-web-0", metav1.GetOptions{})
	if err != nil || pvc.Labels["app"] != "web" {
		t.Fatalf("claim %v %v", pvc, err)
	}
	if len(pvc.OwnerReferences) != 0 {
		t.Errorf("Retain policy must not own claims: %v", pvc.OwnerReferences)
	}
	// Not ready yet: nothing more.
	w.sync()
	if got := w.names(); got != "web-0" {
		t.Fatalf("pods %q before web-0 is ready", got)
	}
	w.readyAll()
	w.sync()
	if got := w.names(); got != "web-0,web-1" {
		t.Fatalf("pods %q", got)
	}
	for i := 0; i < 3; i++ {
		w.readyAll()
		w.sync()
	}
	s := w.set()
	if s.Status.Replicas != 3 || s.Status.ReadyReplicas != 3 || s.Status.AvailableReplicas != 3 || s.Status.CurrentReplicas != 3 ||
		s.Status.UpdatedReplicas != 3 || s.Status.CurrentRevision != rev || s.Status.UpdateRevision != rev || s.Status.ObservedGeneration != 1 {
		t.Errorf("status %+v", s.Status)
	}
	revs, _ := w.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 1 || revs.Items[0].Name != rev || revs.Items[0].Revision != 1 || metav1.GetControllerOf(&revs.Items[0]).UID != "set-uid" {
		t.Errorf("revisions %+v", revs.Items)
	}
}

func TestParallelCreatesAllAndScalesDownFromTheTop(t *testing.T) {
	s := newSet(3)
	s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	w := newWorld(t, s)
	w.sync()
	if got := w.names(); got != "web-0,web-1,web-2" {
		t.Fatalf("parallel pods %q", got)
	}
	w.readyAll()
	w.sync()

	// OrderedReady scale-down: one pod at a time, highest first.
	w.updateSet(func(s *appsv1.StatefulSet) {
		s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		s.Spec.Replicas = ptr.To[int32](1)
	})
	w.sync()
	if got := w.names(); got != "web-0,web-1" {
		t.Fatalf("after first scale-down sync %q, want web-2 deleted first", got)
	}
	w.sync()
	if got := w.names(); got != "web-0" {
		t.Fatalf("after second %q", got)
	}
}

func TestPartitionedRollingUpdate(t *testing.T) {
	w := newWorld(t, newSet(3))
	for i := 0; i < 4; i++ {
		w.sync()
		w.readyAll()
	}
	w.sync()
	oldRev := w.set().Status.CurrentRevision
	w.updateSet(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "img:2"
		s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](1)
	})
	for i := 0; i < 8; i++ {
		w.sync()
		w.readyAll()
	}
	s := w.set()
	newRev := s.Status.UpdateRevision
	if newRev == oldRev || s.Status.CurrentRevision != oldRev {
		t.Fatalf("revisions current %s update %s (old %s)", s.Status.CurrentRevision, newRev, oldRev)
	}
	pods := w.pods()
	want := []string{oldRev, newRev, newRev}
	for i, p := range pods {
		if podRevision(p) != want[i] {
			t.Errorf("%s at %s, want %s", p.Name, podRevision(p), want[i])
		}
	}
	if pods[1].Spec.Containers[0].Image != "img:2" || pods[0].Spec.Containers[0].Image != "img:1" {
		t.Errorf("images %s %s", pods[0].Spec.Containers[0].Image, pods[1].Spec.Containers[0].Image)
	}
	if s.Status.UpdatedReplicas != 2 || s.Status.CurrentReplicas != 1 {
		t.Errorf("status %+v", s.Status)
	}
	// Partition 0 finishes the update; then current = update.
	w.updateSet(func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0) })
	for i := 0; i < 4; i++ {
		w.sync()
		w.readyAll()
	}
	w.sync()
	s = w.set()
	if s.Status.CurrentRevision != newRev || s.Status.CurrentReplicas != 3 || s.Status.UpdatedReplicas != 3 {
		t.Errorf("after full update %+v", s.Status)
	}
	revs, _ := w.client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 2 {
		t.Errorf("%d revisions, want 2", len(revs.Items))
	}
}

func TestRollingUpdateMaxUnavailable(t *testing.T) {
	s := newSet(4)
	s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
	w := newWorld(t, s)
	w.sync()
	w.readyAll()
	w.sync()
	w.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:2" })
	w.sync()
	if got := w.names(); got != "web-0,web-1" {
		t.Fatalf("pods %q, want the two highest deleted at once", got)
	}
}

func TestRetentionPolicyOwnerReferences(t *testing.T) {
	s := newSet(2)
	s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	w := newWorld(t, s)
	w.sync()
	w.readyAll()
	w.sync()
	claim := func(name string) *corev1.PersistentVolumeClaim {
		c, err := w.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if refs := claim("data-web-1").OwnerReferences; len(refs) != 1 || refs[0].UID != "set-uid" || refs[0].Kind != "StatefulSet" {
		t.Fatalf("whenDeleted=Delete: owners %+v", refs)
	}
	w.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
	w.sync()
	refs := claim("data-web-1").OwnerReferences
	if len(refs) != 1 || refs[0].Kind != "Pod" || refs[0].Name != "web-1" {
		t.Fatalf("whenScaled=Delete: condemned pod's claim owners %+v", refs)
	}
	if refs := claim("data-web-0").OwnerReferences; len(refs) != 1 || refs[0].Kind != "StatefulSet" {
		t.Errorf("kept claim owners %+v", refs)
	}
}

func TestRevisionPatchRoundTrip(t *testing.T) {
	s := newSet(1)
	cr, err := newRevision(s, 1, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cr.Data.Raw), `"$patch":"replace"`) {
		t.Errorf("patch %s", cr.Data.Raw)
	}
	changed := s.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "other"
	restored, err := applyRevision(changed, cr)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Spec.Template.Spec.Containers[0].Image != "img:1" || *restored.Spec.Replicas != 1 {
		t.Errorf("restored %+v", restored.Spec.Template.Spec.Containers)
	}
}
