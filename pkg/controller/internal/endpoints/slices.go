package endpoints

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	discoveryvalidation "k8s.io/kubernetes/pkg/apis/discovery/validation"
	"k8s.io/utils/dump"
	"k8s.io/utils/ptr"
)

// deepHash is upstream's object hash; ports are ordered by it, so that
// skiff's EndpointSlices list ports in the same order as upstream's.
func deepHash(obj interface{}) string {
	h := fnv.New128a()
	fmt.Fprint(h, dump.ForHash(obj))
	return hex.EncodeToString(h.Sum(nil))
}

// PortMapKey identifies a set of endpoint ports; endpoints with the same
// ports share slices.
type PortMapKey string

// NewPortMapKey sorts ports (in place, upstream's order) and returns their
// key.
func NewPortMapKey(ports []discoveryv1.EndpointPort) PortMapKey {
	if ports == nil {
		ports = []discoveryv1.EndpointPort{}
	}
	sort.Slice(ports, func(i, j int) bool { return deepHash(ports[i]) < deepHash(ports[j]) })
	return PortMapKey(deepHash(ports))
}

// endpointKey is an endpoint's identity across syncs: its addresses,
// hostname and target.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := append([]string(nil), ep.Addresses...)
	sort.Strings(addrs)
	var b strings.Builder
	b.WriteString(strings.Join(addrs, ","))
	b.WriteByte('|')
	if ep.Hostname != nil {
		b.WriteString(*ep.Hostname)
	}
	b.WriteByte('|')
	if ep.TargetRef != nil {
		b.WriteString(ep.TargetRef.Namespace + "/" + ep.TargetRef.Name)
	}
	return b.String()
}

// EndpointSet is a set of endpoints by identity.
type EndpointSet map[string]*discoveryv1.Endpoint

// Insert adds ep, replacing an endpoint with the same identity.
func (s EndpointSet) Insert(ep *discoveryv1.Endpoint) { s[endpointKey(ep)] = ep }

// Get returns the endpoint with ep's identity, or nil.
func (s EndpointSet) Get(ep *discoveryv1.Endpoint) *discoveryv1.Endpoint { return s[endpointKey(ep)] }

// Delete removes the endpoint with ep's identity.
func (s EndpointSet) Delete(ep *discoveryv1.Endpoint) { delete(s, endpointKey(ep)) }

// Len is the number of endpoints.
func (s EndpointSet) Len() int { return len(s) }

// PopAny removes and returns some endpoint, nil when empty.
func (s EndpointSet) PopAny() *discoveryv1.Endpoint {
	for k, ep := range s {
		delete(s, k)
		return ep
	}
	return nil
}

// EqualBeyondIdentity reports whether two endpoints of the same identity
// also agree on everything else a controller sets.
func EqualBeyondIdentity(a, b *discoveryv1.Endpoint) bool {
	return ptrEqual(a.NodeName, b.NodeName) && ptrEqual(a.Zone, b.Zone) &&
		ptrEqual(a.Conditions.Ready, b.Conditions.Ready) &&
		ptrEqual(a.Conditions.Serving, b.Conditions.Serving) &&
		ptrEqual(a.Conditions.Terminating, b.Conditions.Terminating) &&
		targetRefEqual(a.TargetRef, b.TargetRef)
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// targetRefEqual ignores the resource version, which changes with every
// pod update.
func targetRefEqual(a, b *corev1.ObjectReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.ResourceVersion, y.ResourceVersion = "", ""
	return apiequality.Semantic.DeepEqual(x, y)
}

// SlicePrefix is the generateName of a Service's (or Endpoints') slices:
// "<name>-", or the name alone if that is not a valid prefix.
func SlicePrefix(name string) string {
	prefix := name + "-"
	if len(discoveryvalidation.ValidateEndpointSliceName(prefix, true)) != 0 {
		return name
	}
	return prefix
}

// ServiceKey is the namespace/name of the Service a slice belongs to, by
// its kubernetes.io/service-name label.
func ServiceKey(slice *discoveryv1.EndpointSlice) (string, error) {
	name := slice.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return "", fmt.Errorf("EndpointSlice %s/%s missing %s label", slice.Namespace, slice.Name, discoveryv1.LabelServiceName)
	}
	return slice.Namespace + "/" + name, nil
}

