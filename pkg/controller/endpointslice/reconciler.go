package endpointslice

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	utilnet "k8s.io/utils/net"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller/internal/endpoints"
)

// reconciler turns a Service's pods and its current slices into creates,
// updates and deletes of slices.
type reconciler struct {
	client       kubernetes.Interface
	nodeLister   corelisters.NodeLister
	maxEndpoints int
	tracker      *endpoints.SliceTracker
}

// sliceChanges is what one reconcile writes.
type sliceChanges struct {
	create, update, remove []*discoveryv1.EndpointSlice
}

func (r *reconciler) reconcile(ctx context.Context, logger klog.Logger, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, triggerTime time.Time) error {
	var errs []error
	families := addressTypes(svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	var wrongType []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if !families.Has(s.AddressType) {
			wrongType = append(wrongType, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	for _, t := range sets.List(families) {
		if err := r.reconcileAddressType(ctx, logger, svc, pods, byType[t], triggerTime, t); err != nil {
			errs = append(errs, err)
		}
	}
	// Slices of an address type the Service no longer has.
	for _, s := range wrongType {
		if err := r.client.DiscoveryV1().EndpointSlices(svc.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("error deleting %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err))
			continue
		}
		r.tracker.ExpectDeletion(s)
	}
	return utilerrors.NewAggregate(errs)
}

// addressTypes are the address types of a Service's slices: its IP
// families, else that of its cluster IP, else both for headless Services.
func addressTypes(svc *corev1.Service) sets.Set[discoveryv1.AddressType] {
	types := sets.New[discoveryv1.AddressType]()
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			types.Insert(discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			types.Insert(discoveryv1.AddressTypeIPv6)
		}
	}
	if types.Len() > 0 {
		return types
	}
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if utilnet.IsIPv6String(svc.Spec.ClusterIP) {
			return types.Insert(discoveryv1.AddressTypeIPv6)
		}
		return types.Insert(discoveryv1.AddressTypeIPv4)
	}
	return types.Insert(discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6)
}

// portGroup is the desired endpoints sharing one port set.
type portGroup struct {
	ports     []discoveryv1.EndpointPort
	endpoints endpoints.EndpointSet
}

func (r *reconciler) reconcileAddressType(ctx context.Context, logger klog.Logger, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, triggerTime time.Time, addressType discoveryv1.AddressType) error {
	var errs []error
	var changes sliceChanges

	existingByPorts := map[endpoints.PortMapKey][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if ownedBy(s, svc) {
			key := endpoints.NewPortMapKey(s.Ports)
			existingByPorts[key] = append(existingByPorts[key], s)
		} else {
			// A slice of an earlier Service of the same name.
			changes.remove = append(changes.remove, s)
		}
	}

	desired := map[endpoints.PortMapKey]*portGroup{}
	for _, pod := range pods {
		if !endpoints.IncludePod(pod, true) {
			continue
		}
		ports := endpointPorts(logger, svc, pod)
		key := endpoints.NewPortMapKey(ports)
		group := desired[key]
		if group == nil {
			group = &portGroup{ports: ports, endpoints: endpoints.EndpointSet{}}
			desired[key] = group
		}
		node, err := r.nodeLister.Get(pod.Spec.NodeName)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return err
			}
			// Retry later, but publish the others now; a Service that
			// publishes not-ready addresses wants the pod regardless.
			if !svc.Spec.PublishNotReadyAddresses {
				logger.Info("skipping Pod for Service, Node not found", "pod", klog.KObj(pod), "service", klog.KObj(svc), "node", klog.KRef("", pod.Spec.NodeName))
				errs = append(errs, fmt.Errorf("skipping Pod %s for Service %s/%s: Node %s Not Found", pod.Name, svc.Namespace, svc.Name, pod.Spec.NodeName))
				continue
			}
			node = nil
		}
		ep := podEndpoint(pod, node, svc, addressType)
		if len(ep.Addresses) > 0 {
			group.endpoints.Insert(&ep)
		}
	}

	for key, group := range desired {
		c := r.reconcilePortGroup(logger, svc, existingByPorts[key], group, addressType)
		changes.create = append(changes.create, c.create...)
		changes.update = append(changes.update, c.update...)
		changes.remove = append(changes.remove, c.remove...)
	}
	// Port sets no pod has any more.
	for key, slices := range existingByPorts {
		if _, ok := desired[key]; !ok {
			changes.remove = append(changes.remove, slices...)
		}
	}

	// A Service without endpoints still gets one (empty) slice.
	if len(existing) == len(changes.remove) && len(changes.create) == 0 {
		placeholder := newSlice(logger, svc, nil, addressType)
		if len(changes.remove) == 1 && isPlaceholder(changes.remove[0], placeholder) {
			changes.remove = nil // keep it rather than delete and recreate it
		} else {
			changes.create = append(changes.create, placeholder)
		}
	}

	unchanged := unchangedSlices(existing, changes.update, changes.remove)
	changes.update = reconcileHints(svc.Spec.TrafficDistribution, changes.create, changes.update, unchanged)

	if err := r.finalize(ctx, svc, changes, triggerTime); err != nil {
		errs = append(errs, err)
	}
	return utilerrors.NewAggregate(errs)
}

