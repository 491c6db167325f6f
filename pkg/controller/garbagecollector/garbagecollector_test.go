package garbagecollector

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/skiff-project/skiff/pkg/controller/internal/fakemetadata"
)

var (
	configMaps    = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	widgets       = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	clusterThings = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "clusterthings"}
)

// staticMapper knows configmaps, widgets (namespaced custom resources) and
// clusterthings (cluster-scoped).
type staticMapper struct{ meta.RESTMapper }

func (staticMapper) Reset() {}

func newMapper() staticMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "ClusterThing"}, meta.RESTScopeRoot)
	return staticMapper{m}
}

// fakeDiscovery serves a resource list the test can change, as CRDs come
// and go.
type fakeDiscovery struct {
	mu    sync.Mutex
	lists []*metav1.APIResourceList
}

var watchable = []string{"create", "delete", "get", "list", "patch", "update", "watch"}

func newDiscovery(withWidgets bool) *fakeDiscovery {
	d := &fakeDiscovery{}
	d.set(withWidgets)
	return d
}

func (d *fakeDiscovery) set(withWidgets bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lists = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: watchable},
		{Name: "events", Namespaced: true, Kind: "Event", Verbs: watchable},
		{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
	}}}
	example := &metav1.APIResourceList{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "clusterthings", Kind: "ClusterThing", Verbs: watchable},
	}}
	if withWidgets {
		example.APIResources = append(example.APIResources, metav1.APIResource{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: watchable})
	}
	d.lists = append(d.lists, example)
}

func (d *fakeDiscovery) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.lists), nil
}
func (d *fakeDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return d.ServerPreferredResources()
}
func (d *fakeDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	lists, _ := d.ServerPreferredResources()
	for _, l := range lists {
		if l.GroupVersion == gv {
			return l, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{}, gv)
}
func (d *fakeDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	lists, err := d.ServerPreferredResources()
	return nil, lists, err
}

func ref(kind, name, uid string, blocking bool) metav1.OwnerReference {
	apiVersion := "v1"
	if kind != "ConfigMap" {
		apiVersion = "example.com/v1"
	}
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), BlockOwnerDeletion: &blocking}
}

func cm(name string, owners ...metav1.OwnerReference) fakemetadata.Object {
	o := fakemetadata.NewObject(configMaps, "ConfigMap", "ns", name, name+"-uid")
	o.Meta.OwnerReferences = owners
	return o
}

func widget(name string, owners ...metav1.OwnerReference) fakemetadata.Object {
	o := fakemetadata.NewObject(widgets, "Widget", "ns", name, name+"-uid")
	o.Meta.OwnerReferences = owners
	return o
}

type harness struct {
	t         *testing.T
	ctx       context.Context
	client    *fakemetadata.Client
	discovery *fakeDiscovery
	gc        *GarbageCollector
	kube      *fake.Clientset
}

// start runs a collector over objects until the test ends.
func start(t *testing.T, discovery *fakeDiscovery, objects ...fakemetadata.Object) *harness {
	t.Helper()
	client, err := fakemetadata.NewClient(objects...)
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, client, discovery)
}

func startWith(t *testing.T, client *fakemetadata.Client, discovery *fakeDiscovery) *harness {
	t.Helper()
	kube := fake.NewClientset()
	gc, err := NewController(kube, client, newMapper(), discovery, DefaultIgnoredResources())
	if err != nil {
		t.Fatal(err)
	}
	gc.SyncPeriod = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go gc.Run(ctx, 2)
	return &harness{t: t, ctx: ctx, client: client, discovery: discovery, gc: gc, kube: kube}
}

func (h *harness) get(gvr schema.GroupVersionResource, name string) *metav1.PartialObjectMetadata {
	return h.client.Get(gvr, "ns", name)
}

func (h *harness) delete(gvr schema.GroupVersionResource, name string, policy metav1.DeletionPropagation) {
	h.t.Helper()
	if err := h.client.Resource(gvr).Namespace("ns").Delete(h.ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		h.t.Fatalf("delete %s: %v", name, err)
	}
}

