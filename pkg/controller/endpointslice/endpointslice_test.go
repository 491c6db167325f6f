package endpointslice

import (
	"context"
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
}

func newWorld(t *testing.T, maxPerSlice int32) *world {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Pods(), factory.Core().V1().Services(), factory.Core().V1().Nodes(),
		factory.Discovery().V1().EndpointSlices(), maxPerSlice, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = record.NewFakeRecorder(100)
	// What the API server does on create: a name from generateName, a UID
	// and generation 1; updates bump the generation.
	n := 0
	client.PrependReactor("create", "endpointslices", func(a clienttesting.Action) (bool, runtime.Object, error) {
		s := a.(clienttesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		n++
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s%05d", s.GenerateName, n)
		}
		s.UID = types.UID(fmt.Sprintf("uid-%d", n))
		s.Generation = 1
		return false, nil, nil
	})
	client.PrependReactor("update", "endpointslices", func(a clienttesting.Action) (bool, runtime.Object, error) {
		s := a.(clienttesting.UpdateAction).GetObject().(*discoveryv1.EndpointSlice)
		s.Generation++
		return false, nil, nil
	})
	w := &world{t: t, client: client, factory: factory, c: c}
	w.add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}})
	return w
}

func (w *world) add(objs ...interface{}) {
	w.t.Helper()
	f := w.factory.Core().V1()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Pod:
			err = f.Pods().Informer().GetIndexer().Add(o)
		case *corev1.Service:
			err = f.Services().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = f.Nodes().Informer().GetIndexer().Add(o)
		case *discoveryv1.EndpointSlice:
			if err = w.factory.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(o); err == nil {
				_, err = w.client.DiscoveryV1().EndpointSlices(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
			}
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) deletePod(name string) {
	w.t.Helper()
	idx := w.factory.Core().V1().Pods().Informer().GetIndexer()
	obj, ok, _ := idx.GetByKey("ns/" + name)
	if !ok {
		w.t.Fatalf("no pod %s", name)
	}
	if err := idx.Delete(obj); err != nil {
		w.t.Fatal(err)
	}
}

// sync runs one sync and then copies the API's slices into the informer,
// as a watch would.
func (w *world) sync(name string) []discoveryv1.EndpointSlice {
	w.t.Helper()
	if err := w.c.syncService(context.Background(), "ns/"+name); err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	list, err := w.client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	idx := w.factory.Discovery().V1().EndpointSlices().Informer().GetIndexer()
	for _, old := range idx.List() {
		_ = idx.Delete(old)
	}
	for i := range list.Items {
		if err := idx.Add(&list.Items[i]); err != nil {
			w.t.Fatal(err)
		}
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func (w *world) writes() map[string]int {
	out := map[string]int{}
	for _, a := range w.client.Actions() {
		if a.GetResource().Resource == "endpointslices" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out[a.GetVerb()]++
		}
	}
	return out
}

func service(name string, mutate ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.0.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
				{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("metrics")},
			},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	return svc
}

func pod(i int, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	ip := fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("p%d", i)), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP}}}}},
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

func conditions(ep discoveryv1.Endpoint) string {
	return fmt.Sprintf("ready=%v serving=%v terminating=%v", *ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating)
}

