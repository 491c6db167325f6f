package persistentvolume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller/volume/localpath"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	events  *record.FakeRecorder
	dir     string
}

func newWorld(t *testing.T, objs ...runtime.Object) *world {
	t.Helper()
	client := fake.NewClientset(objs...)
	n := 0
	client.PrependReactor("create", "persistentvolumeclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
		pvc := a.(clienttesting.CreateAction).GetObject().(*corev1.PersistentVolumeClaim)
		n++
		pvc.UID = types.UID("uid-" + pvc.Name)
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	dir := t.TempDir()
	f := factory.Core().V1()
	c, err := NewController(client, f.PersistentVolumes(), f.PersistentVolumeClaims(), factory.Storage().V1().StorageClasses(), f.Nodes(), f.Pods(),
		DefaultSyncPeriod, &localpath.Provisioner{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	events := record.NewFakeRecorder(100)
	c.recorder = events
	w := &world{t: t, client: client, factory: factory, c: c, events: events, dir: dir}
	w.refresh()
	return w
}

// refresh copies the API's objects into the informers, as watches would.
func (w *world) refresh() {
	w.t.Helper()
	ctx := context.Background()
	f := w.factory.Core().V1()
	pvs, _ := w.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	pvcs, _ := w.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	classes, _ := w.client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	nodes, _ := w.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	var items []interface{}
	for i := range pvs.Items {
		items = append(items, &pvs.Items[i])
	}
	if err := f.PersistentVolumes().Informer().GetIndexer().Replace(items, ""); err != nil {
		w.t.Fatal(err)
	}
	items = nil
	for i := range pvcs.Items {
		items = append(items, &pvcs.Items[i])
	}
	if err := f.PersistentVolumeClaims().Informer().GetIndexer().Replace(items, ""); err != nil {
		w.t.Fatal(err)
	}
	items = nil
	for i := range classes.Items {
		items = append(items, &classes.Items[i])
	}
	if err := w.factory.Storage().V1().StorageClasses().Informer().GetIndexer().Replace(items, ""); err != nil {
		w.t.Fatal(err)
	}
	items = nil
	for i := range nodes.Items {
		items = append(items, &nodes.Items[i])
	}
	if err := f.Nodes().Informer().GetIndexer().Replace(items, ""); err != nil {
		w.t.Fatal(err)
	}
}

// settle syncs every claim and volume a few rounds, refreshing the
// informers in between.
func (w *world) settle() {
	w.t.Helper()
	ctx := context.Background()
	for round := 0; round < 4; round++ {
		pvcs, _ := w.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		for _, pvc := range pvcs.Items {
			if err := w.c.syncClaimKey(ctx, pvc.Namespace+"/"+pvc.Name); err != nil {
				w.t.Fatalf("sync claim %s: %v", pvc.Name, err)
			}
			w.refresh()
		}
		pvs, _ := w.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		for _, pv := range pvs.Items {
			if err := w.c.syncVolumeKey(ctx, pv.Name); err != nil {
				w.t.Fatalf("sync volume %s: %v", pv.Name, err)
			}
			w.refresh()
		}
	}
}

func (w *world) claim(name string) *corev1.PersistentVolumeClaim {
	w.t.Helper()
	pvc, err := w.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return pvc
}

func (w *world) volume(name string) *corev1.PersistentVolume {
	w.t.Helper()
	pv, err := w.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return pv
}

func (w *world) createClaim(pvc *corev1.PersistentVolumeClaim) {
	w.t.Helper()
	if _, err := w.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Create(context.Background(), pvc, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.refresh()
}

func (w *world) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-w.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func pv(name, size string, class string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"size": size}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   modes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
}

func pvc(name, size string, class *string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

const rwo, rwx = corev1.ReadWriteOnce, corev1.ReadWriteMany

func TestBindsSmallestMatchingVolume(t *testing.T) {
	w := newWorld(t, pv("big", "5Gi", "", rwo), pv("fit", "2Gi", "", rwo), pv("shared", "2Gi", "", rwo, rwx), pv("small", "500Mi", "", rwo),
		pv("other-class", "1Gi", "fast", rwo))
	w.createClaim(pvc("data", "1Gi", ptr.To(""), rwo))
	w.settle()
	c := w.claim("data")
	if c.Spec.VolumeName != "fit" || c.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim bound to %q, phase %s", c.Spec.VolumeName, c.Status.Phase)
	}
	if c.Annotations[storagehelpers.AnnBindCompleted] != "yes" || c.Annotations[storagehelpers.AnnBoundByController] != "yes" {
		t.Errorf("claim annotations = %v", c.Annotations)
	}
	if got := c.Status.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" || len(c.Status.AccessModes) != 1 {
		t.Errorf("claim status capacity %s access modes %v", got.String(), c.Status.AccessModes)
	}
	v := w.volume("fit")
	if v.Status.Phase != corev1.VolumeBound || v.Spec.ClaimRef == nil || v.Spec.ClaimRef.UID != c.UID || v.Annotations[storagehelpers.AnnBoundByController] != "yes" {
		t.Errorf("volume = %+v %+v", v.Status, v.Spec.ClaimRef)
	}
	if w.volume("shared").Spec.ClaimRef != nil {
		t.Errorf("a volume with more access modes was taken")
	}
}

func TestSelectorAndNoMatch(t *testing.T) {
	w := newWorld(t, pv("a", "1Gi", "", rwo), pv("b", "3Gi", "", rwo))
	claim := pvc("sel", "1Gi", ptr.To(""), rwo)
	claim.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"size": "3Gi"}}
	w.createClaim(claim)
	w.createClaim(pvc("huge", "10Gi", ptr.To(""), rwo))
	w.settle()
	if got := w.claim("sel").Spec.VolumeName; got != "b" {
		t.Errorf("selector claim bound to %q", got)
	}
	huge := w.claim("huge")
	if huge.Status.Phase != corev1.ClaimPending || huge.Spec.VolumeName != "" {
		t.Errorf("unsatisfiable claim: %s %q", huge.Status.Phase, huge.Spec.VolumeName)
	}
	found := false
	for _, e := range w.drainEvents() {
		if e == "Normal FailedBinding no persistent volumes available for this claim and no storage class is set" {
			found = true
		}
	}
	if !found {
		t.Errorf("no FailedBinding event")
	}
}