// eventually waits up to 10 s for cond.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	err := wait.PollUntilContextTimeout(h.ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		h.t.Fatalf("timed out waiting until %s; deleted so far: %v", what, h.client.Deleted())
	}
}

func (h *harness) gone(gvr schema.GroupVersionResource, names ...string) func() bool {
	return func() bool {
		for _, n := range names {
			if h.get(gvr, n) != nil {
				return false
			}
		}
		return true
	}
}

// synced waits until every monitor has listed and the graph holds n
// nodes, so that what follows is driven by events, not the initial list.
func (h *harness) synced(n int) {
	h.t.Helper()
	h.eventually("the graph is built", func() bool { return h.gc.builder.isSynced() && h.gc.builder.graph.len() >= n })
}

func TestBackgroundDeletionCollectsDependentsTransitively(t *testing.T) {
	h := start(t, newDiscovery(true),
		cm("owner"),
		cm("dep1", ref("ConfigMap", "owner", "owner-uid", false)),
		cm("dep2", ref("ConfigMap", "owner", "owner-uid", true)),
		widget("grandchild", ref("ConfigMap", "dep1", "dep1-uid", false)),
		cm("unrelated"),
	)
	h.synced(5)
	h.delete(configMaps, "owner", metav1.DeletePropagationBackground)
	h.eventually("dependents are collected", h.gone(configMaps, "dep1", "dep2"))
	h.eventually("the grandchild is collected", h.gone(widgets, "grandchild"))
	if h.get(configMaps, "unrelated") == nil {
		t.Errorf("an object without owners was deleted")
	}
}

