// Package ipallocator hands out Service ClusterIPs as upstream 1.37 does:
// every allocated IP is a networking.k8s.io/v1 IPAddress object (named by
// the IP, parentRef to the Service) inside one of the ServiceCIDR objects.
// Creating the IPAddress through the API is the allocation: its name is the
// IP, so two concurrent creates of one IP cannot both succeed, on one API
// server or many. Informer caches of both kinds answer "is it free?" cheaply.
package ipallocator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	networkingv1informers "k8s.io/client-go/informers/networking/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	networkingv1listers "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ControllerName is upstream's managed-by label value of the IPAddresses
// the Service allocator creates.
const ControllerName = "ipallocator.k8s.io"

// DefaultServiceCIDRName is the ServiceCIDR made from
// --service-cluster-ip-range.
const DefaultServiceCIDRName = "kubernetes"

// requestTimeout bounds each IPAddress create or delete.
const requestTimeout = 30 * time.Second

var (
	// ErrFull means no Service CIDR has a free IP.
	ErrFull = errors.New("range is full")
	// ErrAllocated means the requested IP is taken.
	ErrAllocated = errors.New("provided IP is already allocated")
	// ErrMismatchedNetwork means no ready Service CIDR contains the IP.
	ErrMismatchedNetwork = errors.New("the provided network does not match the current range")
	// ErrNotReady means the caches of ServiceCIDRs and IPAddresses are not
	// filled yet.
	ErrNotReady = errors.New("allocator not ready")
)

// Allocator allocates the ClusterIPs of one IP family from every ready
// ServiceCIDR of that family.
type Allocator struct {
	family      corev1.IPFamily
	client      networkingv1client.IPAddressesGetter
	cidrLister  networkingv1listers.ServiceCIDRLister
	ipLister    networkingv1listers.IPAddressLister
	cidrsSynced cache.InformerSynced
	ipsSynced   cache.InformerSynced
}

// New returns the allocator of family. The informers must be started by
// the caller; until they have synced, allocations fail with ErrNotReady.
func New(family corev1.IPFamily, client networkingv1client.IPAddressesGetter, cidrs networkingv1informers.ServiceCIDRInformer, ips networkingv1informers.IPAddressInformer) *Allocator {
	return &Allocator{
		family:      family,
		client:      client,
		cidrLister:  cidrs.Lister(),
		ipLister:    ips.Lister(),
		cidrsSynced: cidrs.Informer().HasSynced,
		ipsSynced:   ips.Informer().HasSynced,
	}
}

// Family is the IP family the allocator hands out.
func (a *Allocator) Family() corev1.IPFamily { return a.family }

// Allocate reserves ip for svc. In a dry run it only checks that ip could
// be allocated.
func (a *Allocator) Allocate(ctx context.Context, svc *corev1.Service, ip net.IP, dryRun bool) error {
	if !a.ready() {
		return ErrNotReady
	}
	addr, ok := toAddr(ip)
	if !ok {
		return fmt.Errorf("invalid IP %q", ip)
	}
	// Upstream's allocators are found by the CIDRs that contain the IP
	// (network and IPv4 broadcast addresses excluded), so an IP outside
	// every ready CIDR, or one of those addresses, is a "mismatched
	// network" rather than "not in range".
	if !a.inReadyRange(addr) {
		return ErrMismatchedNetwork
	}
	if dryRun {
		if _, err := a.ipLister.Get(addr.String()); err == nil {
			return ErrAllocated
		}
		return nil
	}
	return a.create(ctx, addr, svc)
}

// AllocateNext reserves a free IP for svc, chosen at random. In a dry run it
// returns a currently free IP without reserving it.
func (a *Allocator) AllocateNext(ctx context.Context, svc *corev1.Service, dryRun bool) (net.IP, error) {
	if !a.ready() {
		return nil, ErrNotReady
	}
	for _, r := range a.readyRanges() {
		next := r.candidates()
		for addr := next(); addr.IsValid(); addr = next() {
			if _, err := a.ipLister.Get(addr.String()); err == nil {
				continue
			} else if !apierrors.IsNotFound(err) {
				return nil, err
			}
			if dryRun {
				return addr.AsSlice(), nil
			}
			err := a.create(ctx, addr, svc)
			if errors.Is(err, ErrAllocated) {
				// Taken by another request since the cache saw it.
				klog.V(2).InfoS("ClusterIP taken concurrently; trying the next one", "ip", addr)
				continue
			}
			if err != nil {
				return nil, err
			}
			return addr.AsSlice(), nil
		}
	}
	return nil, ErrFull
}

