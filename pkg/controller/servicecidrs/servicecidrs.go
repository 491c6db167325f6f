// Package servicecidrs is upstream's service-cidr controller: every
// ServiceCIDR gets the networking.k8s.io/service-cidr-finalizer and a Ready
// condition; a ServiceCIDR being deleted keeps its finalizer (and turns
// Ready=False, reason Terminating) while Service IPs allocated from it are
// covered by no other ServiceCIDR, so deleting a range never orphans the
// ClusterIPs in it. The API server's allocator takes no new IPs from a
// ServiceCIDR being deleted.
package servicecidrs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1apply "k8s.io/client-go/applyconfigurations/networking/v1"
	networkinginformers "k8s.io/client-go/informers/networking/v1"
	"k8s.io/client-go/kubernetes"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

const (
	// Finalizer protects a ServiceCIDR whose IPs are still in use.
	Finalizer = "networking.k8s.io/service-cidr-finalizer"
	// controllerName is the field manager and event source, as upstream.
	controllerName = "service-cidr-controller"
	// ipAllocatorName is the managed-by label value of the IPAddresses the
	// API server allocates for Services.
	ipAllocatorName = "ipallocator.k8s.io"
	// deletionGracePeriod gives API servers whose informers have not yet
	// seen the deletion time to stop allocating from the range before the
	// object goes (upstream waits as long).
	deletionGracePeriod = 10 * time.Second

	readyMessage       = "Kubernetes Service CIDR is ready"
	terminatingMessage = "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR"
)

// Controller is the service-cidr controller; its queue holds ServiceCIDR
// names.
type Controller struct {
	client      kubernetes.Interface
	cidrLister  networkinglisters.ServiceCIDRLister
	ipLister    networkinglisters.IPAddressLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
	startEvents func(context.Context)
	// now is the clock of the deletion grace period (tests replace it).
	now func() time.Time
}

// NewController returns the service-cidr controller.
func NewController(client kubernetes.Interface, cidrs networkinginformers.ServiceCIDRInformer, ips networkinginformers.IPAddressInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, controllerName)
	c := &Controller{
		client:      client,
		cidrLister:  cidrs.Lister(),
		ipLister:    ips.Lister(),
		queue:       controller.NewQueue("servicecidrs"),
		recorder:    recorder,
		startEvents: startEvents,
		now:         time.Now,
	}
	// The registrations' HasSynced also wait for the initial adds to be
	// handed to the handlers.
	cidrReg, err := cidrs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			sc, ok := obj.(*networkingv1.ServiceCIDR)
			if !ok {
				return
			}
			c.queue.Add(sc.Name)
			// A new range may be the parent that lets a terminating one go.
			for _, name := range c.overlapping(sc) {
				c.queue.Add(name)
			}
		},
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: func(obj interface{}) {
			sc, ok := controller.ObjectFromTombstone(obj).(*networkingv1.ServiceCIDR)
			if !ok {
				return
			}
			// Its IPs may now block, or no longer block, an overlapping one.
			for _, name := range c.overlapping(sc) {
				c.queue.Add(name)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch service CIDRs: %w", err)
	}
	onIP := func(obj interface{}) {
		ip, ok := controller.ObjectFromTombstone(obj).(*networkingv1.IPAddress)
		if !ok {
			return
		}
		for _, name := range c.containing(ip) {
			c.queue.Add(name)
		}
	}
	ipReg, err := ips.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onIP, DeleteFunc: onIP})
	if err != nil {
		return nil, fmt.Errorf("watch IP addresses: %w", err)
	}
	c.synced = []cache.InformerSynced{cidrReg.HasSynced, ipReg.HasSynced}
	return c, nil
}

func (c *Controller) enqueue(obj interface{}) {
	if sc, ok := obj.(*networkingv1.ServiceCIDR); ok {
		c.queue.Add(sc.Name)
	}
}

// Run keeps ServiceCIDRs until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, controllerName, c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	sc, err := c.cidrLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if sc.DeletionTimestamp != nil {
		return c.syncDeleting(ctx, sc)
	}
	if !slices.Contains(sc.Finalizers, Finalizer) {
		if err := c.patchFinalizers(ctx, name, map[string]interface{}{"finalizers": []string{Finalizer}}); err != nil {
			return fmt.Errorf("add finalizer to ServiceCIDR %s: %w", name, err)
		}
	}
	if err := c.setReady(ctx, sc, metav1.ConditionTrue, "", readyMessage); err != nil {
		c.recorder.Eventf(sc, corev1.EventTypeWarning, "KubernetesServiceCIDRError", "The ServiceCIDR Status can not be set to Ready=True")
		return fmt.Errorf("set ServiceCIDR %s ready: %w", name, err)
	}
	return nil
}

