package garbagecollector

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// graphEvent is an informer event, or a "virtual" delete the collector
// makes up when it finds that an object the graph holds does not exist.
type graphEvent struct {
	eventType eventType
	virtual   bool
	obj       metav1.Object
	oldObj    metav1.Object
	gvk       schema.GroupVersionKind
}

// monitor watches one resource's metadata.
type monitor struct {
	informer cache.SharedIndexInformer
	// cancel stops the informer; nil until it is started.
	cancel context.CancelFunc
}

// graphBuilder keeps the dependency graph up to date from the monitors'
// events, on one goroutine, and tells the collector which nodes to look at:
// attemptToDelete for objects that may be garbage (or owners waiting for
// their dependents), attemptToOrphan for owners deleted with the orphan
// finalizer.
type graphBuilder struct {
	metadataClient metadata.Interface
	restMapper     meta.RESTMapper
	ignored        map[schema.GroupResource]struct{}
	recorder       record.EventRecorder

	monitorMu sync.Mutex
	monitors  map[schema.GroupVersionResource]*monitor
	// runCtx is set by run; monitors are started only once it is.
	runCtx context.Context

	graphChanges    workqueue.TypedInterface[*graphEvent]
	graph           *graph
	attemptToDelete workqueue.TypedRateLimitingInterface[*node]
	attemptToOrphan workqueue.TypedRateLimitingInterface[*node]
	absentOwners    *referenceCache
}

// newMonitor builds (without starting) an informer that feeds gvr's
// events, as kind, into the graph.
func (gb *graphBuilder) newMonitor(gvr schema.GroupVersionResource, kind schema.GroupVersionKind) (*monitor, error) {
	informer := metadatainformer.NewFilteredMetadataInformer(gb.metadataClient, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if o, err := meta.Accessor(obj); err == nil {
				gb.graphChanges.Add(&graphEvent{eventType: addEvent, obj: o, gvk: kind})
			}
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			o, err := meta.Accessor(newObj)
			if err != nil {
				return
			}
			old, _ := meta.Accessor(oldObj)
			gb.graphChanges.Add(&graphEvent{eventType: updateEvent, obj: o, oldObj: old, gvk: kind})
		},
		DeleteFunc: func(obj interface{}) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if o, err := meta.Accessor(obj); err == nil {
				gb.graphChanges.Add(&graphEvent{eventType: deleteEvent, obj: o, gvk: kind})
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &monitor{informer: informer}, nil
}

// syncMonitors makes the monitors match resources: new ones are created
// (not started), gone ones stopped. It carries on past errors and returns
// them together.
func (gb *graphBuilder) syncMonitors(logger klog.Logger, resources map[schema.GroupVersionResource]struct{}) error {
	gb.monitorMu.Lock()
	defer gb.monitorMu.Unlock()
	old := gb.monitors
	current := map[schema.GroupVersionResource]*monitor{}
	var errs []error
	added := 0
	for gvr := range resources {
		if _, ok := gb.ignored[gvr.GroupResource()]; ok {
			continue
		}
		if m, ok := old[gvr]; ok {
			current[gvr] = m
			delete(old, gvr)
			continue
		}
		kind, err := gb.restMapper.KindFor(gvr)
		if err != nil {
			errs = append(errs, fmt.Errorf("couldn't look up resource %q: %w", gvr, err))
			continue
		}
		m, err := gb.newMonitor(gvr, kind)
		if err != nil {
			errs = append(errs, fmt.Errorf("couldn't start monitor for resource %q: %w", gvr, err))
			continue
		}
		current[gvr] = m
		added++
	}
	for _, m := range old {
		if m.cancel != nil {
			m.cancel()
		}
	}
	gb.monitors = current
	logger.V(4).Info("Synced monitors", "added", added, "removed", len(old), "total", len(current))
	return utilerrors.NewAggregate(errs)
}

// startMonitors starts the monitors not running yet, once run has begun.
func (gb *graphBuilder) startMonitors(logger klog.Logger) {
	gb.monitorMu.Lock()
	defer gb.monitorMu.Unlock()
	if gb.runCtx == nil {
		return
	}
	started := 0
	for _, m := range gb.monitors {
		if m.cancel != nil {
			continue
		}
		ctx, cancel := context.WithCancel(gb.runCtx)
		m.cancel = cancel
		go m.informer.RunWithContext(ctx)
		started++
	}
	logger.V(4).Info("Started monitors", "new", started, "total", len(gb.monitors))
}

// isSynced is true when there are monitors and every one has listed.
func (gb *graphBuilder) isSynced() bool {
	gb.monitorMu.Lock()
	defer gb.monitorMu.Unlock()
	if len(gb.monitors) == 0 {
		return false
	}
	for _, m := range gb.monitors {
		if !m.informer.HasSynced() {
			return false
		}
	}
	return true
}

// isResourceSynced reports whether gvr has a monitor that has listed.
func (gb *graphBuilder) isResourceSynced(gvr schema.GroupVersionResource) bool {
	gb.monitorMu.Lock()
	defer gb.monitorMu.Unlock()
	m, ok := gb.monitors[gvr]
	return ok && m.informer.HasSynced()
}

// run starts the monitors and processes graph changes until ctx ends.
func (gb *graphBuilder) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	gb.monitorMu.Lock()
	gb.runCtx = ctx
	gb.monitorMu.Unlock()
	gb.startMonitors(logger)
	go func() {
		<-ctx.Done()
		gb.graphChanges.ShutDown()
	}()
	for gb.processNextChange(logger) {
	}
	gb.monitorMu.Lock()
	for _, m := range gb.monitors {
		if m.cancel != nil {
			m.cancel()
		}
	}
	gb.monitors = nil
	gb.monitorMu.Unlock()
}

