package endpointslicemirroring

import (
	"context"
	"fmt"
	"maps"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	endpointsutil "k8s.io/kubernetes/pkg/api/v1/endpoints"
	utilnet "k8s.io/utils/net"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller/internal/endpoints"
)

// Event reasons (upstream's).
const (
	reasonInvalidIPAddress         = "InvalidIPAddress"
	reasonTooManyAddressesToMirror = "TooManyAddressesToMirror"
)

type reconciler struct {
	client       kubernetes.Interface
	maxEndpoints int
	tracker      *endpoints.SliceTracker
	recorder     record.EventRecorder
}

// sliceKey groups mirrored endpoints: address type and port set.
type sliceKey string

func newSliceKey(ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) sliceKey {
	return sliceKey(string(addressType) + "-" + string(endpoints.NewPortMapKey(ports)))
}

type desiredGroup struct {
	ports       []discoveryv1.EndpointPort
	addressType discoveryv1.AddressType
	endpoints   endpoints.EndpointSet
}

type sliceChanges struct {
	create, update, remove []*discoveryv1.EndpointSlice
}

func (r *reconciler) reconcile(ctx context.Context, ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice) error {
	logger := klog.FromContext(ctx)
	desired := map[sliceKey]*desiredGroup{}
	invalid, skipped := 0, 0
	for _, subset := range endpointsutil.RepackSubsets(ep.Subsets) {
		ports := slicePorts(subset.Ports)
		keys := map[discoveryv1.AddressType]sliceKey{}
		for _, t := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
			keys[t] = newSliceKey(ports, t)
			if desired[keys[t]] == nil {
				desired[keys[t]] = &desiredGroup{ports: ports, addressType: t, endpoints: endpoints.EndpointSet{}}
			}
		}
		added := 0
		add := func(addr corev1.EndpointAddress, ready bool) {
			if added >= r.maxEndpoints {
				return
			}
			e, t, ok := addressEndpoint(addr, ready)
			if !ok {
				invalid++
				logger.Info("Address in Endpoints is not a valid IP, it will not be mirrored to an EndpointSlice", "endpoints", klog.KObj(ep), "IP", addr.IP)
				return
			}
			desired[keys[t]].endpoints.Insert(e)
			added++
		}
		for _, a := range subset.Addresses {
			add(a, true)
		}
		for _, a := range subset.NotReadyAddresses {
			add(a, false)
		}
		skipped += len(subset.Addresses) + len(subset.NotReadyAddresses) - added
	}
	if invalid > 0 {
		r.recorder.Eventf(ep, corev1.EventTypeWarning, reasonInvalidIPAddress, "Skipped %d invalid IP addresses when mirroring to EndpointSlices", invalid)
	}
	if skipped > invalid {
		logger.Info("Addresses in Endpoints were skipped due to exceeding MaxEndpointsPerSubset", "skippedAddresses", skipped, "endpoints", klog.KObj(ep))
		r.recorder.Eventf(ep, corev1.EventTypeWarning, reasonTooManyAddressesToMirror,
			"A max of %d addresses can be mirrored to EndpointSlices per Endpoints subset. %d addresses were skipped", r.maxEndpoints, skipped)
	}

	existingByKey := map[sliceKey][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := newSliceKey(s.Ports, s.AddressType)
		existingByKey[k] = append(existingByKey[k], s)
	}
	var changes sliceChanges
	keys := make([]sliceKey, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		r.reconcileGroup(ep, existingByKey[k], desired[k], &changes)
	}
	for k, slices := range existingByKey {
		if _, ok := desired[k]; !ok {
			changes.remove = append(changes.remove, slices...)
		}
	}
	return r.finalize(ctx, ep, changes)
}

// reconcileGroup keeps one slice per group (the first existing one),
// rewritten when its endpoints, labels, annotations or owner changed.
func (r *reconciler) reconcileGroup(ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice, want *desiredGroup, changes *sliceChanges) {
	if want.endpoints.Len() == 0 {
		changes.remove = append(changes.remove, existing...)
		return
	}
	name := ""
	if len(existing) > 0 {
		changes.remove = append(changes.remove, existing[1:]...)
		first := existing[0]
		if !endpointsChanged(first, want.endpoints) &&
			apiequality.Semantic.DeepEqual(ep.Labels, withoutKeys(first.Labels, discoveryv1.LabelManagedBy, discoveryv1.LabelServiceName)) &&
			apiequality.Semantic.DeepEqual(withoutKeys(ep.Annotations, corev1.EndpointsLastChangeTriggerTime, corev1.LastAppliedConfigAnnotation), first.Annotations) &&
			!ownerReplaced(ep, first) {
			if !r.tracker.Has(first) {
				r.tracker.Update(first)
			}
			return
		}
		name = first.Name
	}
	s := newSlice(ep, want.ports, want.addressType, name)
	for want.endpoints.Len() > 0 && len(s.Endpoints) < r.maxEndpoints {
		s.Endpoints = append(s.Endpoints, *want.endpoints.PopAny())
	}
	if name != "" {
		changes.update = append(changes.update, s)
	} else {
		changes.create = append(changes.create, s)
	}
}