// reconcilePortGroup places a port set's desired endpoints into its
// existing slices with as few writes as possible:
//  1. keep the endpoints still desired in each slice (updated if they
//     changed), dropping the rest; a slice left empty is deleted;
//  2. fill the slices that change anyway, fullest first;
//  3. put what is left into the unchanged slice that fits it most
//     tightly, or new slices.
func (r *reconciler) reconcilePortGroup(logger klog.Logger, svc *corev1.Service, existing []*discoveryv1.EndpointSlice, group *portGroup, addressType discoveryv1.AddressType) sliceChanges {
	byName := map[string]*discoveryv1.EndpointSlice{}
	unchanged, toUpdate, toDelete := sets.New[string](), sets.New[string](), sets.New[string]()
	want := group.endpoints

	for _, s := range existing {
		byName[s.Name] = s
		var kept []discoveryv1.Endpoint
		changed := false
		for i := range s.Endpoints {
			got := want.Get(&s.Endpoints[i])
			if got == nil {
				continue
			}
			kept = append(kept, *got)
			if !endpoints.EqualBeyondIdentity(got, &s.Endpoints[i]) {
				changed = true
			}
			want.Delete(&s.Endpoints[i])
		}
		labels, labelsChanged := sliceLabels(logger, s, svc)
		switch {
		case changed || len(kept) != len(s.Endpoints):
			if len(kept) == 0 {
				toDelete.Insert(s.Name)
				continue
			}
			c := s.DeepCopy()
			c.Endpoints, c.Labels = kept, labels
			byName[s.Name] = c
			toUpdate.Insert(s.Name)
		case labelsChanged:
			c := s.DeepCopy()
			c.Labels = labels
			byName[s.Name] = c
			toUpdate.Insert(s.Name)
		default:
			unchanged.Insert(s.Name)
		}
	}

	if want.Len() > 0 && toUpdate.Len() > 0 {
		var updating []*discoveryv1.EndpointSlice
		for name := range toUpdate {
			updating = append(updating, byName[name])
		}
		sort.SliceStable(updating, func(i, j int) bool { return len(updating[i].Endpoints) > len(updating[j].Endpoints) })
		for _, s := range updating {
			for want.Len() > 0 && len(s.Endpoints) < r.maxEndpoints {
				s.Endpoints = append(s.Endpoints, *want.PopAny())
			}
		}
	}

	var toCreate []*discoveryv1.EndpointSlice
	for want.Len() > 0 {
		var fill *discoveryv1.EndpointSlice
		if want.Len() < r.maxEndpoints && unchanged.Len() > 0 {
			var candidates []*discoveryv1.EndpointSlice
			for name := range unchanged {
				candidates = append(candidates, byName[name])
			}
			fill = tightestFit(candidates, want.Len(), r.maxEndpoints)
		}
		if fill == nil {
			fill = newSlice(logger, svc, group.ports, addressType)
		} else {
			fill = fill.DeepCopy()
			byName[fill.Name] = fill
		}
		for want.Len() > 0 && len(fill.Endpoints) < r.maxEndpoints {
			fill.Endpoints = append(fill.Endpoints, *want.PopAny())
		}
		if fill.Name != "" {
			toUpdate.Insert(fill.Name)
			unchanged.Delete(fill.Name)
		} else {
			toCreate = append(toCreate, fill)
		}
	}

	var changes sliceChanges
	changes.create = toCreate
	for _, name := range sets.List(toUpdate) {
		changes.update = append(changes.update, byName[name])
	}
	for _, name := range sets.List(toDelete) {
		changes.remove = append(changes.remove, byName[name])
	}
	return changes
}