func (gb *graphBuilder) processNextChange(logger klog.Logger) bool {
	ev, quit := gb.graphChanges.Get()
	if quit {
		return false
	}
	defer gb.graphChanges.Done(ev)
	gb.processEvent(logger, ev)
	return true
}

// enqueueVirtualDelete tells the graph that ref does not exist (the API
// server said so), as if its informer had reported a deletion.
func (gb *graphBuilder) enqueueVirtualDelete(ref objectReference) {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	gb.graphChanges.Add(&graphEvent{
		eventType: deleteEvent,
		virtual:   true,
		gvk:       gv.WithKind(ref.Kind),
		obj:       &metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID},
	})
}

func identityOf(ev *graphEvent) objectReference {
	return objectReference{
		OwnerReference: metav1.OwnerReference{
			APIVersion: ev.gvk.GroupVersion().String(),
			Kind:       ev.gvk.Kind,
			Name:       ev.obj.GetName(),
			UID:        ev.obj.GetUID(),
		},
		Namespace: ev.obj.GetNamespace(),
	}
}

// processEvent applies one event to the graph.
func (gb *graphBuilder) processEvent(logger klog.Logger, ev *graphEvent) {
	obj := ev.obj
	logger.V(5).Info("GraphBuilder process object", "apiVersion", ev.gvk.GroupVersion().String(), "kind", ev.gvk.Kind,
		"object", klog.KObj(obj), "uid", string(obj.GetUID()), "eventType", ev.eventType, "virtual", ev.virtual)
	existing, found := gb.graph.get(obj.GetUID())
	if found && !ev.virtual && !existing.isObserved() {
		// An informer now shows the object a virtual node stood for.
		observed := identityOf(ev)
		if have := existing.getIdentity(); have != observed {
			// Dependents that named the owner differently may point at
			// something that does not exist: have them checked.
			_, mismatched := partitionDependents(existing.getDependents(), observed)
			for _, dep := range mismatched {
				if observed.Namespace != "" && dep.getIdentity().Namespace != observed.Namespace {
					gb.reportInvalidNamespaceOwnerRef(dep, observed.UID)
				}
				gb.attemptToDelete.Add(dep)
			}
			logger.V(2).Info("Replacing virtual item with observed item", "virtual", have, "observed", observed)
			existing.setIdentity(observed)
		}
		existing.markObserved()
	}

	switch {
	case ev.eventType != deleteEvent && !found:
		n := newNode(identityOf(ev), false)
		n.owners = obj.GetOwnerReferences()
		n.beingDeleted = obj.GetDeletionTimestamp() != nil
		n.deletingDependents = n.beingDeleted && hasFinalizer(obj, metav1.FinalizerDeleteDependents)
		gb.graph.put(n)
		gb.addDependentToOwners(logger, n, n.owners)
		// An informer may fold creation and deletion into one event.
		gb.processTransitions(logger, ev.oldObj, obj, n)

	case ev.eventType != deleteEvent && found:
		added, removed, changed := referencesDiff(existing.getOwners(), obj.GetOwnerReferences())
		if len(added) > 0 || len(removed) > 0 || len(changed) > 0 {
			// A dependent that stops blocking may let its owner finish a
			// foreground deletion.
			gb.enqueueUnblockedOwners(removed, changed)
			existing.setOwners(obj.GetOwnerReferences())
			gb.addDependentToOwners(logger, existing, added)
			gb.removeDependentFromOwners(existing, removed)
		}
		if obj.GetDeletionTimestamp() != nil {
			existing.markBeingDeleted()
		}
		gb.processTransitions(logger, ev.oldObj, obj, existing)

	case ev.eventType == deleteEvent && found:
		if ev.virtual && !gb.acceptVirtualDelete(existing, identityOf(ev)) {
			return
		}
		gb.graph.remove(existing.getIdentity().UID)
		gb.removeDependentFromOwners(existing, existing.getOwners())
		dependents := existing.getDependents()
		if len(dependents) > 0 {
			gb.absentOwners.Add(identityOf(ev))
		}
		for _, dep := range dependents {
			gb.attemptToDelete.Add(dep)
		}
		// An owner waiting for its dependents may now have none left.
		for _, ref := range existing.getOwners() {
			if owner, ok := gb.graph.get(ref.UID); ok && owner.isDeletingDependents() {
				gb.attemptToDelete.Add(owner)
			}
		}
	}
}

