package portallocator

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
)

func fakeServices(svcs ...*corev1.Service) corev1client.ServicesGetter {
	objs := make([]runtime.Object, len(svcs))
	for i := range svcs {
		objs[i] = svcs[i]
	}
	return fake.NewClientset(objs...).CoreV1()
}

func nodePortService(name string, nodePorts ...int32) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
	}
	for i, p := range nodePorts {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: 80 + int32(i), Protocol: corev1.ProtocolTCP, NodePort: p})
	}
	return svc
}

func takenPorts(t *testing.T, a *Allocator) []int {
	t.Helper()
	var out []int
	if err := a.ForEach(context.Background(), func(p int) { out = append(out, p) }); err != nil {
		t.Fatal(err)
	}
	sort.Ints(out)
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRepairRecordsMissingPorts(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	store := &fakeRangeStore{}
	lb := nodePortService("lb", 30010)
	lb.Spec.Type = corev1.ServiceTypeLoadBalancer
	lb.Spec.HealthCheckNodePort = 30011
	r := NewRepair(0, fakeServices(nodePortService("a", 30001, 30002), lb), nil, pr, store)
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	a := New(pr, store)
	if got, want := takenPorts(t, a), []int{30001, 30002, 30010, 30011}; !equalInts(got, want) {
		t.Fatalf("after repair, taken ports = %v, want %v", got, want)
	}
	if err := a.Allocate(ctx, 30001); err == nil {
		t.Fatal("a repaired port could be allocated again")
	}
}

func TestRepairReleasesLeaksAfterSeveralPasses(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	store := initialized(t, pr)
	a := New(pr, store)
	for _, p := range []int{30001, 30005} {
		if err := a.Allocate(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRepair(0, fakeServices(nodePortService("a", 30001)), nil, pr, store)
	for pass := 1; pass < leakDetectionsBeforeRelease; pass++ {
		if err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := takenPorts(t, a); !equalInts(got, []int{30001, 30005}) {
			t.Fatalf("pass %d freed a suspected leak too early: taken %v", pass, got)
		}
	}
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := takenPorts(t, a); !equalInts(got, []int{30001}) {
		t.Fatalf("after %d passes, taken %v, want only 30001", leakDetectionsBeforeRelease, got)
	}
}

func TestRepairReportsDuplicatesAndOutOfRange(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	recorder := events.NewFakeRecorder(10)
	r := NewRepair(0, fakeServices(nodePortService("a", 30001), nodePortService("b", 30001), nodePortService("c", 8080)), recorder, pr, &fakeRangeStore{})
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	close(recorder.Events)
	var got []string
	for e := range recorder.Events {
		got = append(got, e)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"PortAlreadyAllocated Port 30001 was assigned to multiple services", "PortOutOfRange Port 8080 is not within the port range 30000-32767"} {
		if !strings.Contains(joined, want) {
			t.Errorf("events %q lack %q", got, want)
		}
	}
}

func TestRepairMovesToANewRange(t *testing.T) {
	ctx := context.Background()
	store := initialized(t, mustRange(t, "30000-30099"))
	if err := New(mustRange(t, "30000-30099"), store).Allocate(ctx, 30050); err != nil {
		t.Fatal(err)
	}
	pr := mustRange(t, "30000-32767")
	if err := NewRepair(0, fakeServices(nodePortService("a", 30050, 31000)), nil, pr, store).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := takenPorts(t, New(pr, store)); !equalInts(got, []int{30050, 31000}) {
		t.Fatalf("after the range change, taken %v, want [30050 31000]", got)
	}
}

// A port taken while the repair runs must survive the repair's rewrite.
func TestRepairDoesNotLoseConcurrentAllocations(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	store := initialized(t, pr)
	a := New(pr, store)
	client := fake.NewClientset()
	var once sync.Once
	client.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		once.Do(func() {
			if err := a.Allocate(ctx, 30777); err != nil {
				t.Error(err)
			}
		})
		return false, nil, nil
	})
	if err := NewRepair(0, client.CoreV1(), nil, pr, store).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if has, _ := a.Has(ctx, 30777); !has {
		t.Fatal("the repair's rewrite dropped a port allocated while it ran")
	}
}

func TestServiceNodePorts(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{
			{Protocol: corev1.ProtocolTCP, NodePort: 30001},
			{Protocol: corev1.ProtocolUDP, NodePort: 30001},
			{Protocol: corev1.ProtocolTCP, NodePort: 30002},
			{Protocol: corev1.ProtocolTCP, NodePort: 30002},
			{Protocol: corev1.ProtocolTCP},
		},
		HealthCheckNodePort: 30003,
	}}
	if got, want := serviceNodePorts(svc), []int{30001, 30002, 30002, 30003}; !equalInts(got, want) {
		t.Fatalf("serviceNodePorts = %v, want %v", got, want)
	}
}
