package ipallocator

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func serviceCIDR(name string, cidrs ...string) *networkingv1.ServiceCIDR {
	return &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: cidrs}}
}

func service(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
}

// newFakeAllocator returns an allocator over a fake clientset holding objs,
// with its informers started and synced.
func newFakeAllocator(t *testing.T, family corev1.IPFamily, objs ...runtime.Object) (*Allocator, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	a := New(family, client.NetworkingV1(), factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return a, client
}

func ipAddress(t *testing.T, client *fake.Clientset, ip string) *networkingv1.IPAddress {
	t.Helper()
	got, err := client.NetworkingV1().IPAddresses().Get(context.Background(), ip, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitCached waits until the allocator's cache sees ip (present or not).
func waitCached(t *testing.T, a *Allocator, ip string, present bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return a.Has(net.ParseIP(ip)) == present, nil
	})
	if err != nil {
		t.Fatalf("cache never saw %s present=%v", ip, present)
	}
}

func TestAllocateSpecificIP(t *testing.T) {
	ctx := context.Background()
	a, client := newFakeAllocator(t, corev1.IPv4Protocol, serviceCIDR("kubernetes", "10.96.0.0/12"))

	if err := a.Allocate(ctx, service("a"), net.ParseIP("10.96.0.5"), false); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	ip := ipAddress(t, client, "10.96.0.5")
	if ip == nil {
		t.Fatal("no IPAddress 10.96.0.5 created")
	}
	if ref := ip.Spec.ParentRef; ref == nil || ref.Resource != "services" || ref.Namespace != "default" || ref.Name != "a" || ref.Group != "" {
		t.Errorf("parentRef = %+v, want the Service default/a", ref)
	}
	if ip.Labels[networkingv1.LabelManagedBy] != "ipallocator.k8s.io" || ip.Labels[networkingv1.LabelIPAddressFamily] != "IPv4" {
		t.Errorf("labels = %v", ip.Labels)
	}

	err := a.Allocate(ctx, service("b"), net.ParseIP("10.96.0.5"), false)
	if !errors.Is(err, ErrAllocated) || err.Error() != "provided IP is already allocated" {
		t.Fatalf("second Allocate: got %v, want %q", err, ErrAllocated)
	}
	if ref := ipAddress(t, client, "10.96.0.5").Spec.ParentRef; ref.Name != "a" {
		t.Errorf("the failed allocation changed the owner to %s", ref.Name)
	}
}

func TestAllocateOutsideServiceCIDRs(t *testing.T) {
	ctx := context.Background()
	a, client := newFakeAllocator(t, corev1.IPv4Protocol, serviceCIDR("kubernetes", "10.96.0.0/12"))
	// Out of every CIDR, or the network or broadcast address of one.
	for _, ip := range []string{"192.168.0.1", "10.96.0.0", "10.111.255.255", "10.112.0.1"} {
		err := a.Allocate(ctx, service("a"), net.ParseIP(ip), false)
		if !errors.Is(err, ErrMismatchedNetwork) || err.Error() != "the provided network does not match the current range" {
			t.Errorf("Allocate(%s): got %v, want %q", ip, err, ErrMismatchedNetwork)
		}
		if ipAddress(t, client, ip) != nil {
			t.Errorf("IPAddress %s created for an out-of-range IP", ip)
		}
	}
}

func TestReleaseFreesIP(t *testing.T) {
	ctx := context.Background()
	a, client := newFakeAllocator(t, corev1.IPv4Protocol, serviceCIDR("kubernetes", "10.96.0.0/12"))
	ip := net.ParseIP("10.96.0.7")
	if err := a.Allocate(ctx, service("a"), ip, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, ip); err != nil {
		t.Fatal(err)
	}
	if ipAddress(t, client, "10.96.0.7") != nil {
		t.Fatal("IPAddress still there after release")
	}
	if err := a.Allocate(ctx, service("b"), ip, false); err != nil {
		t.Fatalf("Allocate after release: %v", err)
	}
	// Releasing a free IP is harmless.
	if err := a.Release(ctx, net.ParseIP("10.96.0.99")); err != nil {
		t.Fatal(err)
	}
}

func TestAllocateNextExhaustsRange(t *testing.T) {
	ctx := context.Background()
	a, client := newFakeAllocator(t, corev1.IPv4Protocol, serviceCIDR("kubernetes", "10.0.0.0/28"))
	seen := map[string]bool{}
	for i := 0; i < 14; i++ {
		ip, err := a.AllocateNext(ctx, service("a"), false)
		if err != nil {
			t.Fatalf("AllocateNext #%d: %v", i, err)
		}
		if seen[ip.String()] {
			t.Fatalf("%s handed out twice", ip)
		}
		seen[ip.String()] = true
		if ipAddress(t, client, ip.String()) == nil {
			t.Fatalf("no IPAddress for %s", ip)
		}
	}
	if _, err := a.AllocateNext(ctx, service("a"), false); !errors.Is(err, ErrFull) {
		t.Fatalf("AllocateNext on a full range: got %v, want %v", err, ErrFull)
	}
}

func TestConcurrentAllocateNextHasNoDuplicates(t *testing.T) {
	ctx := context.Background()
	a, client := newFakeAllocator(t, corev1.IPv4Protocol, serviceCIDR("kubernetes", "10.0.0.0/27"))
	// A second allocator on the same API stands for a second API server.
	factory := informers.NewSharedInformerFactory(client, 0)
	b := New(corev1.IPv4Protocol, client.NetworkingV1(), factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	const requests = 40 // the /27 holds 30
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[string]int{}
		fails []error
	)
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			alloc := a
			if i%2 == 1 {
				alloc = b
			}
			ip, err := alloc.AllocateNext(ctx, service("s"), false)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails = append(fails, err)
				return
			}
			got[ip.String()]++
		}(i)
	}
	wg.Wait()
	for ip, n := range got {
		if n > 1 {
			t.Errorf("%s handed out %d times", ip, n)
		}
	}
	if len(got) != 30 {
		t.Errorf("%d IPs handed out, want all 30", len(got))
	}
	for _, err := range fails {
		if !errors.Is(err, ErrFull) {
			t.Errorf("unexpected failure: %v", err)
		}
	}
	list, err := client.NetworkingV1().IPAddresses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 30 {
		t.Errorf("%d IPAddresses stored, want 30", len(list.Items))
	}
}

