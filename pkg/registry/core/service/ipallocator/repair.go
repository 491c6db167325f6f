package ipallocator

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	networkingv1informers "k8s.io/client-go/informers/networking/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkingv1listers "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/api/servicecidr"
	"k8s.io/kubernetes/pkg/apis/core/v1/helper"
	"k8s.io/utils/clock"
)

const (
	// orphanGracePeriod is how old an IPAddress without its Service must be
	// before it is deleted: the allocator creates the IPAddress before the
	// Service is stored, and a request may take up to a minute.
	orphanGracePeriod = 60 * time.Second
	// newAddressGracePeriod delays judging an IPAddress newer than the
	// Service it names: it may be a failed create's, about to be reverted.
	newAddressGracePeriod = 5 * time.Second
)

// Repair reconciles Service ClusterIPs with IPAddress objects, as upstream's
// repair controller does:
//   - a ClusterIP without its IPAddress gets one (a crash between the two
//     writes, or data from before the IPAddress allocator);
//   - an IPAddress of the allocator whose Service is gone or no longer has
//     the IP is deleted (after a grace period);
//   - an IPAddress with a wrong reference or labels is recreated;
//   - ClusterIPs outside every Service CIDR, and IPs shared by several
//     Services, are reported as events.
type Repair struct {
	interval time.Duration
	client   networkingv1client.IPAddressesGetter
	recorder events.EventRecorder
	clock    clock.PassiveClock

	services    corelisters.ServiceLister
	cidrs       networkingv1listers.ServiceCIDRLister
	ips         networkingv1listers.IPAddressLister
	cacheSynced []cache.InformerSynced
}

// NewRepair returns the repair loop. The informers must be started by the
// caller.
func NewRepair(interval time.Duration, client networkingv1client.IPAddressesGetter, recorder events.EventRecorder,
	services coreinformers.ServiceInformer, cidrs networkingv1informers.ServiceCIDRInformer, ips networkingv1informers.IPAddressInformer) *Repair {
	return &Repair{
		interval:    interval,
		client:      client,
		recorder:    recorder,
		clock:       clock.RealClock{},
		services:    services.Lister(),
		cidrs:       cidrs.Lister(),
		ips:         ips.Lister(),
		cacheSynced: []cache.InformerSynced{services.Informer().HasSynced, cidrs.Informer().HasSynced, ips.Informer().HasSynced},
	}
}

// Run waits for the caches and the default ServiceCIDR, repairs, calls
// onFirstSuccess, and repairs again every interval until ctx ends.
func (r *Repair) Run(ctx context.Context, onFirstSuccess func()) {
	if !cache.WaitForNamedCacheSyncWithContext(ctx, r.cacheSynced...) {
		return
	}
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		_, err := r.cidrs.Get(DefaultServiceCIDRName)
		return err == nil, nil
	})
	if err != nil {
		return
	}
	first := true
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := r.RunOnce(ctx); err != nil {
			klog.ErrorS(err, "ClusterIP repair failed")
			return
		}
		if first {
			first = false
			onFirstSuccess()
		}
	}, r.interval)
}

// RunOnce makes one pass over every Service and IPAddress in the caches.
// Conflicts and Forbidden (admission still warming up) are retried.
func (r *Repair) RunOnce(ctx context.Context) error {
	return retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsForbidden(err)
	}, func() error { return r.runOnce(ctx) })
}

func (r *Repair) runOnce(ctx context.Context) error {
	services, err := r.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	repaired := map[string]bool{}
	for _, svc := range services {
		if err := r.syncService(ctx, svc, repaired); err != nil {
			return err
		}
	}
	managed := labels.SelectorFromSet(labels.Set{networkingv1.LabelManagedBy: ControllerName})
	ips, err := r.ips.List(managed)
	if err != nil {
		return fmt.Errorf("list IPAddresses: %w", err)
	}
	for _, ip := range ips {
		if repaired[ip.Name] {
			continue // the cache has not seen the repair yet
		}
		if err := r.syncIPAddress(ctx, ip); err != nil {
			return err
		}
	}
	return nil
}