// tightestFit is the slice that n more endpoints fill closest to max
// without overflowing it, or nil.
func tightestFit(slices []*discoveryv1.EndpointSlice, n, max int) *discoveryv1.EndpointSlice {
	best, bestRoom := (*discoveryv1.EndpointSlice)(nil), max
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	for _, s := range slices {
		room := max - (n + len(s.Endpoints))
		if room >= 0 && room < bestRoom {
			best, bestRoom = s, room
			if room == 0 {
				break
			}
		}
	}
	return best
}

// finalize writes the changes. Creates are first turned into updates of
// slices that would be deleted (same address type, owned by this
// Service), and no slice is created for a Service being deleted, which
// would race with the garbage collector.
func (r *reconciler) finalize(ctx context.Context, svc *corev1.Service, changes sliceChanges, triggerTime time.Time) error {
	for i := 0; i < len(changes.remove) && len(changes.create) > 0; {
		old := changes.remove[i]
		s := changes.create[len(changes.create)-1]
		if old.AddressType == s.AddressType && ownedBy(old, svc) {
			s.Name = old.Name
			s.GenerateName = ""
			s.ResourceVersion = old.ResourceVersion
			changes.create = changes.create[:len(changes.create)-1]
			changes.update = append(changes.update, s)
			changes.remove = append(changes.remove[:i], changes.remove[i+1:]...)
		} else {
			i++
		}
	}
	client := r.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	if svc.DeletionTimestamp == nil {
		for _, s := range changes.create {
			setTriggerTime(s, triggerTime)
			created, err := client.Create(ctx, s, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("failed to create EndpointSlice for Service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
			r.tracker.Update(created)
		}
	}
	for _, s := range changes.update {
		setTriggerTime(s, triggerTime)
		updated, err := client.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("failed to update %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
		}
		r.tracker.Update(updated)
	}
	for _, s := range changes.remove {
		if err := client.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
		}
		r.tracker.ExpectDeletion(s)
	}
	return nil
}

func setTriggerTime(s *discoveryv1.EndpointSlice, at time.Time) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if at.IsZero() {
		delete(s.Annotations, corev1.EndpointsLastChangeTriggerTime)
		return
	}
	s.Annotations[corev1.EndpointsLastChangeTriggerTime] = at.UTC().Format(time.RFC3339Nano)
}

// podEndpoint is a pod's endpoint: ready when serving and not terminating
// (or always, if the Service publishes not-ready addresses).
func podEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, addressType discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := podutil.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses: podAddresses(pod, addressType),
		Conditions: discoveryv1.EndpointConditions{
			Ready:       ptr.To(ready),
			Serving:     ptr.To(serving),
			Terminating: ptr.To(terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		ep.NodeName = ptr.To(pod.Spec.NodeName)
	}
	if node != nil && node.Labels[corev1.LabelTopologyZone] != "" {
		ep.Zone = ptr.To(node.Labels[corev1.LabelTopologyZone])
	}
	if endpoints.SetsHostname(pod, svc) {
		ep.Hostname = ptr.To(pod.Spec.Hostname)
	}
	return ep
}

