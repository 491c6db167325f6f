package service

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/registry/core/service/ipallocator"
	"github.com/skiff-project/skiff/pkg/registry/core/service/portallocator"
)

// fakeRangeStore is an in-memory portallocator.RangeStore, initialized as
// the first repair leaves it.
type fakeRangeStore struct {
	mu     sync.Mutex
	stored corev1.RangeAllocation
}

func newFakeRangeStore(pr utilnet.PortRange) *fakeRangeStore {
	return &fakeRangeStore{stored: corev1.RangeAllocation{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1"}, Range: pr.String()}}
}

func (s *fakeRangeStore) Get(ctx context.Context) (*corev1.RangeAllocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored.DeepCopy(), nil
}

func (s *fakeRangeStore) Update(ctx context.Context, tryUpdate func(*corev1.RangeAllocation) (*corev1.RangeAllocation, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := tryUpdate(s.stored.DeepCopy())
	if err != nil {
		return err
	}
	rv, _ := strconv.Atoi(s.stored.ResourceVersion)
	s.stored = *out.DeepCopy()
	s.stored.ResourceVersion = strconv.Itoa(rv + 1)
	return nil
}

type allocFixture struct {
	al     *allocators
	client *fake.Clientset
	ports  *portallocator.Allocator
}

func newAllocFixture(t *testing.T) *allocFixture {
	t.Helper()
	client := fake.NewClientset(&networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.96.0.0/12"}},
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	ips := ipallocator.New(corev1.IPv4Protocol, client.NetworkingV1(), factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	pr, _ := utilnet.ParsePortRange("30000-32767")
	ports := portallocator.New(*pr, newFakeRangeStore(*pr))
	return &allocFixture{
		al:     &allocators{defaultFamily: corev1.IPv4Protocol, ips: map[corev1.IPFamily]ipAllocator{corev1.IPv4Protocol: ips}, nodePorts: ports},
		client: client,
		ports:  ports,
	}
}

func (f *allocFixture) ipTaken(t *testing.T, ip string) bool {
	t.Helper()
	_, err := f.client.NetworkingV1().IPAddresses().Get(context.Background(), ip, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func (f *allocFixture) portTaken(t *testing.T, port int32) bool {
	t.Helper()
	has, err := f.ports.Has(context.Background(), int(port))
	if err != nil {
		t.Fatal(err)
	}
	return has
}

func newService(name string, typ corev1.ServiceType, mutate ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	return svc
}

func TestCreateAllocatesClusterIPAndFamilies(t *testing.T) {
	f := newAllocFixture(t)
	svc := newService("a", corev1.ServiceTypeClusterIP)
	txn, err := f.al.allocateCreate(context.Background(), svc, false)
	if err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if svc.Spec.ClusterIP == "" || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
		t.Fatalf("clusterIP %q clusterIPs %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	if !f.ipTaken(t, svc.Spec.ClusterIP) {
		t.Errorf("no IPAddress for %s", svc.Spec.ClusterIP)
	}
	if got := svc.Spec.IPFamilies; len(got) != 1 || got[0] != corev1.IPv4Protocol {
		t.Errorf("ipFamilies = %v, want [IPv4]", got)
	}
	if p := svc.Spec.IPFamilyPolicy; p == nil || *p != corev1.IPFamilyPolicySingleStack {
		t.Errorf("ipFamilyPolicy = %v, want SingleStack", p)
	}
}

func TestCreateErrors(t *testing.T) {
	f := newAllocFixture(t)
	first := newService("first", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.5"}; s.Spec.ClusterIP = "10.96.0.5" })
	if _, err := f.al.allocateCreate(context.Background(), first, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		want string
	}{
		{"taken IP", newService("b", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.5"}; s.Spec.ClusterIP = "10.96.0.5" }),
			`Service "b" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.5"]: failed to allocate IP 10.96.0.5: provided IP is already allocated`},
		{"IP outside the CIDRs", newService("c", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"1.2.3.4"}; s.Spec.ClusterIP = "1.2.3.4" }),
			`failed to allocate IP 1.2.3.4: the provided network does not match the current range`},
		{"dual-stack on a single-stack cluster", newService("d", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack) }),
			`spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`},
		{"family the cluster lacks", newService("e", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }),
			`spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster`},
		{"taken NodePort", newService("f", corev1.ServiceTypeNodePort, func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
			`spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`},
		{"NodePort out of range", newService("g", corev1.ServiceTypeNodePort, func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 80 }),
			`spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767`},
	}
	if err := f.ports.Allocate(context.Background(), 30080); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.al.allocateCreate(context.Background(), tc.svc, false)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a 422 with %q", err, tc.want)
			}
		})
	}
	// A failed create gave back the ClusterIP it had taken before the
	// NodePort failed.
	list, _ := f.client.NetworkingV1().IPAddresses().List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Errorf("%d IPAddresses after failed creates, want only first's", len(list.Items))
	}
}

