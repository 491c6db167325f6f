// Package endpoints keeps the Endpoints object of every Service with a
// selector: one address per selected pod that has an IP (ready ones in
// addresses, the others in notReadyAddresses unless the Service publishes
// not-ready addresses), ports resolved per pod (named target ports),
// hostnames for pods whose subdomain is the Service, at most 1000
// addresses with the over-capacity annotation beyond, and the Service's
// labels plus endpoints.kubernetes.io/managed-by. Endpoints of deleted
// Services are deleted; Services without a selector are left alone (their
// Endpoints are the user's, such as default/kubernetes).
package endpoints

import (
	"context"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	endpointsutil "k8s.io/kubernetes/pkg/api/v1/endpoints"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	utilnet "k8s.io/utils/net"

	"github.com/skiff-project/skiff/pkg/controller"
	"github.com/skiff-project/skiff/pkg/controller/internal/endpoints"
)

const (
	// ControllerName is the value of the managed-by label and the events'
	// source.
	ControllerName = "endpoint-controller"
	// LabelManagedBy marks Endpoints this controller maintains.
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	// MaxCapacity is the most addresses an Endpoints object holds.
	MaxCapacity = 1000
	// overCapacityValue is the EndpointsOverCapacity annotation's value.
	overCapacityValue = "truncated"
)

// Controller is the endpoints controller; its queue holds Service keys.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)

	serviceLister   corelisters.ServiceLister
	podLister       corelisters.PodLister
	endpointsLister corelisters.EndpointsLister
	synced          []cache.InformerSynced

	queue        workqueue.TypedRateLimitingInterface[string]
	triggerTimes *endpoints.TriggerTimeTracker
	stale        *staleTracker
	// batchPeriod delays syncs after pod changes, to batch them.
	batchPeriod time.Duration
}

// NewController returns the endpoints controller.
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, serviceInformer coreinformers.ServiceInformer, endpointsInformer coreinformers.EndpointsInformer, batchPeriod time.Duration) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, ControllerName)
	c := &Controller{
		client:          client,
		recorder:        recorder,
		startEvents:     start,
		serviceLister:   serviceInformer.Lister(),
		podLister:       podInformer.Lister(),
		endpointsLister: endpointsInformer.Lister(),
		synced:          []cache.InformerSynced{podInformer.Informer().HasSynced, serviceInformer.Informer().HasSynced, endpointsInformer.Informer().HasSynced},
		queue:           controller.NewQueue("endpoint"),
		triggerTimes:    endpoints.NewTriggerTimeTracker(),
		stale:           &staleTracker{versions: map[types.NamespacedName]string{}},
		batchPeriod:     batchPeriod,
	}
	if _, err := serviceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.podChanged(nil, obj) },
		UpdateFunc: c.podChanged,
		DeleteFunc: func(obj interface{}) { c.podChanged(obj, nil) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	// A deleted Endpoints object is recreated if its Service still wants it.
	if _, err := endpointsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch endpoints: %w", err)
	}
	return c, nil
}

// Run syncs Services with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			c.queueLeftoverEndpoints(ctx)
		}
	}()
	controller.RunWorkers(ctx, "endpoint", c.queue, workers, c.syncService, c.synced...)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("get key of %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) podChanged(old, cur interface{}) {
	keys, err := endpoints.ServicesFor(c.serviceLister, endpoints.PodChangeFor(old, cur))
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for key := range keys {
		c.queue.AddAfter(key, c.batchPeriod)
	}
}

// queueLeftoverEndpoints syncs every Endpoints object once at start, so
// that those of Services deleted while the controller was down go away.
// Leader-election records are not Services' endpoints.
func (c *Controller) queueLeftoverEndpoints(ctx context.Context) {
	list, err := c.endpointsLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Unable to list endpoints; orphaned endpoints will not be cleaned up")
		return
	}
	for _, ep := range list {
		if _, ok := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		c.enqueue(ep)
	}
}