// endpointsChanged reports whether a slice's endpoints differ from want.
func endpointsChanged(s *discoveryv1.EndpointSlice, want endpoints.EndpointSet) bool {
	matched := 0
	for i := range s.Endpoints {
		got := want.Get(&s.Endpoints[i])
		if got == nil || !endpoints.EqualBeyondIdentity(got, &s.Endpoints[i]) {
			return true
		}
		matched++
	}
	return matched != want.Len()
}

// ownerReplaced: the slice belongs to an earlier Endpoints of this name.
func ownerReplaced(ep *corev1.Endpoints, s *discoveryv1.EndpointSlice) bool {
	for _, o := range s.OwnerReferences {
		if o.Kind == "Endpoints" && o.Name == ep.Name && o.UID != ep.UID {
			return true
		}
	}
	return false
}

func (r *reconciler) finalize(ctx context.Context, ep *corev1.Endpoints, changes sliceChanges) error {
	// Reuse slices about to be deleted for the ones to create.
	recycle(&changes)
	client := r.client.DiscoveryV1().EndpointSlices(ep.Namespace)
	if ep.DeletionTimestamp == nil {
		for _, s := range changes.create {
			created, err := client.Create(ctx, s, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("failed to create EndpointSlice for Endpoints %s/%s: %w", ep.Namespace, ep.Name, err)
			}
			r.tracker.Update(created)
		}
	}
	for _, s := range changes.update {
		updated, err := client.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("failed to update %s EndpointSlice for Endpoints %s/%s: %w", s.Name, ep.Namespace, ep.Name, err)
		}
		r.tracker.Update(updated)
	}
	for _, s := range changes.remove {
		if err := client.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete %s EndpointSlice for Endpoints %s/%s: %w", s.Name, ep.Namespace, ep.Name, err)
		}
		r.tracker.ExpectDeletion(s)
	}
	return nil
}

// recycle turns pairs of (create, delete) of the same address type into
// updates of the slice that would be deleted.
func recycle(changes *sliceChanges) {
	var create, remove []*discoveryv1.EndpointSlice
	used := map[*discoveryv1.EndpointSlice]bool{}
	for _, s := range changes.create {
		reused := false
		for _, old := range changes.remove {
			if !used[old] && old.AddressType == s.AddressType {
				used[old] = true
				s.Name, s.GenerateName = old.Name, ""
				changes.update = append(changes.update, s)
				reused = true
				break
			}
		}
		if !reused {
			create = append(create, s)
		}
	}
	for _, old := range changes.remove {
		if !used[old] {
			remove = append(remove, old)
		}
	}
	changes.create, changes.remove = create, remove
}

func (r *reconciler) deleteAll(ctx context.Context, namespace, name string, slices []*discoveryv1.EndpointSlice) error {
	var errs []error
	for _, s := range slices {
		if err := r.client.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("error(s) deleting %d/%d EndpointSlices for %s/%s Endpoints, including: %w", len(errs), len(slices), namespace, name, errs[0])
	}
	return nil
}

func newSlice(ep *corev1.Endpoints, ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType, name string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ep, schema.GroupVersionKind{Version: "v1", Kind: "Endpoints"})},
			Namespace:       ep.Namespace,
		},
		Ports:       ports,
		AddressType: addressType,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	maps.Copy(s.Labels, ep.Labels)
	s.Labels[discoveryv1.LabelServiceName] = ep.Name
	s.Labels[discoveryv1.LabelManagedBy] = ControllerName
	for k, v := range ep.Annotations {
		if k != corev1.EndpointsLastChangeTriggerTime && k != corev1.LastAppliedConfigAnnotation {
			s.Annotations[k] = v
		}
	}
	if name == "" {
		s.GenerateName = endpoints.SlicePrefix(ep.Name)
	} else {
		s.Name = name
	}
	return s
}

// addressEndpoint converts an Endpoints address; false for an invalid IP.
func addressEndpoint(addr corev1.EndpointAddress, ready bool) (*discoveryv1.Endpoint, discoveryv1.AddressType, bool) {
	ip := utilnet.ParseIPSloppy(addr.IP)
	if ip == nil {
		return nil, "", false
	}
	t := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		t = discoveryv1.AddressTypeIPv6
	}
	e := &discoveryv1.Endpoint{
		Addresses:  []string{ip.String()},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
		TargetRef:  addr.TargetRef,
		NodeName:   addr.NodeName,
	}
	if addr.Hostname != "" {
		e.Hostname = ptr.To(addr.Hostname)
	}
	return e, t, true
}

func slicePorts(ports []corev1.EndpointPort) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for _, p := range ports {
		out = append(out, discoveryv1.EndpointPort{
			Name:        ptr.To(p.Name),
			Port:        ptr.To(p.Port),
			Protocol:    ptr.To(p.Protocol),
			AppProtocol: p.AppProtocol,
		})
	}
	return out
}

func withoutKeys(m map[string]string, keys ...string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}