func TestCreateHeadlessAndExternalName(t *testing.T) {
	f := newAllocFixture(t)
	headless := newService("h", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	normalizeClusterIPs(headless, nil)
	if _, err := f.al.allocateCreate(context.Background(), headless, false); err != nil {
		t.Fatal(err)
	}
	if headless.Spec.ClusterIPs[0] != "None" || *headless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(headless.Spec.IPFamilies) != 1 {
		t.Errorf("headless with selector: clusterIPs %v policy %v families %v", headless.Spec.ClusterIPs, *headless.Spec.IPFamilyPolicy, headless.Spec.IPFamilies)
	}

	selectorless := newService("hs", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Selector = nil })
	normalizeClusterIPs(selectorless, nil)
	if _, err := f.al.allocateCreate(context.Background(), selectorless, false); err != nil {
		t.Fatal(err)
	}
	if *selectorless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack || len(selectorless.Spec.IPFamilies) != 2 {
		t.Errorf("headless without selector: policy %v families %v, want RequireDualStack [IPv4 IPv6]", *selectorless.Spec.IPFamilyPolicy, selectorless.Spec.IPFamilies)
	}

	ext := newService("x", corev1.ServiceTypeExternalName, func(s *corev1.Service) { s.Spec.ExternalName = "example.com" })
	if _, err := f.al.allocateCreate(context.Background(), ext, false); err != nil {
		t.Fatal(err)
	}
	if ext.Spec.ClusterIP != "" || ext.Spec.IPFamilyPolicy != nil || ext.Spec.IPFamilies != nil {
		t.Errorf("ExternalName got IP fields: %+v", ext.Spec)
	}
	list, _ := f.client.NetworkingV1().IPAddresses().List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 0 {
		t.Errorf("%d IPAddresses for headless and ExternalName Services", len(list.Items))
	}
}

func TestCreateNodePorts(t *testing.T) {
	f := newAllocFixture(t)
	svc := newService("np", corev1.ServiceTypeNodePort, func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{
			{Name: "tcp", Port: 53, Protocol: corev1.ProtocolTCP},
			{Name: "udp", Port: 53, Protocol: corev1.ProtocolUDP},
			{Name: "fixed", Port: 8080, Protocol: corev1.ProtocolTCP, NodePort: 31000},
		}
	})
	txn, err := f.al.allocateCreate(context.Background(), svc, false)
	if err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	p := svc.Spec.Ports
	if p[0].NodePort == 0 || p[0].NodePort != p[1].NodePort {
		t.Errorf("TCP and UDP of port 53 got NodePorts %d and %d, want one shared", p[0].NodePort, p[1].NodePort)
	}
	if p[2].NodePort != 31000 || !f.portTaken(t, 31000) || !f.portTaken(t, p[0].NodePort) {
		t.Errorf("NodePorts %v not all recorded", p)
	}

	lb := newService("lb", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	if _, err := f.al.allocateCreate(context.Background(), lb, false); err != nil {
		t.Fatal(err)
	}
	if lb.Spec.HealthCheckNodePort == 0 || !f.portTaken(t, lb.Spec.HealthCheckNodePort) || lb.Spec.Ports[0].NodePort == 0 {
		t.Errorf("LoadBalancer Local: healthCheckNodePort %d, nodePort %d", lb.Spec.HealthCheckNodePort, lb.Spec.Ports[0].NodePort)
	}

	noPorts := newService("lb2", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptr.To(false) })
	if _, err := f.al.allocateCreate(context.Background(), noPorts, false); err != nil {
		t.Fatal(err)
	}
	if noPorts.Spec.Ports[0].NodePort != 0 {
		t.Errorf("allocateLoadBalancerNodePorts=false got NodePort %d", noPorts.Spec.Ports[0].NodePort)
	}
}