func localPathWorld(t *testing.T, objs ...runtime.Object) *world {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelHostname: "node-1"}}}
	return newWorld(t, append(objs, localpath.StorageClass(), node)...)
}

func TestWaitForFirstConsumerThenProvision(t *testing.T) {
	w := localPathWorld(t)
	w.createClaim(pvc("data", "1Gi", ptr.To("local-path"), rwo))
	w.settle()
	if c := w.claim("data"); c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" {
		t.Fatalf("claim without a consumer: %s %q", c.Status.Phase, c.Spec.VolumeName)
	}
	if pvs, _ := w.client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{}); len(pvs.Items) != 0 {
		t.Fatalf("provisioned before a consumer was scheduled")
	}
	if ev := w.drainEvents(); len(ev) == 0 || ev[0] != "Normal WaitForFirstConsumer waiting for first consumer to be created before binding" {
		t.Errorf("events = %v", ev)
	}

	// The scheduler picks node-1.
	c := w.claim("data")
	c.Annotations = map[string]string{storagehelpers.AnnSelectedNode: "node-1"}
	if _, err := w.client.CoreV1().PersistentVolumeClaims("ns").Update(context.Background(), c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.refresh()
	w.settle()
	c = w.claim("data")
	pvName := "pvc-" + string(c.UID)
	if c.Spec.VolumeName != pvName || c.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim: volume %q phase %s", c.Spec.VolumeName, c.Status.Phase)
	}
	if c.Annotations[storagehelpers.AnnStorageProvisioner] != localpath.ProvisionerName {
		t.Errorf("claim annotations = %v", c.Annotations)
	}
	v := w.volume(pvName)
	wantPath := filepath.Join(w.dir, pvName+"_ns_data")
	if v.Spec.HostPath == nil || v.Spec.HostPath.Path != wantPath {
		t.Fatalf("volume source = %+v", v.Spec.PersistentVolumeSource)
	}
	if st, err := os.Stat(wantPath); err != nil || !st.IsDir() {
		t.Errorf("volume directory not created: %v", err)
	}
	if v.Spec.NodeAffinity == nil || v.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "node-1" {
		t.Errorf("node affinity = %+v", v.Spec.NodeAffinity)
	}
	if v.Spec.StorageClassName != "local-path" || v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		v.Annotations[storagehelpers.AnnDynamicallyProvisioned] != localpath.ProvisionerName || v.Status.Phase != corev1.VolumeBound {
		t.Errorf("volume = %+v %+v %v", v.Spec, v.Status, v.Annotations)
	}
	if len(v.Finalizers) != 1 || v.Finalizers[0] != storagehelpers.PVDeletionInTreeProtectionFinalizer {
		t.Errorf("finalizers = %v", v.Finalizers)
	}

	// The claim goes: the volume is released, its directory and the PV
	// deleted.
	if err := w.client.CoreV1().PersistentVolumeClaims("ns").Delete(context.Background(), "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.refresh()
	if err := w.c.syncVolumeKey(context.Background(), pvName); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wantPath); !os.IsNotExist(err) {
		t.Errorf("volume directory kept: %v", err)
	}
	if v := w.volume(pvName); v != nil && v.DeletionTimestamp == nil && len(v.Finalizers) != 0 {
		t.Errorf("volume kept: %+v", v)
	}
}