func TestConditionsLabelsAndPorts(t *testing.T) {
	w := newWorld(t, 100)
	now := metav1.Now()
	w.add(service("web"),
		pod(0, true),
		pod(1, false),
		pod(2, true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		pod(3, true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
	)
	slices := w.sync("web")
	if len(slices) != 1 {
		t.Fatalf("slices = %d", len(slices))
	}
	s := slices[0]
	if s.AddressType != discoveryv1.AddressTypeIPv4 || s.GenerateName != "web-" {
		t.Errorf("addressType %s generateName %q", s.AddressType, s.GenerateName)
	}
	want := map[string]string{
		"p0": "ready=true serving=true terminating=false",
		"p1": "ready=false serving=false terminating=false",
		"p2": "ready=false serving=true terminating=true",
	}
	if len(s.Endpoints) != len(want) {
		t.Fatalf("endpoints = %+v", s.Endpoints)
	}
	for _, ep := range s.Endpoints {
		if got := conditions(ep); got != want[ep.TargetRef.Name] {
			t.Errorf("%s: %s, want %s", ep.TargetRef.Name, got, want[ep.TargetRef.Name])
		}
		if ep.Zone == nil || *ep.Zone != "zone-a" || ep.NodeName == nil || *ep.NodeName != "node-1" {
			t.Errorf("%s: zone %v node %v", ep.TargetRef.Name, ep.Zone, ep.NodeName)
		}
		if ep.Hints != nil {
			t.Errorf("hints without trafficDistribution: %+v", ep.Hints)
		}
	}
	if s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels["team"] != "a" {
		t.Errorf("labels = %v", s.Labels)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Service" || !*s.OwnerReferences[0].Controller {
		t.Errorf("owner = %+v", s.OwnerReferences)
	}
	ports := map[string]int32{}
	for _, p := range s.Ports {
		ports[*p.Name] = *p.Port
	}
	if ports["http"] != 8080 || ports["metrics"] != 9100 {
		t.Errorf("ports = %v", ports)
	}
}

func TestSlicesPerPortSet(t *testing.T) {
	w := newWorld(t, 100)
	w.add(service("web"), pod(0, true), pod(1, true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }))
	slices := w.sync("web")
	if len(slices) != 2 {
		t.Fatalf("want a slice per distinct port set, got %d", len(slices))
	}
	for _, s := range slices {
		if len(s.Endpoints) != 1 {
			t.Errorf("slice %s: %d endpoints", s.Name, len(s.Endpoints))
		}
		if s.Endpoints[0].TargetRef.Name == "p1" && len(s.Ports) != 1 {
			t.Errorf("pod without the named port: ports %+v", s.Ports)
		}
	}
}

func TestPlaceholderAndCleanup(t *testing.T) {
	w := newWorld(t, 100)
	w.add(service("web"))
	slices := w.sync("web")
	if len(slices) != 1 || len(slices[0].Endpoints) != 0 || len(slices[0].Ports) != 0 {
		t.Fatalf("want one empty placeholder slice, got %+v", slices)
	}
	w.client.ClearActions()
	w.sync("web")
	if got := w.writes(); len(got) != 0 {
		t.Errorf("placeholder rewritten: %v", got)
	}
	// A pod appears: the placeholder is reused, not deleted and recreated.
	w.add(pod(0, true))
	w.client.ClearActions()
	slices = w.sync("web")
	if got := w.writes(); got["update"] != 1 || got["create"] != 0 || got["delete"] != 0 {
		t.Errorf("writes = %v, want the placeholder updated", got)
	}
	if len(slices) != 1 || len(slices[0].Endpoints) != 1 {
		t.Errorf("slices = %+v", slices)
	}
}

func TestMaxEndpointsAndMinimalChurn(t *testing.T) {
	w := newWorld(t, 100)
	w.add(service("web"))
	for i := 0; i < 250; i++ {
		w.add(pod(i, true))
	}
	slices := w.sync("web")
	var sizes []int
	for _, s := range slices {
		sizes = append(sizes, len(s.Endpoints))
	}
	sort.Ints(sizes)
	if fmt.Sprint(sizes) != "[50 100 100]" {
		t.Fatalf("slice sizes = %v", sizes)
	}
	// One pod goes: exactly one slice is updated.
	w.deletePod("p7")
	w.client.ClearActions()
	slices = w.sync("web")
	if got := w.writes(); got["update"] != 1 || len(got) != 1 {
		t.Errorf("writes after removing a pod = %v, want one update", got)
	}
	total := 0
	for _, s := range slices {
		total += len(s.Endpoints)
		for _, ep := range s.Endpoints {
			if ep.TargetRef.Name == "p7" {
				t.Errorf("removed pod still listed in %s", s.Name)
			}
		}
	}
	if total != 249 {
		t.Errorf("total endpoints = %d", total)
	}
	// Two pods come: they go into the slice that changes anyway or the
	// one with room, not a new slice.
	w.add(pod(300, true), pod(301, true))
	w.client.ClearActions()
	slices = w.sync("web")
	if got := w.writes(); got["create"] != 0 || got["update"] != 1 {
		t.Errorf("writes after adding two pods = %v, want one update", got)
	}
	if len(slices) != 3 {
		t.Errorf("slices = %d", len(slices))
	}
	// Nothing changed: nothing written.
	w.client.ClearActions()
	w.sync("web")
	if got := w.writes(); len(got) != 0 {
		t.Errorf("writes without changes = %v", got)
	}
}

func TestReadinessChangeUpdatesInPlace(t *testing.T) {
	w := newWorld(t, 100)
	w.add(service("web"), pod(0, false))
	w.sync("web")
	w.add(pod(0, true))
	w.client.ClearActions()
	slices := w.sync("web")
	if got := w.writes(); got["update"] != 1 || len(got) != 1 {
		t.Errorf("writes = %v", got)
	}
	if c := conditions(slices[0].Endpoints[0]); c != "ready=true serving=true terminating=false" {
		t.Errorf("conditions = %s", c)
	}
}

func TestOtherManagersUntouched(t *testing.T) {
	w := newWorld(t, 100)
	foreign := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-custom", Namespace: "ns", Labels: map[string]string{
			discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "someone-else"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.1"}}},
	}
	w.add(service("web"), pod(0, true), foreign)
	slices := w.sync("web")
	if len(slices) != 2 {
		t.Fatalf("slices = %d", len(slices))
	}
	for _, s := range slices {
		if s.Name == "web-custom" && (len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != "192.0.2.1") {
			t.Errorf("foreign slice changed: %+v", s)
		}
	}
	// The selectorless Service (like default/kubernetes) is left alone.
	w.add(service("kubernetes", func(s *corev1.Service) { s.Spec.Selector = nil }))
	w.client.ClearActions()
	if err := w.c.syncService(context.Background(), "ns/kubernetes"); err != nil {
		t.Fatal(err)
	}
	if got := w.writes(); len(got) != 0 {
		t.Errorf("writes for a selectorless service: %v", got)
	}
}

