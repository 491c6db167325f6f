package endpoints

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
}

func newWorld(t *testing.T) *world {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Pods(), factory.Core().V1().Services(), factory.Core().V1().Endpoints(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = record.NewFakeRecorder(100)
	return &world{t: t, client: client, factory: factory, c: c}
}

func (w *world) add(objs ...interface{}) {
	w.t.Helper()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Pod:
			err = w.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Service:
			err = w.factory.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = w.factory.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
			if err == nil {
				_, err = w.client.CoreV1().Endpoints(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
			}
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) sync(name string) *corev1.Endpoints {
	w.t.Helper()
	if err := w.c.syncService(context.Background(), "ns/"+name); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	ep, err := w.client.CoreV1().Endpoints("ns").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return ep
}

func service(name string, mutate ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: map[string]string{"app": "web"},
			CreationTimestamp: metav1.Now()},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.0.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	return svc
}

func pod(name, ip string, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8081, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			PodIPs:     []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func ips(addrs []corev1.EndpointAddress) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.IP)
	}
	return out
}

func TestReadyAndNotReadyPods(t *testing.T) {
	w := newWorld(t)
	now := metav1.Now()
	w.add(service("web"),
		pod("a", "10.244.0.2", true),
		pod("b", "10.244.0.3", false),
		pod("c", "10.244.0.4", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		pod("d", "10.244.0.5", true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("e", "", true, func(p *corev1.Pod) { p.Status.PodIPs = nil }),
		pod("other", "10.244.0.6", true, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} }),
	)
	ep := w.sync("web")
	if len(ep.Subsets) != 1 {
		t.Fatalf("subsets = %+v", ep.Subsets)
	}
	s := ep.Subsets[0]
	if got := fmt.Sprint(ips(s.Addresses)); got != "[10.244.0.2]" {
		t.Errorf("addresses = %s", got)
	}
	if got := fmt.Sprint(ips(s.NotReadyAddresses)); got != "[10.244.0.3]" {
		t.Errorf("notReadyAddresses = %s", got)
	}
	if s.Ports[0].Port != 8080 || s.Ports[0].Name != "http" {
		t.Errorf("ports = %+v", s.Ports)
	}
	a := s.Addresses[0]
	if a.TargetRef == nil || a.TargetRef.Name != "a" || a.TargetRef.Kind != "Pod" || a.NodeName == nil || *a.NodeName != "node-1" {
		t.Errorf("address = %+v", a)
	}
	if ep.Labels[LabelManagedBy] != ControllerName || ep.Labels["app"] != "web" {
		t.Errorf("labels = %v", ep.Labels)
	}
	if _, ok := ep.Labels[corev1.IsHeadlessService]; ok {
		t.Errorf("headless label on a ClusterIP service")
	}
	if _, ok := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
		t.Errorf("no trigger time annotation: %v", ep.Annotations)
	}
}

func TestPublishNotReadyAddresses(t *testing.T) {
	w := newWorld(t)
	now := metav1.Now()
	w.add(service("web", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
		pod("a", "10.244.0.2", false),
		pod("b", "10.244.0.3", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
	)
	ep := w.sync("web")
	if got := fmt.Sprint(ips(ep.Subsets[0].Addresses)); got != "[10.244.0.2 10.244.0.3]" {
		t.Errorf("addresses = %s, want the not-ready and the terminating pod", got)
	}
	if len(ep.Subsets[0].NotReadyAddresses) != 0 {
		t.Errorf("notReadyAddresses = %+v", ep.Subsets[0].NotReadyAddresses)
	}
}

func TestNamedTargetPortAndHostname(t *testing.T) {
	w := newWorld(t)
	w.add(service("web", func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.Ports[0].TargetPort = intstr.FromString("web")
	}),
		pod("a", "10.244.0.2", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a-host", "web" }),
		pod("b", "10.244.0.3", true, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}
			p.Spec.Hostname, p.Spec.Subdomain = "b-host", "other"
		}),
		pod("c", "10.244.0.4", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }),
	)
	ep := w.sync("web")
	if len(ep.Subsets) != 2 {
		t.Fatalf("want one subset per resolved port, got %+v", ep.Subsets)
	}
	byPort := map[int32]corev1.EndpointSubset{}
	for _, s := range ep.Subsets {
		byPort[s.Ports[0].Port] = s
	}
	if a := byPort[8081].Addresses; len(a) != 1 || a[0].IP != "10.244.0.2" || a[0].Hostname != "a-host" {
		t.Errorf("port 8081: %+v", a)
	}
	if a := byPort[9090].Addresses; len(a) != 1 || a[0].IP != "10.244.0.3" || a[0].Hostname != "" {
		t.Errorf("port 9090 (subdomain of another service, no hostname): %+v", a)
	}
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("headless label missing: %v", ep.Labels)
	}
}