func TestForegroundDeletionWaitsForBlockingDependents(t *testing.T) {
	blocking := cm("blocking", ref("ConfigMap", "owner", "owner-uid", true))
	blocking.Meta.Finalizers = []string{"test/hold"}
	h := start(t, newDiscovery(true),
		cm("owner"),
		blocking,
		cm("nonblocking", ref("ConfigMap", "owner", "owner-uid", false)),
	)
	h.synced(3)
	h.delete(configMaps, "owner", metav1.DeletePropagationForeground)

	h.eventually("the non-blocking dependent is deleted", h.gone(configMaps, "nonblocking"))
	h.eventually("the blocking dependent is being deleted", func() bool {
		b := h.get(configMaps, "blocking")
		return b != nil && b.DeletionTimestamp != nil
	})
	owner := h.get(configMaps, "owner")
	if owner == nil || owner.DeletionTimestamp == nil || !slices.Contains(owner.Finalizers, metav1.FinalizerDeleteDependents) {
		t.Fatalf("owner = %+v, want it waiting (foregroundDeletion) for its blocking dependent", owner)
	}

	// The blocking dependent finishes; only then may the owner go.
	if _, err := h.client.Resource(configMaps).Namespace("ns").Patch(h.ctx, "blocking", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the owner is deleted", h.gone(configMaps, "owner"))
	deleted := h.client.Deleted()
	if slices.Index(deleted, "ns/blocking") > slices.Index(deleted, "ns/owner") {
		t.Errorf("deletion order %v: the owner went before its blocking dependent", deleted)
	}
}

func TestForegroundDeletionDropsReferenceFromDependentWithOtherOwner(t *testing.T) {
	h := start(t, newDiscovery(true),
		cm("owner"),
		cm("keeper"),
		cm("shared", ref("ConfigMap", "owner", "owner-uid", true), ref("ConfigMap", "keeper", "keeper-uid", false)),
	)
	h.synced(3)
	h.delete(configMaps, "owner", metav1.DeletePropagationForeground)
	h.eventually("the owner is deleted", h.gone(configMaps, "owner"))
	shared := h.get(configMaps, "shared")
	if shared == nil || len(shared.OwnerReferences) != 1 || shared.OwnerReferences[0].Name != "keeper" {
		t.Errorf("shared dependent = %+v, want it kept with only its living owner", shared)
	}
}

func TestOrphanRemovesReferencesThenFinalizer(t *testing.T) {
	h := start(t, newDiscovery(true),
		cm("owner"),
		cm("keeper"),
		cm("dep1", ref("ConfigMap", "owner", "owner-uid", true), ref("ConfigMap", "keeper", "keeper-uid", false)),
		cm("dep2", ref("ConfigMap", "owner", "owner-uid", false)),
	)
	h.synced(4)
	h.delete(configMaps, "owner", metav1.DeletePropagationOrphan)
	h.eventually("the owner is deleted", h.gone(configMaps, "owner"))
	dep1, dep2 := h.get(configMaps, "dep1"), h.get(configMaps, "dep2")
	if dep1 == nil || dep2 == nil {
		t.Fatalf("orphaned dependents deleted: dep1=%v dep2=%v", dep1, dep2)
	}
	if len(dep1.OwnerReferences) != 1 || dep1.OwnerReferences[0].Name != "keeper" {
		t.Errorf("dep1 owners = %v, want only keeper", dep1.OwnerReferences)
	}
	if len(dep2.OwnerReferences) != 0 {
		t.Errorf("dep2 owners = %v, want none", dep2.OwnerReferences)
	}
}

func TestOrphanCustomResourcesWithMergePatch(t *testing.T) {
	client, err := fakemetadata.NewClient(cm("owner"), widget("w", ref("ConfigMap", "owner", "owner-uid", false)))
	if err != nil {
		t.Fatal(err)
	}
	// Custom resources do not take strategic merge patches.
	client.PrependReactor("patch", "widgets", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.(clienttesting.PatchAction).GetPatchType() == types.StrategicMergePatchType {
			return true, nil, apierrors.NewGenericServerResponse(415, "patch", widgets.GroupResource(), "w", "the body of the request was in an unknown format", 0, false)
		}
		return false, nil, nil
	})
	h := startWith(t, client, newDiscovery(true))
	h.synced(2)
	h.delete(configMaps, "owner", metav1.DeletePropagationOrphan)
	h.eventually("the owner is deleted", h.gone(configMaps, "owner"))
	w := h.get(widgets, "w")
	if w == nil || len(w.OwnerReferences) != 0 {
		t.Fatalf("widget = %+v, want it kept without owner references", w)
	}
	mergePatched := false
	for _, a := range client.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok && a.GetResource() == widgets && p.GetPatchType() == types.MergePatchType {
			mergePatched = true
		}
	}
	if !mergePatched {
		t.Errorf("no JSON merge patch sent for the custom resource")
	}
}

func TestDanglingReferencesAreCheckedByUID(t *testing.T) {
	h := start(t, newDiscovery(true),
		cm("owner"),
		cm("no-such-owner", ref("ConfigMap", "ghost", "ghost-uid", false)),
		// Same name as a live owner, but another UID: a previous owner
		// that was deleted and recreated does not keep its dependents.
		cm("recreated-owner", ref("ConfigMap", "owner", "old-owner-uid", false)),
		widget("half", ref("ConfigMap", "owner", "owner-uid", false), ref("ConfigMap", "ghost", "ghost-uid", false)),
		cm("alive", ref("ConfigMap", "owner", "owner-uid", false)),
	)
	h.eventually("dependents of missing owners are collected", h.gone(configMaps, "no-such-owner", "recreated-owner"))
	h.eventually("the dangling reference is removed", func() bool {
		w := h.get(widgets, "half")
		return w != nil && len(w.OwnerReferences) == 1 && w.OwnerReferences[0].UID == "owner-uid"
	})
	if h.get(configMaps, "alive") == nil || h.get(configMaps, "owner") == nil {
		t.Errorf("an object with a live owner was deleted")
	}
}