func TestStaleSliceFromEarlierService(t *testing.T) {
	w := newWorld(t, 100)
	old := newSlice(klog.Background(), service("web", func(s *corev1.Service) { s.UID = "old-uid" }), nil, discoveryv1.AddressTypeIPv4)
	old.Name = "web-old"
	w.add(old)
	w.add(service("web"), pod(0, true))
	slices := w.sync("web")
	if len(slices) != 1 || slices[0].Name == "web-old" || slices[0].OwnerReferences[0].UID != "web-uid" {
		t.Errorf("want the earlier service's slice replaced by one of its own, got %+v", slices)
	}
}

func TestTrafficDistributionHints(t *testing.T) {
	w := newWorld(t, 100)
	w.add(service("web", func(s *corev1.Service) {
		s.Spec.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferSameNode)
	}),
		pod(0, true), pod(1, false))
	slices := w.sync("web")
	for _, ep := range slices[0].Endpoints {
		ready := *ep.Conditions.Ready
		switch {
		case ready && (ep.Hints == nil || ep.Hints.ForZones[0].Name != "zone-a" || ep.Hints.ForNodes[0].Name != "node-1"):
			t.Errorf("ready endpoint hints = %+v", ep.Hints)
		case !ready && ep.Hints != nil:
			t.Errorf("not-ready endpoint hinted: %+v", ep.Hints)
		}
	}
	// Dropping trafficDistribution removes the hints.
	w.add(service("web"))
	slices = w.sync("web")
	for _, ep := range slices[0].Endpoints {
		if ep.Hints != nil {
			t.Errorf("hints kept: %+v", ep.Hints)
		}
	}
}

func TestMissingNode(t *testing.T) {
	w := newWorld(t, 100)
	w.add(service("web"), pod(0, true), pod(1, true, func(p *corev1.Pod) { p.Spec.NodeName = "gone" }))
	if err := w.c.syncService(context.Background(), "ns/web"); err == nil {
		t.Errorf("want an error (retry) for a pod on a missing node")
	}
	list, _ := w.client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 || len(list.Items[0].Endpoints) != 1 {
		t.Errorf("the other pod must still be published: %+v", list.Items)
	}
}