// Release frees ip by deleting its IPAddress. Releasing a free IP does
// nothing.
func (a *Allocator) Release(ctx context.Context, ip net.IP) error {
	addr, ok := toAddr(ip)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := a.client.IPAddresses().Delete(ctx, addr.String(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release ClusterIP %s: %w", addr, err)
	}
	return nil
}

// Has reports whether ip is allocated, as the cache sees it.
func (a *Allocator) Has(ip net.IP) bool {
	addr, ok := toAddr(ip)
	if !ok {
		return false
	}
	_, err := a.ipLister.Get(addr.String())
	return err == nil
}

func (a *Allocator) ready() bool {
	return a.cidrsSynced() && a.ipsSynced()
}

func (a *Allocator) create(ctx context.Context, addr netip.Addr, svc *corev1.Service) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := a.client.IPAddresses().Create(ctx, NewIPAddress(addr.String(), svc), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return ErrAllocated
	}
	if err != nil {
		return fmt.Errorf("create IPAddress %s: %w", addr, err)
	}
	return nil
}

// inReadyRange reports whether a ready Service CIDR of the allocator's
// family can hold addr.
func (a *Allocator) inReadyRange(addr netip.Addr) bool {
	for _, r := range a.readyRanges() {
		if r.contains(addr) {
			return true
		}
	}
	return false
}

// readyRanges are the allocatable ranges of the ready ServiceCIDRs of the
// allocator's family: the default ServiceCIDR first, then the others by
// name. A ServiceCIDR being deleted or marked not Ready takes no new IPs.
func (a *Allocator) readyRanges() []*cidrRange {
	cidrs, err := a.cidrLister.List(labels.Everything())
	if err != nil {
		return nil
	}
	sort.Slice(cidrs, func(i, j int) bool {
		if (cidrs[i].Name == DefaultServiceCIDRName) != (cidrs[j].Name == DefaultServiceCIDRName) {
			return cidrs[i].Name == DefaultServiceCIDRName
		}
		return cidrs[i].Name < cidrs[j].Name
	})
	var out []*cidrRange
	seen := map[netip.Prefix]bool{}
	for _, sc := range cidrs {
		if !isReady(sc) {
			continue
		}
		for _, c := range sc.Spec.CIDRs {
			prefix, err := netip.ParsePrefix(c)
			if err != nil || familyOfAddr(prefix.Addr()) != a.family || seen[prefix.Masked()] {
				continue
			}
			r, err := newCIDRRange(prefix)
			if err != nil {
				klog.V(2).InfoS("Skipping Service CIDR", "serviceCIDR", sc.Name, "cidr", c, "err", err)
				continue
			}
			seen[r.prefix] = true
			out = append(out, r)
		}
	}
	return out
}

// isReady is upstream's test: a ServiceCIDR takes new IPs unless it is
// being deleted or its Ready condition is not True (no condition counts as
// ready, for clusters without the controller that sets it).
func isReady(sc *networkingv1.ServiceCIDR) bool {
	if !sc.DeletionTimestamp.IsZero() {
		return false
	}
	for _, c := range sc.Status.Conditions {
		if c.Type == networkingv1.ServiceCIDRConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return true
}

// NewIPAddress is the IPAddress recording that ip belongs to svc.
func NewIPAddress(ip string, svc *corev1.Service) *networkingv1.IPAddress {
	family := corev1.IPv4Protocol
	if addr, err := netip.ParseAddr(ip); err == nil && addr.Is6() {
		family = corev1.IPv6Protocol
	}
	out := &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{
			Name: ip,
			Labels: map[string]string{
				networkingv1.LabelIPAddressFamily: string(family),
				networkingv1.LabelManagedBy:       ControllerName,
			},
		},
	}
	if svc != nil {
		out.Spec.ParentRef = &networkingv1.ParentReference{Resource: "services", Namespace: svc.Namespace, Name: svc.Name}
	}
	return out
}

// toAddr converts ip to a netip.Addr of its own family (not IPv4-in-IPv6).
func toAddr(ip net.IP) (netip.Addr, bool) {
	if v4 := ip.To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4)), true
	}
	if len(ip) == net.IPv6len {
		return netip.AddrFrom16([16]byte(ip)), true
	}
	return netip.Addr{}, false
}

func familyOfAddr(addr netip.Addr) corev1.IPFamily {
	if addr.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}