func TestIsDanglingComparesUIDs(t *testing.T) {
	client, err := fakemetadata.NewClient(cm("owner"))
	if err != nil {
		t.Fatal(err)
	}
	gc, err := NewController(nil, client, newMapper(), newDiscovery(true), DefaultIgnoredResources())
	if err != nil {
		t.Fatal(err)
	}
	dependent := newNode(objectReference{OwnerReference: metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "dep", UID: "dep-uid"}, Namespace: "ns"}, false)
	ctx := context.Background()

	dangling, owner, err := gc.isDangling(ctx, ref("ConfigMap", "owner", "owner-uid", false), dependent)
	if err != nil || dangling || owner == nil || owner.Name != "owner" {
		t.Errorf("live owner: dangling=%v owner=%v err=%v, want it found", dangling, owner, err)
	}
	stale := ref("ConfigMap", "owner", "old-owner-uid", false)
	if dangling, _, err := gc.isDangling(ctx, stale, dependent); err != nil || !dangling {
		t.Errorf("owner recreated with another UID: dangling=%v err=%v, want dangling", dangling, err)
	}
	if !gc.builder.absentOwners.Has(objectReference{OwnerReference: coordinates(stale), Namespace: "ns"}) {
		t.Errorf("absent owner not remembered")
	}
	gets := len(client.Actions())
	if dangling, _, _ := gc.isDangling(ctx, stale, dependent); !dangling || len(client.Actions()) != gets {
		t.Errorf("second check of an absent owner asked the API server again")
	}
	if dangling, _, err := gc.isDangling(ctx, ref("ConfigMap", "ghost", "ghost-uid", false), dependent); err != nil || !dangling {
		t.Errorf("missing owner: dangling=%v err=%v, want dangling", dangling, err)
	}
	clusterDependent := newNode(objectReference{OwnerReference: metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "ClusterThing", Name: "t", UID: "t-uid"}}, false)
	if _, _, err := gc.isDangling(ctx, ref("ConfigMap", "owner", "owner-uid", false), clusterDependent); err != errNamespacedOwnerOfClusterScoped {
		t.Errorf("cluster-scoped dependent of a namespaced owner: err=%v, want errNamespacedOwnerOfClusterScoped", err)
	}
}

