package namespace

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller/internal/fakemetadata"
)

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	widgets    = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

// serverResources is what discovery of a small cluster answers: built-ins
// with deletecollection, a custom resource without it, a subresource and a
// create-only resource that must be skipped.
func serverResources() []*metav1.APIResourceList {
	all := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	return []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: all},
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: all},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "patch", "update"}},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
			{Name: "secrets", Namespaced: true, Kind: "Secret", Verbs: all},
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"}},
		}},
	}
}

type fixture struct {
	kube     *fake.Clientset
	meta     *fakemetadata.Client
	deleter  *contentDeleter
	discover func() ([]*metav1.APIResourceList, error)
}

// newFixture makes namespace "x" (deleted just now, still holding the
// "kubernetes" finalizer) with the given content, and a configmap in
// namespace "other" that must survive.
func newFixture(t *testing.T, content []fakemetadata.Object, pods ...*corev1.Pod) *fixture {
	t.Helper()
	deleted := metav1.Now()
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "ns-uid", DeletionTimestamp: &deleted},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	kube := fake.NewClientset(ns)
	// The real finalize subresource changes spec.finalizers only.
	kube.PrependReactor("create", "namespaces", func(action clienttesting.Action) (bool, runtime.Object, error) {
		create := action.(clienttesting.CreateAction)
		if create.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		obj, err := kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("namespaces"), "", "x")
		if err != nil {
			return true, nil, err
		}
		stored := obj.(*corev1.Namespace).DeepCopy()
		stored.Spec.Finalizers = create.GetObject().(*corev1.Namespace).Spec.Finalizers
		return true, stored, kube.Tracker().Update(corev1.SchemeGroupVersion.WithResource("namespaces"), stored, "")
	})
	for _, p := range pods {
		if _, err := kube.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	content = append(content, fakemetadata.NewObject(configMaps, "ConfigMap", "other", "keep", "keep-uid"))
	metaClient, err := fakemetadata.NewClient(content...)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{kube: kube, meta: metaClient, discover: func() ([]*metav1.APIResourceList, error) { return serverResources(), nil }}
	f.deleter = &contentDeleter{
		namespaces:        kube.CoreV1().Namespaces(),
		pods:              kube.CoreV1(),
		metadataClient:    metaClient,
		discoverResources: func() ([]*metav1.APIResourceList, error) { return f.discover() },
		finalizerToken:    corev1.FinalizerKubernetes,
	}
	return f
}