func TestDryRunPersistsNothing(t *testing.T) {
	ctx := context.Background()
	a, client := newFakeAllocator(t, corev1.IPv4Protocol, serviceCIDR("kubernetes", "10.96.0.0/12"))
	if err := a.Allocate(ctx, service("a"), net.ParseIP("10.96.0.5"), false); err != nil {
		t.Fatal(err)
	}
	waitCached(t, a, "10.96.0.5", true)

	ip, err := a.AllocateNext(ctx, service("b"), true)
	if err != nil {
		t.Fatalf("dry-run AllocateNext: %v", err)
	}
	if !(&net.IPNet{IP: net.ParseIP("10.96.0.0"), Mask: net.CIDRMask(12, 32)}).Contains(ip) || ip.String() == "10.96.0.5" {
		t.Errorf("dry-run AllocateNext returned %s", ip)
	}
	if err := a.Allocate(ctx, service("b"), net.ParseIP("10.96.0.6"), true); err != nil {
		t.Errorf("dry-run Allocate of a free IP: %v", err)
	}
	if err := a.Allocate(ctx, service("b"), net.ParseIP("10.96.0.5"), true); !errors.Is(err, ErrAllocated) {
		t.Errorf("dry-run Allocate of a taken IP: got %v, want %v", err, ErrAllocated)
	}
	if err := a.Allocate(ctx, service("b"), net.ParseIP("1.2.3.4"), true); !errors.Is(err, ErrMismatchedNetwork) {
		t.Errorf("dry-run Allocate out of range: got %v, want %v", err, ErrMismatchedNetwork)
	}
	list, err := client.NetworkingV1().IPAddresses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Errorf("dry runs created IPAddresses: %d stored, want 1", len(list.Items))
	}
}

func TestNotReadyUntilCachesSync(t *testing.T) {
	client := fake.NewClientset(serviceCIDR("kubernetes", "10.96.0.0/12"))
	factory := informers.NewSharedInformerFactory(client, 0)
	a := New(corev1.IPv4Protocol, client.NetworkingV1(), factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
	if _, err := a.AllocateNext(context.Background(), service("a"), false); !errors.Is(err, ErrNotReady) {
		t.Fatalf("AllocateNext before the caches sync: got %v, want %v", err, ErrNotReady)
	}
}

func TestOnlyReadyServiceCIDRsOfTheFamilyAllocate(t *testing.T) {
	ctx := context.Background()
	notReady := serviceCIDR("not-ready", "10.1.0.0/28")
	notReady.Status.Conditions = []metav1.Condition{{Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionFalse}}
	deleting := serviceCIDR("deleting", "10.2.0.0/28")
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	deleting.Finalizers = []string{"networking.k8s.io/service-cidr-finalizer"}
	v6 := serviceCIDR("v6", "fd00::/120")

	a, _ := newFakeAllocator(t, corev1.IPv4Protocol, notReady, deleting, v6)
	if _, err := a.AllocateNext(ctx, service("a"), false); !errors.Is(err, ErrFull) {
		t.Errorf("AllocateNext with no ready IPv4 CIDR: got %v, want %v", err, ErrFull)
	}
	for _, ip := range []string{"10.1.0.1", "10.2.0.1", "fd00::1"} {
		if err := a.Allocate(ctx, service("a"), net.ParseIP(ip), false); !errors.Is(err, ErrMismatchedNetwork) {
			t.Errorf("Allocate(%s): got %v, want %v", ip, err, ErrMismatchedNetwork)
		}
	}

	a6, _ := newFakeAllocator(t, corev1.IPv6Protocol, v6, serviceCIDR("kubernetes", "10.96.0.0/12"))
	ip, err := a6.AllocateNext(ctx, service("a"), false)
	if err != nil || ip.To4() != nil {
		t.Fatalf("IPv6 AllocateNext: got %s, %v", ip, err)
	}
}