func TestOwnerInAnotherNamespaceIsReported(t *testing.T) {
	elsewhere := fakemetadata.NewObject(configMaps, "ConfigMap", "other", "owner", "owner-uid")
	h := start(t, newDiscovery(true), elsewhere, cm("dep", ref("ConfigMap", "owner", "owner-uid", false)))
	// A namespaced owner must be in its dependent's namespace: there is no
	// "owner" in ns, so dep is garbage.
	h.eventually("the dependent is collected", h.gone(configMaps, "dep"))
	h.eventually("a warning event is recorded", func() bool {
		events, err := h.kube.CoreV1().Events("ns").List(h.ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range events.Items {
			if e.Reason == "OwnerRefInvalidNamespace" && e.InvolvedObject.Name == "dep" && e.Type == "Warning" {
				return true
			}
		}
		return false
	})
	if h.client.Get(configMaps, "other", "owner") == nil {
		t.Errorf("the owner in the other namespace was deleted")
	}
}

func TestClusterScopedDependentOfNamespacedOwnerIsKept(t *testing.T) {
	thing := fakemetadata.NewObject(clusterThings, "ClusterThing", "", "thing", "thing-uid")
	thing.Meta.OwnerReferences = []metav1.OwnerReference{ref("ConfigMap", "owner", "owner-uid", false)}
	h := start(t, newDiscovery(true), cm("owner"), thing)
	h.synced(2)
	h.delete(configMaps, "owner", metav1.DeletePropagationBackground)
	h.eventually("the graph drops the owner", func() bool {
		_, ok := h.gc.builder.graph.get("owner-uid")
		return !ok
	})
	if h.client.Get(clusterThings, "", "thing") == nil {
		t.Errorf("cluster-scoped object deleted for an invalid namespaced owner reference")
	}
}

func TestNewResourcesAreWatchedAfterResync(t *testing.T) {
	// Widgets are not served yet: the orphaned widget is unknown to the
	// collector.
	h := start(t, newDiscovery(false), widget("w", ref("ConfigMap", "ghost", "ghost-uid", false)))
	h.synced(0)
	if h.get(widgets, "w") == nil {
		t.Fatalf("widget deleted before its resource was discovered")
	}
	h.discovery.set(true)
	h.eventually("the widget of a missing owner is collected once widgets are discovered", h.gone(widgets, "w"))

	// The CRD goes away: its monitor stops.
	h.discovery.set(false)
	h.eventually("the widgets monitor is stopped", func() bool {
		h.gc.builder.monitorMu.Lock()
		defer h.gc.builder.monitorMu.Unlock()
		_, ok := h.gc.builder.monitors[widgets]
		return !ok
	})
}

func TestEventsAreNotWatched(t *testing.T) {
	h := start(t, newDiscovery(true))
	h.synced(0)
	h.gc.builder.monitorMu.Lock()
	defer h.gc.builder.monitorMu.Unlock()
	if _, ok := h.gc.builder.monitors[schema.GroupVersionResource{Version: "v1", Resource: "events"}]; ok {
		t.Errorf("events are watched")
	}
	if _, ok := h.gc.builder.monitors[configMaps]; !ok {
		t.Errorf("configmaps are not watched")
	}
}

func TestReferencesDiff(t *testing.T) {
	block, noBlock := true, false
	a := metav1.OwnerReference{UID: "a", Name: "a", BlockOwnerDeletion: &block}
	aUnblocked := metav1.OwnerReference{UID: "a", Name: "a", BlockOwnerDeletion: &noBlock}
	b := metav1.OwnerReference{UID: "b", Name: "b"}
	c := metav1.OwnerReference{UID: "c", Name: "c"}
	added, removed, changed := referencesDiff([]metav1.OwnerReference{a, b}, []metav1.OwnerReference{aUnblocked, c})
	if len(added) != 1 || added[0].UID != "c" {
		t.Errorf("added = %v, want c", added)
	}
	if len(removed) != 1 || removed[0].UID != "b" {
		t.Errorf("removed = %v, want b", removed)
	}
	if len(changed) != 1 || !isBlocking(changed[0].old) || isBlocking(changed[0].new) {
		t.Errorf("changed = %v, want a going from blocking to not", changed)
	}
}

func TestAlternateOwnerIdentity(t *testing.T) {
	absent := objectReference{OwnerReference: metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "o", UID: "u"}, Namespace: "ns"}
	dep := func(kind string) *node {
		n := newNode(objectReference{Namespace: "ns"}, false)
		n.owners = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: kind, Name: "o", UID: "u"}}
		return n
	}
	alt := alternateOwnerIdentity([]*node{dep("Widget"), dep("Gadget")}, absent)
	// Kinds sort Gadget < Widget; both follow ConfigMap, so the first
	// following one is Gadget.
	if alt == nil || alt.Kind != "Gadget" {
		t.Errorf("alternate = %v, want the Gadget identity", alt)
	}
	if alt := alternateOwnerIdentity([]*node{}, absent); alt != nil {
		t.Errorf("alternate without dependents = %v, want nil", alt)
	}
}

// TestUnblockWithoutBlockingReferencesKeepsOwners: breaking a cycle a second
// time (after a conflict) finds no blocking reference left; it must not send
// an empty ownerReferences list, which would strip every owner.
func TestUnblockWithoutBlockingReferencesKeepsOwners(t *testing.T) {
	client, err := fakemetadata.NewClient(cm("owner"), cm("dep", ref("ConfigMap", "owner", "owner-uid", false)))
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{metadataClient: client, restMapper: newMapper()}
	dep := client.Get(configMaps, "ns", "dep")
	n := newNode(objectReference{OwnerReference: metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "dep", UID: dep.UID}, Namespace: "ns"}, false)
	n.owners = dep.OwnerReferences
	if err := api.unblockOwnerReferences(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got := client.Get(configMaps, "ns", "dep").OwnerReferences; len(got) != 1 || got[0].UID != "owner-uid" {
		t.Fatalf("owner references after unblock: %+v", got)
	}
}