func (f *fixture) namespace(t *testing.T) *corev1.Namespace {
	t.Helper()
	ns, err := f.kube.CoreV1().Namespaces().Get(context.Background(), "x", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func condition(ns *corev1.Namespace, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range ns.Status.Conditions {
		if ns.Status.Conditions[i].Type == t {
			return &ns.Status.Conditions[i]
		}
	}
	return nil
}

// metadataVerbs lists "verb resource" for each metadata request.
func (f *fixture) metadataVerbs() []string {
	var out []string
	for _, a := range f.meta.Actions() {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

func finalized(f *fixture) bool {
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "create" && a.GetSubresource() == "finalize" {
			return true
		}
	}
	return false
}

func TestDeleteEmptiesNamespaceThenFinalizes(t *testing.T) {
	f := newFixture(t, []fakemetadata.Object{
		fakemetadata.NewObject(podsResource, "Pod", "x", "p1", "p1-uid"),
		fakemetadata.NewObject(configMaps, "ConfigMap", "x", "cm1", "cm1-uid"),
		fakemetadata.NewObject(secrets, "Secret", "x", "s1", "s1-uid"),
		fakemetadata.NewObject(widgets, "Widget", "x", "w1", "w1-uid"),
		fakemetadata.NewObject(widgets, "Widget", "x", "w2", "w2-uid"),
	})
	if err := f.deleter.Delete(context.Background(), "x"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, gvr := range []schema.GroupVersionResource{podsResource, configMaps, secrets, widgets} {
		if left := f.meta.List(gvr, "x"); len(left) != 0 {
			t.Errorf("%s left in x: %d", gvr.Resource, len(left))
		}
	}
	if f.meta.Get(configMaps, "other", "keep") == nil {
		t.Errorf("configmap in another namespace was deleted")
	}

	verbs := f.metadataVerbs()
	// Pods go first; widgets have no deletecollection so they are listed
	// and deleted one by one; subresources and create-only resources are
	// never touched.
	if verbs[0] != "delete-collection pods" {
		t.Errorf("first request = %q, want pods deleted first (all: %v)", verbs[0], verbs)
	}
	if slices.Contains(verbs, "delete-collection widgets") || !slices.Contains(verbs, "delete widgets") {
		t.Errorf("widgets: requests %v, want list+delete and no deletecollection", verbs)
	}
	for _, v := range verbs {
		if strings.Contains(v, "bindings") || strings.Contains(v, "status") {
			t.Errorf("unexpected request %q", v)
		}
	}

	ns := f.namespace(t)
	if len(ns.Spec.Finalizers) != 0 || !finalized(f) {
		t.Errorf("finalizers = %v (finalize called: %v), want the kubernetes finalizer removed through /finalize", ns.Spec.Finalizers, finalized(f))
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %s, want Terminating", ns.Status.Phase)
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
		corev1.NamespaceDeletionGVParsingFailure: "ParsedGroupVersions",
		corev1.NamespaceDeletionContentFailure:   "ContentDeleted",
		corev1.NamespaceContentRemaining:         "ContentRemoved",
		corev1.NamespaceFinalizersRemaining:      "ContentHasNoFinalizers",
	}
	for typ, reason := range want {
		c := condition(ns, typ)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != reason {
			t.Errorf("condition %s = %+v, want False/%s", typ, c, reason)
		}
	}
}

func TestDeleteWaitsForFinalizersAndReportsThem(t *testing.T) {
	held := fakemetadata.NewObject(configMaps, "ConfigMap", "x", "held", "held-uid")
	held.Meta.Finalizers = []string{"example.com/hold"}
	f := newFixture(t, []fakemetadata.Object{held, fakemetadata.NewObject(secrets, "Secret", "x", "s1", "s1-uid")})

	err := f.deleter.Delete(context.Background(), "x")
	var remaining *ResourcesRemainingError
	if !errors.As(err, &remaining) || remaining.Estimate != finalizerEstimateSeconds {
		t.Fatalf("Delete = %v, want ResourcesRemainingError with %d s", err, finalizerEstimateSeconds)
	}
	if finalized(f) {
		t.Fatalf("namespace finalized while content remains")
	}
	if f.meta.Get(secrets, "x", "s1") != nil {
		t.Errorf("secret s1 not deleted")
	}
	if m := f.meta.Get(configMaps, "x", "held"); m == nil || m.DeletionTimestamp == nil {
		t.Errorf("held configmap = %+v, want it terminating", m)
	}
	ns := f.namespace(t)
	for typ, want := range map[corev1.NamespaceConditionType][2]string{
		corev1.NamespaceContentRemaining:    {"SomeResourcesRemain", "Some resources are remaining: configmaps. has 1 resource instances"},
		corev1.NamespaceFinalizersRemaining: {"SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
	} {
		c := condition(ns, typ)
		if c == nil || c.Status != corev1.ConditionTrue || c.Reason != want[0] || c.Message != want[1] {
			t.Errorf("condition %s = %+v, want True %s %q", typ, c, want[0], want[1])
		}
	}
	firstTransition := condition(ns, corev1.NamespaceContentRemaining).LastTransitionTime

	// The finalizer's owner finishes; the next pass finalizes and flips
	// the conditions back.
	if _, err := f.meta.Resource(configMaps).Namespace("x").Patch(context.Background(), "held", "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.deleter.Delete(context.Background(), "x"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	ns = f.namespace(t)
	if !finalized(f) || len(ns.Spec.Finalizers) != 0 {
		t.Errorf("namespace not finalized after its content went away")
	}
	c := condition(ns, corev1.NamespaceContentRemaining)
	if c.Status != corev1.ConditionFalse || c.Reason != "ContentRemoved" || c.Message != "All content successfully removed" {
		t.Errorf("ContentRemaining = %+v, want False ContentRemoved", c)
	}
	if c.LastTransitionTime.Before(&firstTransition) {
		t.Errorf("LastTransitionTime went backwards")
	}
}

func TestDeleteWaitsForPodsBeforeOtherContent(t *testing.T) {
	// A running pod terminates gracefully: it stays (with a deletion
	// timestamp) after the delete, as on a real node.
	running := fakemetadata.NewObject(podsResource, "Pod", "x", "web", "web-uid")
	running.Meta.Finalizers = []string{"test/running"}
	f := newFixture(t,
		[]fakemetadata.Object{running, fakemetadata.NewObject(configMaps, "ConfigMap", "x", "cm1", "cm1-uid")},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "x"},
			Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](30)},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "done", Namespace: "x"},
			Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](600)},
			Status:     corev1.PodStatus{Phase: corev1.PodSucceeded},
		},
	)
	err := f.deleter.Delete(context.Background(), "x")
	var remaining *ResourcesRemainingError
	// The finished pod's long grace period does not count.
	if !errors.As(err, &remaining) || remaining.Estimate != 30 {
		t.Fatalf("Delete = %v, want ResourcesRemainingError estimating 30 s", err)
	}
	if f.meta.Get(configMaps, "x", "cm1") == nil {
		t.Errorf("configmap deleted while pods were still terminating")
	}
	for _, v := range f.metadataVerbs() {
		if v == "delete-collection configmaps" {
			t.Errorf("configmaps deleted before pods were gone")
		}
	}
	if finalized(f) {
		t.Errorf("finalized with pods remaining")
	}
}

