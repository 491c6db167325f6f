package garbagecollector

import (
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectReference names an object: the coordinates of an owner reference
// (apiVersion, kind, name, uid) plus the namespace.
type objectReference struct {
	metav1.OwnerReference
	Namespace string
}

func (r objectReference) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// coordinates keeps only what identifies the owner of a reference.
func coordinates(ref metav1.OwnerReference) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID}
}

func sameCoordinates(a, b metav1.OwnerReference) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Kind == b.Kind && a.APIVersion == b.APIVersion
}

func isBlocking(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

// node is one object in the dependency graph. Only the graph builder's
// single goroutine changes nodes; the collector's workers read them
// concurrently, hence the lock.
type node struct {
	mu sync.RWMutex
	// identity is what the object was observed as; for a virtual node, what
	// its first dependent called it.
	identity objectReference
	// virtual nodes stand for owners that no informer has shown yet; the
	// collector checks whether they exist.
	virtual bool
	// beingDeleted: deletionTimestamp is set.
	beingDeleted bool
	// deletingDependents: being deleted with the foregroundDeletion
	// finalizer, so it waits for its blocking dependents.
	deletingDependents bool
	// owners are the object's ownerReferences as last observed.
	owners []metav1.OwnerReference
	// dependents are the nodes with an ownerReference to this one.
	dependents map[*node]struct{}
}

func newNode(identity objectReference, virtual bool) *node {
	return &node{identity: identity, virtual: virtual, dependents: map[*node]struct{}{}}
}

func (n *node) getIdentity() objectReference {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.identity
}

func (n *node) setIdentity(id objectReference) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.identity = id
}

func (n *node) isObserved() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return !n.virtual
}

func (n *node) markObserved() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.virtual = false
}

func (n *node) isBeingDeleted() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.beingDeleted
}

// markBeingDeleted is one way: an object never stops being deleted.
func (n *node) markBeingDeleted() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.beingDeleted = true
}

func (n *node) isDeletingDependents() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.deletingDependents
}

func (n *node) markDeletingDependents() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deletingDependents = true
}

func (n *node) getOwners() []metav1.OwnerReference {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.owners
}

func (n *node) setOwners(owners []metav1.OwnerReference) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.owners = owners
}

func (n *node) addDependent(d *node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dependents[d] = struct{}{}
}

func (n *node) removeDependent(d *node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.dependents, d)
}

func (n *node) getDependents() []*node {
	n.mu.RLock()
	defer n.mu.RUnlock()
	deps := make([]*node, 0, len(n.dependents))
	for d := range n.dependents {
		deps = append(deps, d)
	}
	return deps
}

func (n *node) dependentsCount() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.dependents)
}

// blockingDependents are the dependents whose reference to n has
// blockOwnerDeletion=true: a foreground deletion of n waits for them.
func (n *node) blockingDependents() []*node {
	uid := n.getIdentity().UID
	var blocking []*node
	for _, d := range n.getDependents() {
		for _, ref := range d.getOwners() {
			if ref.UID == uid && isBlocking(ref) {
				blocking = append(blocking, d)
				break
			}
		}
	}
	return blocking
}

// graph maps UIDs to nodes.
type graph struct {
	mu    sync.RWMutex
	nodes map[types.UID]*node
}

func newGraph() *graph { return &graph{nodes: map[types.UID]*node{}} }

func (g *graph) get(uid types.UID) (*node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	return n, ok
}

func (g *graph) put(n *node) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nodes[n.getIdentity().UID] = n
}

func (g *graph) remove(uid types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.nodes, uid)
}

func (g *graph) len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}
