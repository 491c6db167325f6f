package ipallocator

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
)

var repairNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// newFakeRepair returns a repair loop over a fake clientset holding objs, its
// caches synced, its clock at repairNow.
func newFakeRepair(t *testing.T, objs ...runtime.Object) (*Repair, *fake.Clientset, *events.FakeRecorder) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := events.NewFakeRecorder(100)
	r := NewRepair(time.Minute, client.NetworkingV1(), recorder,
		factory.Core().V1().Services(), factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
	r.clock = testingclock.NewFakePassiveClock(repairNow)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return r, client, recorder
}

func clusterIPService(name string, created time.Time, ips ...string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ips[0], ClusterIPs: ips},
	}
}

func storedIPAddress(ip, owner string, created time.Time) *networkingv1.IPAddress {
	out := NewIPAddress(ip, service(owner))
	out.CreationTimestamp = metav1.NewTime(created)
	return out
}

func recordedEvents(r *events.FakeRecorder) string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

func TestRepairCreatesMissingIPAddresses(t *testing.T) {
	r, client, recorder := newFakeRepair(t,
		serviceCIDR("kubernetes", "10.96.0.0/12"),
		clusterIPService("a", repairNow.Add(-time.Hour), "10.96.0.10"),
		clusterIPService("headless", repairNow.Add(-time.Hour), "None"),
	)
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ip := ipAddress(t, client, "10.96.0.10")
	if ip == nil || ip.Spec.ParentRef.Name != "a" || !hasAllocatorLabels(ip) {
		t.Fatalf("IPAddress 10.96.0.10 after repair: %+v", ip)
	}
	if got := recordedEvents(recorder); !strings.Contains(got, "ClusterIPNotAllocated Cluster IP [IPv4]: 10.96.0.10 is not allocated; repairing") {
		t.Errorf("events: %q", got)
	}
	list, _ := client.NetworkingV1().IPAddresses().List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Errorf("%d IPAddresses, want 1 (headless Services hold none)", len(list.Items))
	}
}

func TestRepairReleasesLeakedIPAddressesAfterGracePeriod(t *testing.T) {
	r, client, _ := newFakeRepair(t,
		serviceCIDR("kubernetes", "10.96.0.0/12"),
		clusterIPService("a", repairNow.Add(-time.Hour), "10.96.0.10"),
		storedIPAddress("10.96.0.10", "a", repairNow.Add(-time.Hour)),
		// Its Service is gone, long ago: leaked.
		storedIPAddress("10.96.0.20", "gone", repairNow.Add(-2*orphanGracePeriod)),
		// Its Service may still be on its way.
		storedIPAddress("10.96.0.21", "coming", repairNow.Add(-time.Second)),
		// Its Service does not hold it any more.
		storedIPAddress("10.96.0.22", "a", repairNow.Add(-time.Hour)),
	)
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{"10.96.0.10": true, "10.96.0.20": false, "10.96.0.21": true, "10.96.0.22": false} {
		if got := ipAddress(t, client, ip) != nil; got != want {
			t.Errorf("IPAddress %s present = %v, want %v", ip, got, want)
		}
	}
}

func TestRepairFixesWrongReferencesAndLabels(t *testing.T) {
	badLabels := storedIPAddress("10.96.0.11", "b", repairNow.Add(-time.Hour))
	badLabels.Labels[networkingv1.LabelIPAddressFamily] = "IPv6"
	r, client, _ := newFakeRepair(t,
		serviceCIDR("kubernetes", "10.96.0.0/12"),
		clusterIPService("a", repairNow.Add(-time.Hour), "10.96.0.10"),
		clusterIPService("b", repairNow.Add(-time.Hour), "10.96.0.11"),
		// Names a Service that is gone: it is a's.
		storedIPAddress("10.96.0.10", "gone", repairNow.Add(-time.Hour)),
		badLabels,
	)
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ip := ipAddress(t, client, "10.96.0.10"); ip == nil || ip.Spec.ParentRef.Name != "a" {
		t.Errorf("10.96.0.10 after repair: %+v, want it to name a", ip)
	}
	if ip := ipAddress(t, client, "10.96.0.11"); ip == nil || !hasAllocatorLabels(ip) || ip.Spec.ParentRef.Name != "b" {
		t.Errorf("10.96.0.11 after repair: %+v, want b's with the allocator's labels", ip)
	}
}

func TestRepairReportsDuplicatesAndOutOfRange(t *testing.T) {
	r, client, recorder := newFakeRepair(t,
		serviceCIDR("kubernetes", "10.96.0.0/12"),
		clusterIPService("a", repairNow.Add(-time.Hour), "10.96.0.10"),
		clusterIPService("b", repairNow.Add(-time.Hour), "10.96.0.10"),
		storedIPAddress("10.96.0.10", "a", repairNow.Add(-time.Hour)),
		clusterIPService("outside", repairNow.Add(-time.Hour), "192.168.1.1"),
	)
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := recordedEvents(recorder)
	for _, want := range []string{
		"ClusterIPAlreadyAllocated Cluster IP [IPv4]:10.96.0.10 was assigned to multiple services",
		"ClusterIPOutOfRange Cluster IP [IPv4]: 192.168.1.1 is not within any configured Service CIDR",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("events %q lack %q", got, want)
		}
	}
	if ip := ipAddress(t, client, "10.96.0.10"); ip == nil || ip.Spec.ParentRef.Name != "a" {
		t.Errorf("the duplicate changed the owner of 10.96.0.10: %+v", ip)
	}
	if ipAddress(t, client, "192.168.1.1") != nil {
		t.Error("an IPAddress was created outside every Service CIDR")
	}
}

// Upstream's repair ignores IPAddresses other controllers manage.
func TestRepairLeavesForeignIPAddresses(t *testing.T) {
	foreign := storedIPAddress("10.96.0.30", "gone", repairNow.Add(-time.Hour))
	foreign.Labels[networkingv1.LabelManagedBy] = "someone-else"
	r, client, _ := newFakeRepair(t, serviceCIDR("kubernetes", "10.96.0.0/12"), foreign)
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ipAddress(t, client, "10.96.0.30") == nil {
		t.Fatal("repair deleted an IPAddress it does not manage")
	}
}

// An IPAddress the cache has not seen yet (just allocated) is not
// "repaired".
func TestRepairChecksTheAPIBeforeRepairing(t *testing.T) {
	client := fake.NewClientset(
		serviceCIDR("kubernetes", "10.96.0.0/12"),
		clusterIPService("a", repairNow.Add(-time.Hour), "10.96.0.10"),
		storedIPAddress("10.96.0.10", "a", repairNow.Add(-time.Hour)),
	)
	synced := informers.NewSharedInformerFactory(client, 0)
	stale := informers.NewSharedInformerFactory(client, 0) // never started
	recorder := events.NewFakeRecorder(10)
	r := NewRepair(time.Minute, client.NetworkingV1(), recorder,
		synced.Core().V1().Services(), synced.Networking().V1().ServiceCIDRs(), stale.Networking().V1().IPAddresses())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	synced.Start(ctx.Done())
	synced.WaitForCacheSync(ctx.Done())
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := recordedEvents(recorder); got != "" {
		t.Errorf("events for an IPAddress that exists: %q", got)
	}
}