func TestEstimateIsZeroOnceGracePeriodPassed(t *testing.T) {
	f := newFixture(t, nil, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "x"},
		Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](30)},
	})
	ns := f.namespace(t)
	if got, err := f.deleter.estimateGracefulTermination(context.Background(), podsResource, ns); err != nil || got != 30 {
		t.Errorf("estimate just after deletion = %d, %v; want 30", got, err)
	}
	long := metav1.NewTime(time.Now().Add(-time.Minute))
	ns.DeletionTimestamp = &long
	if got, _ := f.deleter.estimateGracefulTermination(context.Background(), podsResource, ns); got != 0 {
		t.Errorf("estimate a minute after deletion = %d, want 0", got)
	}
	if got, _ := f.deleter.estimateGracefulTermination(context.Background(), configMaps, ns); got != 0 {
		t.Errorf("estimate for configmaps = %d, want 0", got)
	}
}

func TestDeleteReportsDiscoveryFailureAndDeletesWhatItFound(t *testing.T) {
	f := newFixture(t, []fakemetadata.Object{fakemetadata.NewObject(configMaps, "ConfigMap", "x", "cm1", "cm1-uid")})
	f.discover = func() ([]*metav1.APIResourceList, error) {
		return serverResources()[:1], &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{
			{Group: "example.com", Version: "v1"}: errors.New("boom"),
		}}
	}
	if err := f.deleter.Delete(context.Background(), "x"); err == nil {
		t.Fatalf("Delete succeeded despite a discovery failure")
	}
	if f.meta.Get(configMaps, "x", "cm1") != nil {
		t.Errorf("discovered content not deleted")
	}
	if finalized(f) {
		t.Errorf("finalized although a group could not be discovered (its content may remain)")
	}
	c := condition(f.namespace(t), corev1.NamespaceDeletionDiscoveryFailure)
	want := "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: example.com/v1: boom"
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "DiscoveryFailed" || c.Message != want {
		t.Errorf("discovery condition = %+v, want True DiscoveryFailed %q", c, want)
	}
}

func TestDeleteReportsContentFailure(t *testing.T) {
	f := newFixture(t, []fakemetadata.Object{fakemetadata.NewObject(secrets, "Secret", "x", "s1", "s1-uid")})
	f.meta.PrependReactor("delete-collection", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcd is sad")
	})
	if err := f.deleter.Delete(context.Background(), "x"); err == nil {
		t.Fatalf("Delete succeeded although secrets could not be deleted")
	}
	c := condition(f.namespace(t), corev1.NamespaceDeletionContentFailure)
	want := "Failed to delete all resource types, 1 remaining: etcd is sad"
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "ContentDeletionFailed" || c.Message != want {
		t.Errorf("content condition = %+v, want True ContentDeletionFailed %q", c, want)
	}
	if finalized(f) {
		t.Errorf("finalized after a failed deletion")
	}
}

func TestDeleteIgnoresNamespacesNotBeingDeleted(t *testing.T) {
	kube := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}})
	metaClient, err := fakemetadata.NewClient(fakemetadata.NewObject(configMaps, "ConfigMap", "live", "cm", "cm-uid"))
	if err != nil {
		t.Fatal(err)
	}
	d := &contentDeleter{namespaces: kube.CoreV1().Namespaces(), pods: kube.CoreV1(), metadataClient: metaClient,
		discoverResources: func() ([]*metav1.APIResourceList, error) { return serverResources(), nil }, finalizerToken: corev1.FinalizerKubernetes}
	if err := d.Delete(context.Background(), "live"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(context.Background(), "missing"); err != nil {
		t.Fatalf("Delete of a missing namespace: %v", err)
	}
	if metaClient.Get(configMaps, "live", "cm") == nil || len(metaClient.Actions()) != 0 {
		t.Errorf("content of an active namespace touched: %v", metaClient.Actions())
	}
}

// TestControllerFinalizesDeletedNamespace runs the controller end to end
// over informers.
func TestControllerFinalizesDeletedNamespace(t *testing.T) {
	f := newFixture(t, []fakemetadata.Object{fakemetadata.NewObject(configMaps, "ConfigMap", "x", "cm1", "cm1-uid")})
	factory := informers.NewSharedInformerFactory(f.kube, 0)
	c, err := NewController(f.kube, f.meta, f.discover, factory.Core().V1().Namespaces(), corev1.FinalizerKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	c.gracePeriod = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx, 2)
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return finalized(f), nil
	})
	if err != nil {
		t.Fatalf("namespace not finalized; kube actions: %v", f.kube.Actions())
	}
	if f.meta.Get(configMaps, "x", "cm1") != nil {
		t.Errorf("content left after finalization")
	}
}
