package resourcequota

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	skiffquota "github.com/skiff-project/skiff/pkg/quota"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	stop    chan struct{}
}

// countEvaluators stand in for the special evaluators: configmaps under
// their legacy name.
func countEvaluators(lister quota.ListerForResourceFunc) []quota.Evaluator {
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	return []quota.Evaluator{generic.NewObjectCountEvaluator(gvr.GroupResource(), generic.ListResourceUsingListerFunc(lister, gvr), corev1.ResourceConfigMaps)}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	mapper := apimeta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, apimeta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Event"}, apimeta.RESTScopeNamespace)
	c, err := NewController(client, factory.Core().V1().ResourceQuotas(), countEvaluators,
		map[schema.GroupResource]struct{}{{Resource: "events"}: {}}, mapper, factory.ForResource, factory.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, client: client, factory: factory, c: c, stop: make(chan struct{})}
	t.Cleanup(func() { close(w.stop); factory.Shutdown() })
	c.stop = w.stop
	return w
}

func (w *world) create(objs ...interface{}) {
	w.t.Helper()
	ctx := context.Background()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			_, err = w.client.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Secret:
			_, err = w.client.CoreV1().Secrets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ResourceQuota:
			if _, err = w.client.CoreV1().ResourceQuotas(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = w.factory.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(o)
			}
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

// sync syncs until the informers the evaluators need have synced.
func (w *world) sync(name string) corev1.ResourceQuotaStatus {
	w.t.Helper()
	var err error
	for i := 0; i < 100; i++ {
		if err = w.c.syncQuota(context.Background(), "ns/"+name); err == nil {
			break
		}
		w.factory.WaitForCacheSync(w.stop)
	}
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	q, err := w.client.CoreV1().ResourceQuotas("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return q.Status
}

func rq(name string, hard corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
}

func TestUsageOfLegacyAndCountResources(t *testing.T) {
	w := newWorld(t)
	w.create(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other-ns", Namespace: "other"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}},
		rq("q", corev1.ResourceList{
			corev1.ResourceConfigMaps: resource.MustParse("10"),
			"count/secrets":           resource.MustParse("5"),
			"count/events":            resource.MustParse("5"),
		}),
	)
	s := w.sync("q")
	if got := s.Used[corev1.ResourceConfigMaps]; got.Value() != 2 {
		t.Errorf("configmaps used = %s, want 2", got.String())
	}
	if got := s.Used["count/secrets"]; got.Value() != 1 {
		t.Errorf("count/secrets used = %s, want 1", got.String())
	}
	if _, ok := s.Used["count/events"]; ok {
		t.Errorf("an ignored resource was counted")
	}
	if !quota.Equals(s.Hard, corev1.ResourceList{
		corev1.ResourceConfigMaps: resource.MustParse("10"),
		"count/secrets":           resource.MustParse("5"),
		"count/events":            resource.MustParse("5"),
	}) {
		t.Errorf("status.hard = %v", s.Hard)
	}
	// Only the resources the quota limits were watched.
	if w.c.watched[corev1.SchemeGroupVersion.WithResource("pods")] || !w.c.watched[corev1.SchemeGroupVersion.WithResource("secrets")] {
		t.Errorf("watched = %v", w.c.watched)
	}
}

func TestHardChangeMasksUsage(t *testing.T) {
	w := newWorld(t)
	w.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}},
		rq("q", corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("10"), "count/secrets": resource.MustParse("1")}))
	w.sync("q")
	cur, _ := w.client.CoreV1().ResourceQuotas("ns").Get(context.Background(), "q", metav1.GetOptions{})
	cur.Spec.Hard = corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("3")}
	if _, err := w.client.CoreV1().ResourceQuotas("ns").Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.factory.Core().V1().ResourceQuotas().Informer().GetIndexer().Update(cur); err != nil {
		t.Fatal(err)
	}
	s := w.sync("q")
	if _, ok := s.Used["count/secrets"]; ok || len(s.Used) != 1 {
		t.Errorf("used = %v, want only configmaps", s.Used)
	}
	if h := s.Hard[corev1.ResourceConfigMaps]; h.Value() != 3 {
		t.Errorf("hard = %v", s.Hard)
	}
}

func TestReplenishOnDelete(t *testing.T) {
	w := newWorld(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	w.create(cm, rq("q", corev1.ResourceList{corev1.ResourceConfigMaps: resource.MustParse("10")}))
	w.sync("q")
	for w.c.queue.Len() > 0 {
		k, _ := w.c.queue.Get()
		w.c.queue.Done(k)
		w.c.queue.Forget(k)
	}
	w.c.replenish(schema.GroupResource{Resource: "configmaps"}, cm)
	if w.c.queue.Len() != 1 {
		t.Errorf("a configmap change did not bring the quota back")
	}
	w.c.replenish(schema.GroupResource{Resource: "secrets"}, cm)
	if w.c.queue.Len() != 1 {
		t.Errorf("a change of an unlimited resource queued the quota")
	}
}

func TestPodComputeUsageWithSkiffEvaluators(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().ResourceQuotas(), skiffquota.NewEvaluators, skiffquota.IgnoredResources(),
		apimeta.NewDefaultRESTMapper(nil), factory.ForResource, factory.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	c.stop = stop
	w := &world{t: t, client: client, factory: factory, c: c, stop: stop}
	pod := func(name string, cpu string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
			Status: corev1.PodStatus{Phase: phase}}
	}
	for _, p := range []*corev1.Pod{pod("a", "250m", corev1.PodRunning), pod("b", "500m", corev1.PodPending), pod("done", "2", corev1.PodSucceeded)} {
		if _, err := client.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w.create(rq("q", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("4")}))
	s := w.sync("q")
	if got := s.Used[corev1.ResourcePods]; got.Value() != 2 {
		t.Errorf("pods used = %s, want 2 (terminal pods do not count)", got.String())
	}
	if got := s.Used[corev1.ResourceRequestsCPU]; got.MilliValue() != 750 {
		t.Errorf("requests.cpu used = %s, want 750m", got.String())
	}
}