// syncDeleting lets a ServiceCIDR go once none of the Service IPs in it
// would be left outside every other ServiceCIDR, and the grace period has
// passed.
func (c *Controller) syncDeleting(ctx context.Context, sc *networkingv1.ServiceCIDR) error {
	if !slices.Contains(sc.Finalizers, Finalizer) {
		return nil
	}
	blocked, err := c.blockedByIPs(sc)
	if err != nil {
		return err
	}
	if blocked {
		return c.setReady(ctx, sc, metav1.ConditionFalse, networkingv1.ServiceCIDRReasonTerminating, terminatingMessage)
	}
	if wait := deletionGracePeriod - c.now().Sub(sc.DeletionTimestamp.Time); wait > 0 {
		c.queue.AddAfter(sc.Name, wait)
		return nil
	}
	if err := c.patchFinalizers(ctx, sc.Name, map[string]interface{}{"$deleteFromPrimitiveList/finalizers": []string{Finalizer}}); err != nil {
		return fmt.Errorf("remove finalizer from ServiceCIDR %s: %w", sc.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("Released deleted ServiceCIDR", "serviceCIDR", sc.Name)
	return nil
}

// blockedByIPs reports whether a Service IP lies in sc and in no other
// ServiceCIDR. A ServiceCIDR whose every prefix another one contains blocks
// nothing.
func (c *Controller) blockedByIPs(sc *networkingv1.ServiceCIDR) (bool, error) {
	all, err := c.cidrLister.List(labels.Everything())
	if err != nil {
		return false, err
	}
	others := make([]netip.Prefix, 0, len(all))
	for _, o := range all {
		if o.Name == sc.Name {
			continue
		}
		for _, s := range o.Spec.CIDRs {
			if p, err := netip.ParsePrefix(s); err == nil {
				others = append(others, p.Masked())
			}
		}
	}
	for _, s := range sc.Spec.CIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		p = p.Masked()
		if slices.ContainsFunc(others, func(o netip.Prefix) bool { return o.Bits() <= p.Bits() && o.Contains(p.Addr()) }) {
			continue // a parent range keeps every IP of this prefix
		}
		family := corev1.IPv4Protocol
		if p.Addr().Is6() {
			family = corev1.IPv6Protocol
		}
		ips, err := c.ipLister.List(labels.SelectorFromSet(labels.Set{
			networkingv1.LabelIPAddressFamily: string(family),
			networkingv1.LabelManagedBy:       ipAllocatorName,
		}))
		if err != nil {
			return false, err
		}
		for _, ip := range ips {
			addr, err := netip.ParseAddr(ip.Name)
			if err != nil || !p.Contains(addr) {
				continue
			}
			if !slices.ContainsFunc(others, func(o netip.Prefix) bool { return o.Contains(addr) }) {
				return true, nil
			}
		}
	}
	return false, nil
}

// setReady applies the Ready condition unless it already says the same.
func (c *Controller) setReady(ctx context.Context, sc *networkingv1.ServiceCIDR, status metav1.ConditionStatus, reason, message string) error {
	if cur := apimeta.FindStatusCondition(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady); cur != nil &&
		cur.Status == status && cur.Reason == reason && cur.Message == message {
		return nil
	}
	cond := metav1apply.Condition().
		WithType(networkingv1.ServiceCIDRConditionReady).
		WithStatus(status).
		WithMessage(message).
		WithLastTransitionTime(metav1.NewTime(c.now()))
	if reason != "" {
		cond = cond.WithReason(reason)
	}
	_, err := c.client.NetworkingV1().ServiceCIDRs().ApplyStatus(ctx,
		networkingv1apply.ServiceCIDR(sc.Name).WithStatus(networkingv1apply.ServiceCIDRStatus().WithConditions(cond)),
		metav1.ApplyOptions{FieldManager: controllerName, Force: true})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// patchFinalizers sends a strategic merge patch of metadata (the
// finalizers list merges, so other finalizers stay).
func (c *Controller) patchFinalizers(ctx context.Context, name string, metadata map[string]interface{}) error {
	patch, err := json.Marshal(map[string]interface{}{"metadata": metadata})
	if err != nil {
		return err
	}
	_, err = c.client.NetworkingV1().ServiceCIDRs().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// overlapping names the other ServiceCIDRs sharing addresses with sc.
func (c *Controller) overlapping(sc *networkingv1.ServiceCIDR) []string {
	var mine []netip.Prefix
	for _, s := range sc.Spec.CIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			mine = append(mine, p.Masked())
		}
	}
	return c.matching(func(p netip.Prefix) bool {
		return slices.ContainsFunc(mine, p.Overlaps)
	}, sc.Name)
}

// containing names the ServiceCIDRs holding a Service IP address.
func (c *Controller) containing(ip *networkingv1.IPAddress) []string {
	if ip.Labels[networkingv1.LabelManagedBy] != ipAllocatorName {
		return nil
	}
	addr, err := netip.ParseAddr(ip.Name)
	if err != nil {
		return nil
	}
	return c.matching(func(p netip.Prefix) bool { return p.Contains(addr) }, "")
}

// matching names the ServiceCIDRs, except skip, with a prefix match accepts.
func (c *Controller) matching(match func(netip.Prefix) bool, skip string) []string {
	all, err := c.cidrLister.List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []string
	for _, sc := range all {
		if sc.Name == skip {
			continue
		}
		for _, s := range sc.Spec.CIDRs {
			if p, err := netip.ParsePrefix(s); err == nil && match(p.Masked()) {
				out = append(out, sc.Name)
				break
			}
		}
	}
	return out
}
