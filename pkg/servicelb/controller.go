// Package servicelb gives Services of type LoadBalancer the addresses of
// the cluster's nodes, as k3s's service load balancer does: the proxy
// already serves a Service's load-balancer IPs (status.loadBalancer.ingress)
// on every node, so on a single machine, or a few, the nodes themselves
// are the load balancer and no extra pods are needed.
package servicelb

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// ControllerName is the component name in events.
const ControllerName = "skiff-servicelb"

// Controller keeps status.loadBalancer of LoadBalancer Services.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	events   record.EventBroadcaster
}

// NewController registers its informers on the factory; start the factory
// after it.
func NewController(client kubernetes.Interface, factory informers.SharedInformerFactory) (*Controller, error) {
	svcInformer := factory.Core().V1().Services()
	nodeInformer := factory.Core().V1().Nodes()
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:   client,
		services: svcInformer.Lister(),
		nodes:    nodeInformer.Lister(),
		synced:   []cache.InformerSynced{svcInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"}),
		recorder: broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: ControllerName}),
		events:   broadcaster,
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		// A deleted service may free a port another one waits for.
		DeleteFunc: func(any) { c.enqueueAll() },
	}); err != nil {
		return nil, err
	}
	// Node addresses and readiness change every LoadBalancer's addresses.
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*v1.Node), cur.(*v1.Node)
			if !reflect.DeepEqual(nodeAddresses(o), nodeAddresses(n)) || nodeReady(o) != nodeReady(n) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) enqueueAll() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Type == v1.ServiceTypeLoadBalancer || len(s.Status.LoadBalancer.Ingress) > 0 {
			c.queue.Add(s.Namespace + "/" + s.Name)
		}
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	klog.InfoS("Service load balancer started")
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for c.next(ctx) {
	}
}

func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		utilruntime.HandleError(fmt.Errorf("sync load balancer of %s: %w", key, err))
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// handled reports whether this controller serves the Service: type
// LoadBalancer without a loadBalancerClass (another implementation's).
func handled(svc *v1.Service) bool {
	return svc.Spec.Type == v1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []v1.LoadBalancerIngress
	switch {
	case handled(svc):
		if conflict := c.portConflict(svc); conflict != nil {
			c.recorder.Eventf(svc, v1.EventTypeWarning, "PortConflict",
				"Port %d/%s is used by load balancer %s/%s on the node addresses; this service stays pending until it is free",
				conflict.port, conflict.protocol, conflict.owner.Namespace, conflict.owner.Name)
		} else {
			want = c.ingressFor(svc)
		}
	case svc.Spec.Type == v1.ServiceTypeLoadBalancer:
		return nil // another load balancer's (loadBalancerClass)
	case len(svc.Status.LoadBalancer.Ingress) == 0:
		return nil
	}
	// (A Service that is no longer a LoadBalancer has want == nil: what
	// was set is cleared.)
	if reflect.DeepEqual(svc.Status.LoadBalancer.Ingress, want) || (len(want) == 0 && len(svc.Status.LoadBalancer.Ingress) == 0) {
		return nil
	}
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer.Ingress = want
	if _, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if len(want) > 0 {
		c.recorder.Eventf(svc, v1.EventTypeNormal, "EnsuredLoadBalancer", "Load balancer on node addresses %s", ingressIPs(want))
	}
	klog.V(2).InfoS("Updated load balancer status", "service", klog.KObj(svc), "ingress", ingressIPs(want))
	return nil
}

type conflict struct {
	port     int32
	protocol v1.Protocol
	owner    *v1.Service
}

// portConflict finds an older LoadBalancer Service that already uses one
// of svc's ports on the node addresses: two services cannot share an
// address and port. The older one (then the one first by name) keeps it.
func (c *Controller) portConflict(svc *v1.Service) *conflict {
	all, err := c.services.List(labels.Everything())
	if err != nil {
		return nil
	}
	for _, other := range all {
		if other.UID == svc.UID || !handled(other) || !before(other, svc) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			for _, q := range other.Spec.Ports {
				if p.Port == q.Port && protocolOf(p) == protocolOf(q) {
					return &conflict{port: p.Port, protocol: protocolOf(p), owner: other}
				}
			}
		}
	}
	return nil
}

func protocolOf(p v1.ServicePort) v1.Protocol {
	if p.Protocol == "" {
		return v1.ProtocolTCP
	}
	return p.Protocol
}

func before(a, b *v1.Service) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// ingressFor is the addresses of the ready nodes (ExternalIPs where a node
// has them, else InternalIPs) of the service's IP families.
func (c *Controller) ingressFor(svc *v1.Service) []v1.LoadBalancerIngress {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil
	}
	families := map[v1.IPFamily]bool{}
	for _, f := range svc.Spec.IPFamilies {
		families[f] = true
	}
	if len(families) == 0 {
		families[v1.IPv4Protocol] = true
	}
	seen := map[string]bool{}
	var ips []string
	for _, n := range nodes {
		if !nodeReady(n) || n.Spec.Unschedulable {
			continue
		}
		for _, ip := range nodeAddresses(n) {
			parsed := net.ParseIP(ip)
			if parsed == nil || !families[familyOf(parsed)] || seen[ip] {
				continue
			}
			seen[ip] = true
			ips = append(ips, ip)
		}
	}
	sort.Strings(ips)
	var out []v1.LoadBalancerIngress
	for _, ip := range ips {
		out = append(out, v1.LoadBalancerIngress{IP: ip, IPMode: ptr.To(v1.LoadBalancerIPModeVIP)})
	}
	return out
}

// nodeAddresses are a node's ExternalIPs, or its InternalIPs when it has
// none.
func nodeAddresses(n *v1.Node) []string {
	var external, internal []string
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case v1.NodeExternalIP:
			external = append(external, a.Address)
		case v1.NodeInternalIP:
			internal = append(internal, a.Address)
		}
	}
	if len(external) > 0 {
		return external
	}
	return internal
}

func nodeReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func familyOf(ip net.IP) v1.IPFamily {
	if ip.To4() != nil {
		return v1.IPv4Protocol
	}
	return v1.IPv6Protocol
}

func ingressIPs(ing []v1.LoadBalancerIngress) []string {
	out := make([]string, 0, len(ing))
	for _, i := range ing {
		out = append(out, i.IP)
	}
	return out
}