func podAddresses(pod *corev1.Pod, addressType discoveryv1.AddressType) []string {
	addrs := []string{}
	for _, podIP := range pod.Status.PodIPs {
		ip := utilnet.ParseIPSloppy(podIP.IP)
		if ip == nil {
			continue
		}
		if utilnet.IsIPv6(ip) == (addressType == discoveryv1.AddressTypeIPv6) {
			addrs = append(addrs, ip.String())
		}
	}
	return addrs
}

// endpointPorts are the Service's ports resolved on pod; ports a pod
// cannot resolve (a named port it lacks) are left out.
func endpointPorts(logger klog.Logger, svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		n, err := endpoints.FindPort(pod, sp)
		if err != nil {
			logger.V(4).Info("Failed to find port for service", "service", klog.KObj(svc), "err", err)
			continue
		}
		ports = append(ports, discoveryv1.EndpointPort{
			Name:        ptr.To(sp.Name),
			Port:        ptr.To(int32(n)),
			Protocol:    ptr.To(sp.Protocol),
			AppProtocol: sp.AppProtocol,
		})
	}
	return ports
}

func newSlice(logger klog.Logger, svc *corev1.Service, ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) *discoveryv1.EndpointSlice {
	if ports == nil {
		ports = []discoveryv1.EndpointPort{}
	}
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    endpoints.SlicePrefix(svc.Name),
			Namespace:       svc.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, schema.GroupVersionKind{Version: "v1", Kind: "Service"})},
		},
		Ports:       ports,
		AddressType: addressType,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	s.Labels, _ = sliceLabels(logger, s, svc)
	return s
}

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

func isReservedLabel(key string) bool {
	return key == discoveryv1.LabelServiceName || key == discoveryv1.LabelManagedBy || key == corev1.IsHeadlessService
}

// sliceLabels returns the labels a slice of svc should have (the Service's
// labels but the reserved ones, which the controller sets) and whether the
// Service's own labels differ from the slice's.
func sliceLabels(logger klog.Logger, s *discoveryv1.EndpointSlice, svc *corev1.Service) (map[string]string, bool) {
	current, want := map[string]string{}, map[string]string{}
	for k, v := range s.Labels {
		if !isReservedLabel(k) {
			current[k] = v
		}
	}
	for k, v := range svc.Labels {
		if isReservedLabel(k) {
			logger.Info("Service using reserved endpoint slices label", "service", klog.KObj(svc), "skipping", k, "label", v)
			continue
		}
		want[k] = v
	}
	changed := !maps.Equal(current, want)
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		want[corev1.IsHeadlessService] = ""
	}
	want[discoveryv1.LabelServiceName] = svc.Name
	want[discoveryv1.LabelManagedBy] = ControllerName
	return want, changed
}

// isPlaceholder reports whether an existing slice is the empty placeholder
// the Service would get anyway.
func isPlaceholder(s, placeholder *discoveryv1.EndpointSlice) bool {
	if s.Namespace != placeholder.Namespace || !maps.Equal(s.Labels, placeholder.Labels) ||
		s.AddressType != placeholder.AddressType || len(s.Endpoints) != 0 || len(s.Ports) != 0 {
		return false
	}
	if len(s.OwnerReferences) != len(placeholder.OwnerReferences) {
		return false
	}
	for i := range s.OwnerReferences {
		if s.OwnerReferences[i].String() != placeholder.OwnerReferences[i].String() {
			return false
		}
	}
	return true
}

func unchangedSlices(existing, updated, removed []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	changed := sets.New[string]()
	for _, s := range updated {
		changed.Insert(s.Name)
	}
	for _, s := range removed {
		changed.Insert(s.Name)
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if !changed.Has(s.Name) {
			out = append(out, s)
		}
	}
	return out
}