// syncService makes sure each ClusterIP of svc has an IPAddress naming svc.
// It records the IPs it (re)created in repaired.
func (r *Repair) syncService(ctx context.Context, svc *corev1.Service, repaired map[string]bool) error {
	if !helper.IsServiceIPSet(svc) {
		return nil
	}
	for _, clusterIP := range svc.Spec.ClusterIPs {
		addr, err := netip.ParseAddr(clusterIP)
		if err != nil {
			r.event(svc, corev1.EventTypeWarning, "ClusterIPNotValid", "ClusterIPValidation", "Cluster IP %s is not a valid IP; please recreate Service", clusterIP)
			continue
		}
		family := familyOfAddr(addr)
		if len(servicecidr.ContainsAddress(r.cidrs, addr)) == 0 {
			r.event(svc, corev1.EventTypeWarning, "ClusterIPOutOfRange", "ClusterIPAllocation", "Cluster IP [%v]: %s is not within any configured Service CIDR; please recreate service", family, addr)
			klog.ErrorS(nil, "ClusterIP is not within any Service CIDR; please recreate the Service", "service", klog.KObj(svc), "ip", addr)
			continue
		}
		name := addr.String()
		ip, err := r.ips.Get(name)
		if apierrors.IsNotFound(err) {
			// The cache may not have seen an IPAddress the allocator has
			// just created; ask the API before repairing.
			if live, getErr := r.client.IPAddresses().Get(ctx, name, metav1.GetOptions{}); getErr == nil {
				ip, err = live, nil
			}
		}
		if apierrors.IsNotFound(err) {
			r.event(svc, corev1.EventTypeWarning, "ClusterIPNotAllocated", "ClusterIPAllocation", "Cluster IP [%v]: %s is not allocated; repairing", family, addr)
			klog.InfoS("ClusterIP has no IPAddress; repairing", "service", klog.KObj(svc), "ip", addr)
			if err := r.create(ctx, name, svc); err != nil {
				return err
			}
			repaired[name] = true
			continue
		}
		if err != nil {
			return fmt.Errorf("get IPAddress %s: %w", name, err)
		}
		ref := ip.Spec.ParentRef
		if ref == nil || ref.Group != "" || ref.Resource != "services" {
			r.event(svc, corev1.EventTypeWarning, "ClusterIPNotAllocated", "ClusterIPAllocation", "the ClusterIP [%v]: %s for Service %s/%s has a wrong reference; repairing", family, addr, svc.Namespace, svc.Name)
			if err := r.recreate(ctx, ip, svc); err != nil {
				return err
			}
			repaired[name] = true
			continue
		}
		if ref.Namespace != svc.Namespace || ref.Name != svc.Name {
			owner, err := r.services.Services(ref.Namespace).Get(ref.Name)
			if err == nil && slices.Contains(owner.Spec.ClusterIPs, name) {
				// Both Services hold the IP; only a user can sort that out.
				r.event(svc, corev1.EventTypeWarning, "ClusterIPAlreadyAllocated", "ClusterIPAllocation", "Cluster IP [%v]:%s was assigned to multiple services; please recreate service", family, addr)
				klog.ErrorS(nil, "ClusterIP is used by several Services; please recreate the Service", "service", klog.KObj(svc), "other", klog.KObj(owner), "ip", addr)
				continue
			}
			// The IPAddress names a Service that is gone or does not hold
			// the IP any more: it is svc's.
			r.event(svc, corev1.EventTypeWarning, "ClusterIPNotAllocated", "ClusterIPAllocation", "the ClusterIP [%v]: %s for Service %s/%s has a wrong reference; repairing", family, addr, svc.Namespace, svc.Name)
			if err := r.recreate(ctx, ip, svc); err != nil {
				return err
			}
			repaired[name] = true
			continue
		}
		if !hasAllocatorLabels(ip) {
			if err := r.recreate(ctx, ip, svc); err != nil {
				return err
			}
			repaired[name] = true
		}
	}
	return nil
}