func TestFailedCreateReleasesEverything(t *testing.T) {
	f := newAllocFixture(t)
	svc := newService("np", corev1.ServiceTypeNodePort)
	txn, err := f.al.allocateCreate(context.Background(), svc, false)
	if err != nil {
		t.Fatal(err)
	}
	ip, port := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	txn.Revert() // the store could not write the Service
	if f.ipTaken(t, ip) || f.portTaken(t, port) {
		t.Fatalf("after revert, IP %s taken=%v, port %d taken=%v", ip, f.ipTaken(t, ip), port, f.portTaken(t, port))
	}
}

func TestDryRunCreatePersistsNothing(t *testing.T) {
	f := newAllocFixture(t)
	svc := newService("np", corev1.ServiceTypeNodePort)
	txn, err := f.al.allocateCreate(context.Background(), svc, true)
	if err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if svc.Spec.ClusterIP == "" || svc.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("dry run filled no values: %+v", svc.Spec)
	}
	if f.ipTaken(t, svc.Spec.ClusterIP) || f.portTaken(t, svc.Spec.Ports[0].NodePort) {
		t.Fatal("dry run persisted its allocations")
	}
}

func TestUpdateTypeChanges(t *testing.T) {
	ctx := context.Background()
	f := newAllocFixture(t)
	old := newService("s", corev1.ServiceTypeNodePort)
	if _, err := f.al.allocateCreate(ctx, old, false); err != nil {
		t.Fatal(err)
	}
	ip, port := old.Spec.ClusterIP, old.Spec.Ports[0].NodePort

	// NodePort -> ClusterIP: the NodePort goes when the update is stored,
	// not before.
	toClusterIP := old.DeepCopy()
	toClusterIP.Spec.Type = corev1.ServiceTypeClusterIP
	dropTypeDependentFields(toClusterIP, old)
	txn, err := f.al.allocateUpdate(ctx, toClusterIP, old, false)
	if err != nil {
		t.Fatal(err)
	}
	txn.Revert()
	if !f.portTaken(t, port) {
		t.Fatal("a failed update released the NodePort")
	}
	txn, err = f.al.allocateUpdate(ctx, toClusterIP, old, false)
	if err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if f.portTaken(t, port) || toClusterIP.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("NodePort %d kept after the change to ClusterIP", port)
	}

	// ClusterIP -> ExternalName releases the IP.
	toExternal := toClusterIP.DeepCopy()
	toExternal.Spec.Type = corev1.ServiceTypeExternalName
	toExternal.Spec.ExternalName = "example.com"
	dropTypeDependentFields(toExternal, toClusterIP)
	txn, err = f.al.allocateUpdate(ctx, toExternal, toClusterIP, false)
	if err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if f.ipTaken(t, ip) || toExternal.Spec.ClusterIP != "" {
		t.Fatalf("ClusterIP %s kept after the change to ExternalName", ip)
	}

	// ExternalName -> ClusterIP allocates a new one.
	back := toExternal.DeepCopy()
	back.Spec.Type = corev1.ServiceTypeClusterIP
	back.Spec.ExternalName = ""
	txn, err = f.al.allocateUpdate(ctx, back, toExternal, false)
	if err != nil {
		t.Fatal(err)
	}
	txn.Commit()
	if back.Spec.ClusterIP == "" || !f.ipTaken(t, back.Spec.ClusterIP) {
		t.Fatalf("no ClusterIP after the change from ExternalName: %+v", back.Spec)
	}
}

func TestDeleteReleasesEverything(t *testing.T) {
	f := newAllocFixture(t)
	svc := newService("lb", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	if _, err := f.al.allocateCreate(context.Background(), svc, false); err != nil {
		t.Fatal(err)
	}
	f.al.releaseAllocatedResources(svc)
	if f.ipTaken(t, svc.Spec.ClusterIP) || f.portTaken(t, svc.Spec.Ports[0].NodePort) || f.portTaken(t, svc.Spec.HealthCheckNodePort) {
		t.Fatal("delete left allocations behind")
	}
}