func (c *Controller) syncService(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its endpoints.
		if err := c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		c.triggerTimes.Forget(namespace, name)
		c.stale.forget(namespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.podLister.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	triggerTime := c.triggerTimes.LastChange(svc, pods)
	subsets, ready, notReady := desiredSubsets(logger, svc, pods)

	current, err := c.endpointsLister.Endpoints(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		current = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	case err != nil:
		return err
	case c.stale.isStale(current):
		return fmt.Errorf("endpoints informer cache is out of date, resource version %s already processed for endpoints %s", current.ResourceVersion, key)
	}
	create := current.ResourceVersion == ""
	if !create &&
		(subsetsEqual(current.Subsets, subsets) || subsetsEqual(endpointsutil.RepackSubsets(current.Subsets), subsets)) &&
		labelsCorrect(current.Labels, svc.Labels) &&
		capacityAnnotationCorrect(current.Annotations, current.Subsets) {
		return nil
	}

	desired := current.DeepCopy()
	desired.Subsets = subsets
	desired.Labels = maps.Clone(svc.Labels)
	if desired.Labels == nil {
		desired.Labels = map[string]string{}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		desired.Labels[corev1.IsHeadlessService] = ""
	} else {
		delete(desired.Labels, corev1.IsHeadlessService)
	}
	desired.Labels[LabelManagedBy] = ControllerName
	if desired.Annotations == nil {
		desired.Annotations = map[string]string{}
	}
	if !triggerTime.IsZero() {
		desired.Annotations[corev1.EndpointsLastChangeTriggerTime] = triggerTime.UTC().Format(time.RFC3339Nano)
	} else {
		delete(desired.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if truncate(desired) {
		desired.Annotations[corev1.EndpointsOverCapacity] = overCapacityValue
	} else {
		delete(desired.Annotations, corev1.EndpointsOverCapacity)
	}

	logger.V(4).Info("Update endpoints", "service", klog.KObj(svc), "readyEndpoints", ready, "notreadyEndpoints", notReady)
	var updated *corev1.Endpoints
	if create {
		_, err = c.client.CoreV1().Endpoints(namespace).Create(ctx, desired, metav1.CreateOptions{})
	} else {
		updated, err = c.client.CoreV1().Endpoints(namespace).Update(ctx, desired, metav1.UpdateOptions{})
	}
	if err != nil {
		if create && apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // the namespace is going away with the Service
		}
		if create {
			c.recorder.Eventf(desired, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %v/%v: %v", namespace, name, err)
		} else {
			c.recorder.Eventf(desired, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %v/%v: %v", namespace, name, err)
		}
		return err
	}
	if updated != nil && updated.ResourceVersion != current.ResourceVersion {
		c.stale.markStale(current)
	}
	return nil
}

// desiredSubsets computes the Service's subsets from its pods, repacked
// (one subset per distinct port set, addresses sorted), and counts the
// ready and not-ready addresses.
func desiredSubsets(logger klog.Logger, svc *corev1.Service, pods []*corev1.Pod) ([]corev1.EndpointSubset, int, int) {
	subsets := []corev1.EndpointSubset{}
	ready, notReady := 0, 0
	add := func(pod *corev1.Pod, addr corev1.EndpointAddress, port *corev1.EndpointPort) {
		ports := []corev1.EndpointPort{}
		if port != nil {
			ports = append(ports, *port)
		}
		if svc.Spec.PublishNotReadyAddresses || podutil.IsPodReady(pod) {
			subsets = append(subsets, corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{addr}, Ports: ports})
			ready++
		} else {
			subsets = append(subsets, corev1.EndpointSubset{NotReadyAddresses: []corev1.EndpointAddress{addr}, Ports: ports})
			notReady++
		}
	}
	for _, pod := range pods {
		if !endpoints.IncludePod(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, err := podAddress(svc, pod)
		if err != nil {
			logger.V(2).Info("Failed to find endpoint for service with ClusterIP on pod with error", "service", klog.KObj(svc), "clusterIP", svc.Spec.ClusterIP, "pod", klog.KObj(pod), "error", err)
			continue
		}
		if endpoints.SetsHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		if len(svc.Spec.Ports) == 0 {
			// Headless Services without ports still list their pods.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(pod, addr, nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := endpoints.FindPort(pod, sp)
			if err != nil {
				logger.V(4).Info("Failed to find port for service", "service", klog.KObj(svc), "error", err)
				continue
			}
			add(pod, addr, &corev1.EndpointPort{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
	}
	return endpointsutil.RepackSubsets(subsets), ready, notReady
}

// podAddress is the pod's address in the Service's primary IP family.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, error) {
	family := corev1.IPv4Protocol
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		family = svc.Spec.IPFamilies[0]
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		if utilnet.IsIPv6String(svc.Spec.ClusterIP) {
			family = corev1.IPv6Protocol
		}
	case utilnet.IsIPv6String(pod.Status.PodIP):
		family = corev1.IPv6Protocol
	}
	for _, podIP := range pod.Status.PodIPs {
		ip := utilnet.ParseIPSloppy(podIP.IP)
		if ip != nil && utilnet.IsIPv6(ip) == (family == corev1.IPv6Protocol) {
			nodeName := pod.Spec.NodeName
			return corev1.EndpointAddress{
				IP:        ip.String(),
				NodeName:  &nodeName,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			}, nil
		}
	}
	return corev1.EndpointAddress{}, fmt.Errorf("failed to find a matching endpoint for service %v", svc.Name)
}

// truncate cuts the Endpoints to MaxCapacity addresses, dropping
// not-ready ones first, proportionally across subsets; it reports whether
// anything was cut.
func truncate(ep *corev1.Endpoints) bool {
	totalReady, totalNotReady := 0, 0
	for _, s := range ep.Subsets {
		totalReady += len(s.Addresses)
		totalNotReady += len(s.NotReadyAddresses)
	}
	if totalReady+totalNotReady <= MaxCapacity {
		return false
	}
	truncateReady := totalReady > MaxCapacity
	limit, total := MaxCapacity-totalReady, totalNotReady
	if truncateReady {
		limit, total = MaxCapacity, totalReady
	}
	room := limit
	for i := range ep.Subsets {
		s := &ep.Subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		keep := int(math.Ceil(float64(n) / float64(total) * float64(limit)))
		keep = min(keep, room)
		if truncateReady {
			s.Addresses = s.Addresses[:min(keep, len(s.Addresses))]
			s.NotReadyAddresses = []corev1.EndpointAddress{}
			room -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(keep, len(s.NotReadyAddresses))]
			room -= len(s.NotReadyAddresses)
		}
	}
	return true
}

// subsetsEqual compares subsets ignoring the pods' resource versions.
func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !addressesEqual(a[i].Addresses, b[i].Addresses) || !addressesEqual(a[i].NotReadyAddresses, b[i].NotReadyAddresses) ||
			!portsEqual(a[i].Ports, b[i].Ports) {
			return false
		}
	}
	return true
}

func addressesEqual(a, b []corev1.EndpointAddress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.IP != y.IP || x.Hostname != y.Hostname || !strPtrEqual(x.NodeName, y.NodeName) {
			return false
		}
		if (x.TargetRef == nil) != (y.TargetRef == nil) {
			return false
		}
		if x.TargetRef != nil {
			rx, ry := *x.TargetRef, *y.TargetRef
			rx.ResourceVersion, ry.ResourceVersion = "", ""
			if rx != ry {
				return false
			}
		}
	}
	return true
}

func portsEqual(a, b []corev1.EndpointPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.Port != y.Port || x.Protocol != y.Protocol || !strPtrEqual(x.AppProtocol, y.AppProtocol) {
			return false
		}
	}
	return true
}