// acceptVirtualDelete decides whether a virtual delete of deleted removes
// node. The API server said no object exists with those coordinates, but
// dependents may know the UID under other coordinates (a wrong kind or
// namespace in one of them): those keep the node, under the next identity
// to check.
func (gb *graphBuilder) acceptVirtualDelete(n *node, deleted objectReference) bool {
	matching, mismatched := partitionDependents(n.getDependents(), deleted)
	if n.isObserved() {
		if n.getIdentity() == deleted {
			return true
		}
		// The real object exists under other coordinates; only the
		// dependents that used the absent ones are orphaned.
		if len(matching) > 0 {
			gb.absentOwners.Add(deleted)
			for _, dep := range matching {
				gb.attemptToDelete.Add(dep)
			}
		}
		return false
	}
	if len(mismatched) == 0 {
		return true
	}
	if len(matching) > 0 {
		gb.absentOwners.Add(deleted)
		for _, dep := range matching {
			gb.attemptToDelete.Add(dep)
		}
	}
	if n.getIdentity() == deleted {
		if alt := alternateOwnerIdentity(mismatched, deleted); alt != nil {
			n.setIdentity(*alt)
			gb.attemptToDelete.AddRateLimited(n)
		}
	}
	return false
}

// addDependentToOwners links n to owners, creating virtual nodes for owners
// not seen yet (the collector then checks they exist). A reference whose
// coordinates disagree with the owner the graph knows sends n to be
// checked.
func (gb *graphBuilder) addDependentToOwners(logger klog.Logger, n *node, owners []metav1.OwnerReference) {
	nID := n.getIdentity()
	suspicious := false
	for _, ref := range owners {
		owner, ok := gb.graph.get(ref.UID)
		if !ok {
			owner = newNode(objectReference{OwnerReference: coordinates(ref), Namespace: nID.Namespace}, true)
			logger.V(5).Info("Add virtual item", "identity", owner.identity)
			gb.graph.put(owner)
			owner.addDependent(n)
			gb.attemptToDelete.Add(owner)
			continue
		}
		owner.addDependent(n)
		if suspicious {
			continue
		}
		oID := owner.getIdentity()
		ownerNamespaced := oID.Namespace != ""
		switch {
		case ownerNamespaced && oID.Namespace != nID.Namespace:
			// A namespaced owner must be in the dependent's namespace.
			if owner.isObserved() {
				logger.V(2).Info("Item references an owner but does not match namespaces", "item", nID, "owner", oID)
				gb.reportInvalidNamespaceOwnerRef(n, ref.UID)
			}
			suspicious = true
		case !sameCoordinates(ref, oID.OwnerReference):
			suspicious = true
		case !ownerNamespaced && oID.Namespace != nID.Namespace && !owner.isObserved():
			// A virtual owner first named by a cluster-scoped object: it may
			// be a namespaced kind that cannot own it.
			suspicious = true
		}
	}
	if suspicious {
		gb.attemptToDelete.Add(n)
	}
}