func TestHeadlessWithoutPorts(t *testing.T) {
	w := newWorld(t)
	w.add(service("web", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }),
		pod("a", "10.244.0.2", true))
	ep := w.sync("web")
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 0 || len(ep.Subsets[0].Addresses) != 1 {
		t.Errorf("subsets = %+v", ep.Subsets)
	}
}

func TestOverCapacity(t *testing.T) {
	w := newWorld(t)
	w.add(service("web"))
	for i := 0; i < 1100; i++ {
		w.add(pod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.244.%d.%d", i/250, i%250+1), i < 900))
	}
	ep := w.sync("web")
	ready, notReady := len(ep.Subsets[0].Addresses), len(ep.Subsets[0].NotReadyAddresses)
	if ready != 900 || notReady != 100 {
		t.Errorf("ready=%d notReady=%d, want 900 and 100 (not-ready ones cut first)", ready, notReady)
	}
	if ep.Annotations[corev1.EndpointsOverCapacity] != "truncated" {
		t.Errorf("annotations = %v", ep.Annotations)
	}
}

func TestDeletedServiceAndSelectorless(t *testing.T) {
	w := newWorld(t)
	w.add(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ns"}})
	if ep := w.sync("gone"); ep != nil {
		t.Errorf("endpoints of a deleted service kept: %+v", ep)
	}
	custom := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}}}}
	w.add(service("ext", func(s *corev1.Service) { s.Spec.Selector = nil }), custom)
	ep := w.sync("ext")
	if ep == nil || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "192.0.2.1" || ep.Labels[LabelManagedBy] != "" {
		t.Errorf("endpoints of a selectorless service changed: %+v", ep)
	}
}

func TestNoWriteWhenUpToDate(t *testing.T) {
	w := newWorld(t)
	w.add(service("web"), pod("a", "10.244.0.2", true))
	ep := w.sync("web")
	if ep.ResourceVersion == "" {
		ep.ResourceVersion = "1" // the fake clientset keeps none
	}
	if err := w.factory.Core().V1().Endpoints().Informer().GetIndexer().Add(ep); err != nil {
		t.Fatal(err)
	}
	w.client.ClearActions()
	w.sync("web")
	for _, a := range w.client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unexpected %s of %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestPodChangeQueuesServices(t *testing.T) {
	w := newWorld(t)
	w.add(service("web"), service("db", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "db"} }))
	old := pod("a", "10.244.0.2", false)
	old.ResourceVersion = "1"
	cur := old.DeepCopy()
	cur.ResourceVersion = "2"
	cur.Labels = map[string]string{"app": "db"}
	w.c.podChanged(old, cur)
	got := map[string]bool{}
	for w.c.queue.Len() > 0 {
		k, _ := w.c.queue.Get()
		got[k] = true
		w.c.queue.Done(k)
	}
	if !got["ns/web"] || !got["ns/db"] || len(got) != 2 {
		t.Errorf("queued %v, want the service left and the one joined", got)
	}
	// A resync (same resource version) queues nothing.
	w.c.podChanged(cur, cur)
	if w.c.queue.Len() != 0 {
		t.Errorf("resync queued %d keys", w.c.queue.Len())
	}
}

func TestTruncateProportional(t *testing.T) {
	ep := &corev1.Endpoints{}
	for i, n := range []int{600, 600} {
		s := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Port: int32(i)}}}
		for j := 0; j < n; j++ {
			s.Addresses = append(s.Addresses, corev1.EndpointAddress{IP: fmt.Sprintf("10.%d.0.%d", i, j)})
		}
		s.NotReadyAddresses = []corev1.EndpointAddress{{IP: "10.9.9.9"}}
		ep.Subsets = append(ep.Subsets, s)
	}
	if !truncate(ep) {
		t.Fatal("not truncated")
	}
	for _, s := range ep.Subsets {
		if len(s.Addresses) != 500 || len(s.NotReadyAddresses) != 0 {
			t.Errorf("subset: %d ready, %d not ready; want 500 and 0", len(s.Addresses), len(s.NotReadyAddresses))
		}
	}
}