func strPtrEqual(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// labelsCorrect reports whether the Endpoints carry exactly the Service's
// labels plus the controller's own.
func labelsCorrect(epLabels, svcLabels map[string]string) bool {
	if epLabels[LabelManagedBy] != ControllerName {
		return false
	}
	skipped := 0
	for k, v := range epLabels {
		if k == corev1.IsHeadlessService || k == LabelManagedBy {
			skipped++
			continue
		}
		if sv, ok := svcLabels[k]; !ok || sv != v {
			return false
		}
	}
	return len(svcLabels) == len(epLabels)-skipped
}

// capacityAnnotationCorrect reports whether the over-capacity annotation
// is absent and need not be set.
func capacityAnnotationCorrect(annotations map[string]string, subsets []corev1.EndpointSubset) bool {
	n := 0
	for _, s := range subsets {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if n > MaxCapacity {
		return false
	}
	_, ok := annotations[corev1.EndpointsOverCapacity]
	return !ok
}

// staleTracker remembers, per Endpoints, the resource version the
// controller replaced, so that it does not act on an informer cache that
// has not caught up with its own write.
type staleTracker struct {
	mu       sync.Mutex
	versions map[types.NamespacedName]string
}

func (t *staleTracker) markStale(ep *corev1.Endpoints) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.versions[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}] = ep.ResourceVersion
}

func (t *staleTracker) isStale(ep *corev1.Endpoints) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rv, ok := t.versions[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}]
	return ok && rv == ep.ResourceVersion
}

func (t *staleTracker) forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.versions, types.NamespacedName{Namespace: namespace, Name: name})
}