// syncIPAddress deletes an allocator's IPAddress that no Service holds.
func (r *Repair) syncIPAddress(ctx context.Context, ip *networkingv1.IPAddress) error {
	ref := ip.Spec.ParentRef
	if ref == nil || ref.Group != "" || ref.Resource != "services" {
		r.event(ip, corev1.EventTypeWarning, "IPAddressNotAllocated", "IPAddressAllocation", "IPAddress %s appears to have been modified, not referencing a Service %v: cleaning up", ip.Name, ref)
		return r.delete(ctx, ip)
	}
	age := r.clock.Since(ip.CreationTimestamp.Time)
	svc, err := r.services.Services(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		if age < orphanGracePeriod {
			return nil // may belong to a Service being created; next pass
		}
		r.event(ip, corev1.EventTypeWarning, "IPAddressNotAllocated", "IPAddressAllocation", "IPAddress: %s for Service %s/%s appears to have leaked: cleaning up", ip.Name, ref.Namespace, ref.Name)
		klog.InfoS("IPAddress leaked; releasing it", "ip", ip.Name, "service", klog.KRef(ref.Namespace, ref.Name))
		return r.delete(ctx, ip)
	}
	if err != nil {
		return fmt.Errorf("get Service %s/%s of IPAddress %s: %w", ref.Namespace, ref.Name, ip.Name, err)
	}
	if slices.Contains(svc.Spec.ClusterIPs, ip.Name) {
		return nil
	}
	// An update from ExternalName allocates before the Service is stored.
	if svc.Spec.Type == corev1.ServiceTypeExternalName && age < orphanGracePeriod {
		return nil
	}
	// A failed create of a Service with the same name leaves an IPAddress
	// newer than the Service until the create is reverted.
	if ip.CreationTimestamp.After(svc.CreationTimestamp.Time) && age < newAddressGracePeriod {
		return nil
	}
	r.event(ip, corev1.EventTypeWarning, "IPAddressWrongReference", "IPAddressAllocation", "IPAddress: %s for Service %s/%s has a wrong reference; cleaning up", ip.Name, svc.Namespace, svc.Name)
	klog.InfoS("IPAddress names a Service that does not hold it; releasing it", "ip", ip.Name, "service", klog.KObj(svc))
	return r.delete(ctx, ip)
}

func (r *Repair) create(ctx context.Context, name string, svc *corev1.Service) error {
	_, err := r.client.IPAddresses().Create(ctx, NewIPAddress(name, svc), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create IPAddress %s for Service %s/%s: %w", name, svc.Namespace, svc.Name, err)
	}
	return nil
}

func (r *Repair) recreate(ctx context.Context, ip *networkingv1.IPAddress, svc *corev1.Service) error {
	if err := r.delete(ctx, ip); err != nil {
		return err
	}
	return r.create(ctx, ip.Name, svc)
}

// delete deletes ip as the cache saw it: if it was replaced meanwhile (say
// released and allocated again), the UID precondition keeps the new one.
func (r *Repair) delete(ctx context.Context, ip *networkingv1.IPAddress) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ip.UID}}
	err := r.client.IPAddresses().Delete(ctx, ip.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete IPAddress %s: %w", ip.Name, err)
	}
	return nil
}

func (r *Repair) event(regarding runtime.Object, eventType, reason, action, note string, args ...interface{}) {
	if r.recorder != nil {
		r.recorder.Eventf(regarding, nil, eventType, reason, action, note, args...)
	}
}

// hasAllocatorLabels reports whether ip carries the allocator's labels with
// the right family.
func hasAllocatorLabels(ip *networkingv1.IPAddress) bool {
	if ip.Labels[networkingv1.LabelManagedBy] != ControllerName {
		return false
	}
	addr, err := netip.ParseAddr(ip.Name)
	if err != nil {
		return false
	}
	return ip.Labels[networkingv1.LabelIPAddressFamily] == string(familyOfAddr(addr))
}