// ManagedBy reports whether controller manages slice.
func ManagedBy(slice *discoveryv1.EndpointSlice, controller string) bool {
	return slice.Labels[discoveryv1.LabelManagedBy] == controller
}

// SliceOf returns the EndpointSlice in an informer event (or tombstone).
func SliceOf(obj interface{}) *discoveryv1.EndpointSlice {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	slice, _ := obj.(*discoveryv1.EndpointSlice)
	return slice
}

// BoolPtr returns a pointer to b (conditions are pointers).
func BoolPtr(b bool) *bool { return ptr.To(b) }

const deletionExpected = -1

// SliceTracker remembers the generation of every slice a controller
// wrote, per Service, so that it can tell its own writes from others'
// (and not resync on them) and notice a stale informer cache.
type SliceTracker struct {
	mu sync.Mutex
	// generations maps a Service to its slices' UIDs and the generation
	// last written, or deletionExpected.
	generations map[types.NamespacedName]map[types.UID]int64
}

// NewSliceTracker returns an empty tracker.
func NewSliceTracker() *SliceTracker {
	return &SliceTracker{generations: map[types.NamespacedName]map[types.UID]int64{}}
}

func serviceOf(slice *discoveryv1.EndpointSlice) types.NamespacedName {
	return types.NamespacedName{Namespace: slice.Namespace, Name: slice.Labels[discoveryv1.LabelServiceName]}
}

// Has reports whether the slice is tracked.
func (t *SliceTracker) Has(slice *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.generations[serviceOf(slice)][slice.UID]
	return ok
}

// ShouldSync reports whether a slice event is someone else's change: the
// slice is unknown or newer than what the controller wrote.
func (t *SliceTracker) ShouldSync(slice *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.generations[serviceOf(slice)][slice.UID]
	return !ok || slice.Generation > g
}

// Stale reports whether the listed slices of a Service lag behind what the
// controller wrote: an older generation, a slice expected deleted, or a
// written slice missing.
func (t *SliceTracker) Stale(namespace, name string, slices []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	gens, ok := t.generations[types.NamespacedName{Namespace: namespace, Name: name}]
	if !ok {
		return false
	}
	listed := map[types.UID]bool{}
	for _, s := range slices {
		listed[s.UID] = true
		if g, ok := gens[s.UID]; ok && (g == deletionExpected || g > s.Generation) {
			return true
		}
	}
	for uid, g := range gens {
		if g != deletionExpected && !listed[uid] {
			return true
		}
	}
	return false
}

// Update records a slice the controller created or updated.
func (t *SliceTracker) Update(slice *discoveryv1.EndpointSlice) {
	t.set(slice, slice.Generation)
}

// ExpectDeletion records a slice the controller deleted.
func (t *SliceTracker) ExpectDeletion(slice *discoveryv1.EndpointSlice) {
	t.set(slice, deletionExpected)
}

func (t *SliceTracker) set(slice *discoveryv1.EndpointSlice, g int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	svc := serviceOf(slice)
	if t.generations[svc] == nil {
		t.generations[svc] = map[types.UID]int64{}
	}
	t.generations[svc][slice.UID] = g
}

// HandleDeletion forgets a deleted slice and reports whether the
// controller deleted it itself.
func (t *SliceTracker) HandleDeletion(slice *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	gens, ok := t.generations[serviceOf(slice)]
	if !ok {
		return true
	}
	g, ok := gens[slice.UID]
	delete(gens, slice.UID)
	return !ok || g == deletionExpected
}

// ForgetService drops everything known about a Service's slices.
func (t *SliceTracker) ForgetService(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.generations, types.NamespacedName{Namespace: namespace, Name: name})
}