func (gb *graphBuilder) removeDependentFromOwners(n *node, owners []metav1.OwnerReference) {
	for _, ref := range owners {
		if owner, ok := gb.graph.get(ref.UID); ok {
			owner.removeDependent(n)
		}
	}
}

// enqueueUnblockedOwners queues owners whose blocking references went away
// or stopped blocking.
func (gb *graphBuilder) enqueueUnblockedOwners(removed []metav1.OwnerReference, changed []ownerRefPair) {
	var uids []types.UID
	for _, ref := range removed {
		if isBlocking(ref) {
			uids = append(uids, ref.UID)
		}
	}
	for _, c := range changed {
		if isBlocking(c.old) && !isBlocking(c.new) {
			uids = append(uids, c.new.UID)
		}
	}
	for _, uid := range uids {
		if owner, ok := gb.graph.get(uid); ok {
			gb.attemptToDelete.Add(owner)
		}
	}
}

// processTransitions reacts to an object starting a deletion that needs
// the collector: orphaning its dependents or deleting them first.
func (gb *graphBuilder) processTransitions(logger klog.Logger, oldObj, newObj metav1.Object, n *node) {
	if deletionStartsWith(oldObj, newObj, metav1.FinalizerOrphanDependents) {
		logger.V(5).Info("Add item to attemptToOrphan", "item", n.getIdentity())
		gb.attemptToOrphan.Add(n)
		return
	}
	if deletionStartsWith(oldObj, newObj, metav1.FinalizerDeleteDependents) {
		logger.V(2).Info("Add item to attemptToDelete, because it's waiting for its dependents to be deleted", "item", n.getIdentity())
		n.markDeletingDependents()
		for _, dep := range n.getDependents() {
			gb.attemptToDelete.Add(dep)
		}
		gb.attemptToDelete.Add(n)
	}
}

// deletionStartsWith is true when newObj is being deleted with finalizer
// and oldObj (if any) was not.
func deletionStartsWith(oldObj, newObj metav1.Object, finalizer string) bool {
	if newObj.GetDeletionTimestamp() == nil || !hasFinalizer(newObj, finalizer) {
		return false
	}
	if oldObj == nil || reflect.ValueOf(oldObj).IsNil() {
		return true
	}
	return oldObj.GetDeletionTimestamp() == nil || !hasFinalizer(oldObj, finalizer)
}

func hasFinalizer(obj metav1.Object, finalizer string) bool {
	return slices.Contains(obj.GetFinalizers(), finalizer)
}

type ownerRefPair struct {
	old, new metav1.OwnerReference
}