func TestRetainAndLostClaim(t *testing.T) {
	w := newWorld(t, pv("keep", "1Gi", "", rwo))
	w.createClaim(pvc("data", "1Gi", ptr.To(""), rwo))
	w.settle()
	if err := w.client.CoreV1().PersistentVolumeClaims("ns").Delete(context.Background(), "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.refresh()
	w.settle()
	if v := w.volume("keep"); v == nil || v.Status.Phase != corev1.VolumeReleased {
		t.Fatalf("retained volume = %+v", v)
	}

	// A bound claim whose volume is deleted is Lost.
	w2 := newWorld(t, pv("gone", "1Gi", "", rwo))
	w2.createClaim(pvc("data", "1Gi", ptr.To(""), rwo))
	w2.settle()
	if err := w2.client.CoreV1().PersistentVolumes().Delete(context.Background(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w2.refresh()
	w2.drainEvents()
	w2.settle()
	if c := w2.claim("data"); c.Status.Phase != corev1.ClaimLost {
		t.Errorf("claim phase = %s, want Lost", c.Status.Phase)
	}
	if ev := w2.drainEvents(); len(ev) == 0 || ev[0] != "Warning ClaimLost Bound claim has lost its PersistentVolume. Data on the volume is lost!" {
		t.Errorf("events = %v", ev)
	}
}

func TestExternalProvisionerAndDefaultClass(t *testing.T) {
	ext := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "ebs", Annotations: map[string]string{annDefaultStorageClass: "true"}},
		Provisioner: "ebs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)}
	w := newWorld(t, ext)
	w.createClaim(pvc("data", "1Gi", nil, rwo))
	w.settle()
	c := w.claim("data")
	if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "ebs" {
		t.Fatalf("default class not assigned: %v", c.Spec.StorageClassName)
	}
	if c.Annotations[storagehelpers.AnnStorageProvisioner] != "ebs.csi.aws.com" || c.Annotations[storagehelpers.AnnBetaStorageProvisioner] != "ebs.csi.aws.com" {
		t.Errorf("annotations = %v", c.Annotations)
	}
	found := false
	for _, e := range w.drainEvents() {
		if strings.HasPrefix(e, "Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com'") {
			found = true
		}
	}
	if !found {
		t.Errorf("no ExternalProvisioning event")
	}
}

func TestPreboundVolume(t *testing.T) {
	v := pv("mine", "1Gi", "", rwo)
	v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "data"}
	w := newWorld(t, v, pv("other", "1Gi", "", rwo))
	w.createClaim(pvc("data", "1Gi", ptr.To(""), rwo))
	w.settle()
	if got := w.claim("data").Spec.VolumeName; got != "mine" {
		t.Errorf("claim bound to %q, want the volume pre-bound to it", got)
	}
	if _, ok := w.volume("mine").Annotations[storagehelpers.AnnBoundByController]; ok {
		t.Errorf("a user's pre-binding was marked bound-by-controller")
	}
}
