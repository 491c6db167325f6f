package endpointslicemirroring

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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	events  *record.FakeRecorder
}

func newWorld(t *testing.T, maxPerSubset int32) *world {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Endpoints(), factory.Discovery().V1().EndpointSlices(), factory.Core().V1().Services(), maxPerSubset, 0)
	if err != nil {
		t.Fatal(err)
	}
	events := record.NewFakeRecorder(100)
	c.reconciler.recorder = events
	n := 0
	client.PrependReactor("create", "endpointslices", func(a clienttesting.Action) (bool, runtime.Object, error) {
		s := a.(clienttesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		n++
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s%05d", s.GenerateName, n)
		}
		s.UID = types.UID(fmt.Sprintf("uid-%d", n))
		return false, nil, nil
	})
	return &world{t: t, client: client, factory: factory, c: c, events: events}
}

func (w *world) add(objs ...interface{}) {
	w.t.Helper()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Service:
			err = w.factory.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = w.factory.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) sync(name string) []discoveryv1.EndpointSlice {
	w.t.Helper()
	if err := w.c.syncEndpoints(context.Background(), "ns/"+name); err != nil {
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
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].AddressType < list.Items[j].AddressType })
	return list.Items
}

func selectorless(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func customEndpoints(name string, mutate ...func(*corev1.Endpoints)) *corev1.Endpoints {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "ep-uid",
			Labels:      map[string]string{"team": "a"},
			Annotations: map[string]string{"note": "x", corev1.EndpointsLastChangeTriggerTime: "2024-01-01T00:00:00Z"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.1", Hostname: "one"}, {IP: "2001:db8::1"}, {IP: "not-an-ip"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.2"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
	for _, m := range mutate {
		m(ep)
	}
	return ep
}

func TestMirrorsSelectorlessService(t *testing.T) {
	w := newWorld(t, 1000)
	w.add(selectorless("ext"), customEndpoints("ext"))
	slices := w.sync("ext")
	if len(slices) != 2 {
		t.Fatalf("want an IPv4 and an IPv6 slice, got %d", len(slices))
	}
	v4, v6 := slices[0], slices[1]
	if v4.AddressType != discoveryv1.AddressTypeIPv4 || v6.AddressType != discoveryv1.AddressTypeIPv6 {
		t.Fatalf("address types %s %s", v4.AddressType, v6.AddressType)
	}
	if len(v4.Endpoints) != 2 || len(v6.Endpoints) != 1 {
		t.Errorf("endpoints: v4 %d v6 %d", len(v4.Endpoints), len(v6.Endpoints))
	}
	for _, ep := range v4.Endpoints {
		ready := *ep.Conditions.Ready
		if (ep.Addresses[0] == "192.0.2.1") != ready {
			t.Errorf("%s ready=%v", ep.Addresses[0], ready)
		}
		if ep.Addresses[0] == "192.0.2.1" && (ep.Hostname == nil || *ep.Hostname != "one") {
			t.Errorf("hostname = %v", ep.Hostname)
		}
	}
	if v4.Labels[discoveryv1.LabelManagedBy] != ControllerName || v4.Labels[discoveryv1.LabelServiceName] != "ext" || v4.Labels["team"] != "a" {
		t.Errorf("labels = %v", v4.Labels)
	}
	if v4.Annotations["note"] != "x" || v4.Annotations[corev1.EndpointsLastChangeTriggerTime] != "" {
		t.Errorf("annotations = %v", v4.Annotations)
	}
	if v4.OwnerReferences[0].Kind != "Endpoints" || v4.OwnerReferences[0].UID != "ep-uid" {
		t.Errorf("owner = %+v", v4.OwnerReferences)
	}
	if *v4.Ports[0].Port != 8080 {
		t.Errorf("ports = %+v", v4.Ports)
	}
	select {
	case e := <-w.events.Events:
		if e != "Warning InvalidIPAddress Skipped 1 invalid IP addresses when mirroring to EndpointSlices" {
			t.Errorf("event = %q", e)
		}
	default:
		t.Errorf("no InvalidIPAddress event")
	}

	// Unchanged: no writes.
	w.client.ClearActions()
	w.sync("ext")
	for _, a := range w.client.Actions() {
		if v := a.GetVerb(); v == "create" || v == "update" || v == "delete" {
			t.Errorf("unexpected %s", v)
		}
	}
}

func TestNotMirrored(t *testing.T) {
	for name, tc := range map[string]struct {
		svc *corev1.Service
		ep  *corev1.Endpoints
	}{
		"skip-mirror label (default/kubernetes)": {selectorless("ext"), customEndpoints("ext", func(e *corev1.Endpoints) {
			e.Labels = map[string]string{discoveryv1.LabelSkipMirror: "true"}
		})},
		"service with selector": {func() *corev1.Service {
			s := selectorless("ext")
			s.Spec.Selector = map[string]string{"app": "x"}
			return s
		}(), customEndpoints("ext")},
		"no service": {nil, customEndpoints("ext")},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, 1000)
			if tc.svc != nil {
				w.add(tc.svc)
			}
			w.add(tc.ep)
			if slices := w.sync("ext"); len(slices) != 0 {
				t.Errorf("mirrored %d slices", len(slices))
			}
		})
	}
}

func TestMirroredSlicesFollowEndpoints(t *testing.T) {
	w := newWorld(t, 1000)
	w.add(selectorless("ext"), customEndpoints("ext"))
	w.sync("ext")
	// The IPv6 address goes: its slice is deleted, the IPv4 one kept.
	w.add(customEndpoints("ext", func(e *corev1.Endpoints) {
		e.Subsets[0].Addresses = []corev1.EndpointAddress{{IP: "192.0.2.1"}}
	}))
	slices := w.sync("ext")
	if len(slices) != 1 || slices[0].AddressType != discoveryv1.AddressTypeIPv4 {
		t.Fatalf("slices = %+v", slices)
	}
	// The Service gains a selector: mirrored slices go.
	svc := selectorless("ext")
	svc.Spec.Selector = map[string]string{"app": "x"}
	w.add(svc)
	if slices := w.sync("ext"); len(slices) != 0 {
		t.Errorf("mirrored slices kept: %d", len(slices))
	}
}

func TestMaxEndpointsPerSubset(t *testing.T) {
	w := newWorld(t, 2)
	w.add(selectorless("ext"), customEndpoints("ext", func(e *corev1.Endpoints) {
		e.Subsets[0].Addresses = []corev1.EndpointAddress{{IP: "192.0.2.1"}, {IP: "192.0.2.3"}, {IP: "192.0.2.4"}}
		e.Subsets[0].NotReadyAddresses = nil
	}))
	slices := w.sync("ext")
	if len(slices) != 1 || len(slices[0].Endpoints) != 2 {
		t.Fatalf("slices = %+v", slices)
	}
	select {
	case e := <-w.events.Events:
		if e != "Warning TooManyAddressesToMirror A max of 2 addresses can be mirrored to EndpointSlices per Endpoints subset. 1 addresses were skipped" {
			t.Errorf("event = %q", e)
		}
	default:
		t.Errorf("no TooManyAddressesToMirror event")
	}
}