// referencesDiff compares owner references by UID.
func referencesDiff(old, new []metav1.OwnerReference) (added, removed []metav1.OwnerReference, changed []ownerRefPair) {
	oldByUID := make(map[types.UID]metav1.OwnerReference, len(old))
	for _, ref := range old {
		oldByUID[ref.UID] = ref
	}
	for _, ref := range new {
		prev, ok := oldByUID[ref.UID]
		if !ok {
			added = append(added, ref)
			continue
		}
		if !reflect.DeepEqual(prev, ref) {
			changed = append(changed, ownerRefPair{old: prev, new: ref})
		}
		delete(oldByUID, ref.UID)
	}
	for _, ref := range old {
		if _, ok := oldByUID[ref.UID]; ok {
			removed = append(removed, ref)
		}
	}
	return added, removed, changed
}

// partitionDependents splits dependents into those whose reference to
// owner's UID matches owner's coordinates and those with a reference that
// does not (a dependent with two references to the UID can be in both).
func partitionDependents(dependents []*node, owner objectReference) (matching, mismatched []*node) {
	for _, dep := range dependents {
		match, mismatch := false, false
		if owner.Namespace != "" && owner.Namespace != dep.getIdentity().Namespace {
			mismatch = true
		} else {
			for _, ref := range dep.getOwners() {
				if ref.UID != owner.UID {
					continue
				}
				if sameCoordinates(ref, owner.OwnerReference) {
					match = true
				} else {
					mismatch = true
				}
			}
		}
		if match {
			matching = append(matching, dep)
		}
		if mismatch {
			mismatched = append(mismatched, dep)
		}
	}
	return matching, mismatched
}

// referenceLess orders identities by kind, apiVersion, namespace, name, uid.
func referenceLess(a, b objectReference) bool {
	switch {
	case a.Kind != b.Kind:
		return a.Kind < b.Kind
	case a.APIVersion != b.APIVersion:
		return a.APIVersion < b.APIVersion
	case a.Namespace != b.Namespace:
		return a.Namespace < b.Namespace
	case a.Name != b.Name:
		return a.Name < b.Name
	default:
		return a.UID < b.UID
	}
}

// alternateOwnerIdentity returns another identity the dependents use for
// absent's UID: the first after absent in referenceLess order, wrapping
// around, so that every candidate is tried once.
func alternateOwnerIdentity(dependents []*node, absent objectReference) *objectReference {
	clusterScoped := absent.Namespace == ""
	seen := map[objectReference]bool{absent: true}
	var candidates []objectReference
	for _, dep := range dependents {
		depNamespace := dep.getIdentity().Namespace
		for _, ref := range dep.getOwners() {
			if ref.UID != absent.UID {
				continue
			}
			if sameCoordinates(ref, absent.OwnerReference) && (clusterScoped || absent.Namespace == depNamespace) {
				continue
			}
			alt := objectReference{OwnerReference: coordinates(ref), Namespace: depNamespace}
			// absent's kind is known to be cluster-scoped.
			if clusterScoped && alt.APIVersion == absent.APIVersion && alt.Kind == absent.Kind {
				alt.Namespace = ""
			}
			if !seen[alt] {
				seen[alt] = true
				candidates = append(candidates, alt)
			}
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	sort.Slice(candidates, func(i, j int) bool { return referenceLess(candidates[i], candidates[j]) })
	for i := range candidates {
		if referenceLess(absent, candidates[i]) {
			return &candidates[i]
		}
	}
	return &candidates[0]
}

// reportInvalidNamespaceOwnerRef records a warning event on a dependent
// that names an owner in another namespace.
func (gb *graphBuilder) reportInvalidNamespaceOwnerRef(n *node, ownerUID types.UID) {
	if gb.recorder == nil {
		return
	}
	id := n.getIdentity()
	for _, ref := range n.getOwners() {
		if ref.UID != ownerUID {
			continue
		}
		invalid := objectReference{OwnerReference: coordinates(ref), Namespace: id.Namespace}
		target := &corev1.ObjectReference{Kind: id.Kind, APIVersion: id.APIVersion, Namespace: id.Namespace, Name: id.Name, UID: id.UID}
		gb.recorder.Eventf(target, corev1.EventTypeWarning, "OwnerRefInvalidNamespace", "ownerRef %s does not exist in namespace %q", invalid, id.Namespace)
		return
	}
}
