// Package garbagecollector deletes objects whose owners are gone, the way
// upstream's garbage collector does. It watches the metadata of every
// resource discovery lists (built-ins and custom resources, re-read
// periodically so CRDs can come and go), keeps a graph of ownerReferences
// keyed by UID, and acts on it:
//
//   - background: a dependent whose owners all no longer exist (checked by
//     UID against the API server) is deleted;
//   - foreground: an owner deleted with the foregroundDeletion finalizer has
//     its dependents deleted first, and loses the finalizer once no
//     dependent with blockOwnerDeletion=true is left;
//   - orphan: an owner deleted with the orphan finalizer has its reference
//     removed from every dependent, then loses the finalizer.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// DefaultSyncPeriod is how often discovery is re-read for new or removed
// resources (upstream's 30 s).
const DefaultSyncPeriod = 30 * time.Second

// DefaultIgnoredResources are never watched: events are many, short-lived
// and never owners.
func DefaultIgnoredResources() map[schema.GroupResource]struct{} {
	return map[schema.GroupResource]struct{}{
		{Group: "", Resource: "events"}:                 {},
		{Group: eventsv1.GroupName, Resource: "events"}: {},
	}
}

// errVirtualDeleteEnqueued: the object does not exist; a virtual delete
// event will take it out of the graph, so the item is done.
var errVirtualDeleteEnqueued = errors.New("enqueued virtual delete event")

// GarbageCollector is the controller. Its graph builder is the only writer
// of the graph; its workers act on the nodes the builder queues.
type GarbageCollector struct {
	api         *apiClient
	builder     *graphBuilder
	restMapper  meta.ResettableRESTMapper
	discovery   discovery.ServerResourcesInterface
	broadcaster record.EventBroadcaster
	kubeClient  kubernetes.Interface
	// SyncPeriod is how often discovery is re-read.
	SyncPeriod time.Duration
}

// NewController returns a garbage collector. discoveryClient must not be
// the one behind restMapper, which the collector resets when resources
// change.
func NewController(kubeClient kubernetes.Interface, metadataClient metadata.Interface, restMapper meta.ResettableRESTMapper, discoveryClient discovery.ServerResourcesInterface, ignoredResources map[schema.GroupResource]struct{}) (*GarbageCollector, error) {
	broadcaster := record.NewBroadcaster()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "garbage-collector-controller"})
	gc := &GarbageCollector{
		api:         &apiClient{metadataClient: metadataClient, restMapper: restMapper},
		restMapper:  restMapper,
		discovery:   discoveryClient,
		broadcaster: broadcaster,
		kubeClient:  kubeClient,
		SyncPeriod:  DefaultSyncPeriod,
		builder: &graphBuilder{
			metadataClient: metadataClient,
			restMapper:     restMapper,
			ignored:        ignoredResources,
			recorder:       recorder,
			monitors:       map[schema.GroupVersionResource]*monitor{},
			graphChanges:   workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[*graphEvent]{Name: "garbage_collector_graph_changes"}),
			graph:          newGraph(),
			attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(
				workqueue.DefaultTypedControllerRateLimiter[*node](),
				workqueue.TypedRateLimitingQueueConfig[*node]{Name: "garbage_collector_attempt_to_delete"},
			),
			attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(
				workqueue.DefaultTypedControllerRateLimiter[*node](),
				workqueue.TypedRateLimitingQueueConfig[*node]{Name: "garbage_collector_attempt_to_orphan"},
			),
			absentOwners: newReferenceCache(500),
		},
	}
	return gc, nil
}

// Run watches resources, builds the graph and collects garbage with the
// given number of workers per queue until ctx ends.
func (gc *GarbageCollector) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting controller", "controller", "garbagecollector")
	if gc.kubeClient != nil {
		gc.broadcaster.StartStructuredLogging(3)
		gc.broadcaster.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: gc.kubeClient.CoreV1().Events("")})
	}
	var wg sync.WaitGroup
	defer func() {
		logger.Info("Shutting down controller", "controller", "garbagecollector")
		gc.builder.attemptToDelete.ShutDown()
		gc.builder.attemptToOrphan.ShutDown()
		wg.Wait()
		gc.broadcaster.Shutdown()
	}()
	wg.Go(func() { gc.builder.run(ctx) })
	wg.Go(func() { gc.resyncResources(ctx) })

	// Collecting before every monitor has listed is safe (owners are
	// always checked against the API server) but wasteful; wait a while.
	syncCtx, cancel := context.WithTimeout(ctx, gc.SyncPeriod)
	if cache.WaitForNamedCacheSyncWithContext(syncCtx, gc.builder.isSynced) {
		logger.Info("Garbage collector: all resource monitors have synced")
	} else {
		logger.Info("Garbage collector: not all resource monitors could be synced, proceeding anyways")
	}
	cancel()
	logger.Info("Proceeding to collect garbage")
	for i := 0; i < workers; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, gc.runAttemptToDeleteWorker, time.Second) })
		wg.Go(func() { wait.UntilWithContext(ctx, gc.runAttemptToOrphanWorker, time.Second) })
	}
	<-ctx.Done()
}

// resyncResources re-reads discovery every SyncPeriod and starts or stops
// monitors for resources that appeared or went away.
func (gc *GarbageCollector) resyncResources(ctx context.Context) {
	var current map[schema.GroupVersionResource]struct{}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		logger := klog.FromContext(ctx)
		found, err := DeletableResources(logger, gc.discovery)
		if len(found) == 0 {
			logger.V(2).Info("No resources reported by discovery, skipping garbage collector sync")
			return
		}
		if failed, ok := discovery.GroupDiscoveryFailedErrorGroups(err); ok {
			// Keep watching what a failing group served before.
			for gvr := range current {
				if _, bad := failed[gvr.GroupVersion()]; bad && gc.builder.isResourceSynced(gvr) {
					found[gvr] = struct{}{}
				}
			}
		}
		if maps.Equal(current, found) {
			return
		}
		logger.V(2).Info("Syncing garbage collector with updated resources from discovery", "diff", resourcesDiff(current, found))
		gc.restMapper.Reset()
		if err := gc.builder.syncMonitors(logger, found); err != nil {
			// Try again next period (a new CRD may not be mappable yet).
			utilruntime.HandleErrorWithContext(ctx, err, "Failed to sync resource monitors")
			gc.builder.startMonitors(logger)
			return
		}
		gc.builder.startMonitors(logger)
		syncCtx, cancel := context.WithTimeout(ctx, gc.SyncPeriod)
		defer cancel()
		if !cache.WaitForNamedCacheSyncWithContext(syncCtx, gc.builder.isSynced) {
			utilruntime.HandleErrorWithContext(ctx, nil, "Timed out waiting for dependency graph builder sync during GC sync")
		}
		current = found
	}, gc.SyncPeriod)
}

func resourcesDiff(old, new map[schema.GroupVersionResource]struct{}) string {
	var added, removed []string
	for gvr := range new {
		if _, ok := old[gvr]; !ok {
			added = append(added, gvr.String())
		}
	}
	for gvr := range old {
		if _, ok := new[gvr]; !ok {
			removed = append(removed, gvr.String())
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return fmt.Sprintf("added: %v, removed: %v", added, removed)
}

// DeletableResources returns the preferred resources that support delete,
// list and watch: those the collector watches. On a partial discovery
// failure it returns what it found along with the error.
func DeletableResources(logger klog.Logger, client discovery.ServerResourcesInterface) (map[schema.GroupVersionResource]struct{}, error) {
	lists, err := client.ServerPreferredResources()
	if err != nil {
		logger.Info("Failed to discover some resources", "err", err)
	}
	resources := map[schema.GroupVersionResource]struct{}{}
	for _, list := range discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete", "list", "watch"}}, lists) {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			logger.Info("Ignoring invalid discovered resource", "groupversion", list.GroupVersion, "err", perr)
			continue
		}
		for _, r := range list.APIResources {
			resources[gv.WithResource(r.Name)] = struct{}{}
		}
	}
	return resources, err
}

func (gc *GarbageCollector) runAttemptToDeleteWorker(ctx context.Context) {
	for gc.processAttemptToDelete(ctx) {
	}
}

func (gc *GarbageCollector) processAttemptToDelete(ctx context.Context) bool {
	n, quit := gc.builder.attemptToDelete.Get()
	if quit {
		return false
	}
	defer gc.builder.attemptToDelete.Done(n)
	if gc.attemptToDeleteNode(ctx, n) {
		gc.builder.attemptToDelete.AddRateLimited(n)
	} else {
		gc.builder.attemptToDelete.Forget(n)
	}
	return true
}

// attemptToDeleteNode handles one node and says whether to retry it.
func (gc *GarbageCollector) attemptToDeleteNode(ctx context.Context, n *node) (retry bool) {
	logger := klog.FromContext(ctx)
	if !n.isObserved() {
		// A retried virtual node may meanwhile have been observed, or
		// removed by a delete event.
		current, ok := gc.builder.graph.get(n.getIdentity().UID)
		if !ok || current != n || current.isObserved() {
			return false
		}
	}
	err := gc.attemptToDeleteItem(ctx, n)
	var mappingErr *restMappingError
	switch {
	case errors.Is(err, errVirtualDeleteEnqueued), errors.Is(err, errNamespacedOwnerOfClusterScoped):
		return false
	case errors.As(err, &mappingErr):
		// A custom kind discovery has not shown yet, or a bogus one: retry
		// with backoff.
		logger.V(5).Info("Error syncing item", "item", n.getIdentity(), "err", err)
		return true
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Error syncing item", "item", n.getIdentity())
		return true
	case !n.isObserved():
		// The owner exists but no informer has shown it yet; keep checking
		// so that a node for an object created and deleted between two
		// watches does not stay in the graph forever.
		logger.V(5).Info("Item hasn't been observed via informer yet", "item", n.getIdentity())
		return true
	}
	return false
}

// attemptToDeleteItem looks up the live object of n and deletes it when
// all its owners are gone, or advances a foreground deletion.
func (gc *GarbageCollector) attemptToDeleteItem(ctx context.Context, n *node) error {
	logger := klog.FromContext(ctx)
	id := n.getIdentity()
	logger.V(2).Info("Processing item", "item", id, "virtual", !n.isObserved())
	// An object being deleted without waiting for its dependents is on its
	// way out; its dependents are handled once it is gone.
	if n.isBeingDeleted() && !n.isDeletingDependents() {
		return nil
	}
	latest, err := gc.api.get(ctx, id)
	if apierrors.IsNotFound(err) || (err == nil && latest.UID != id.UID) {
		logger.V(5).Info("Item not found, generating a virtual delete event", "item", id)
		gc.builder.enqueueVirtualDelete(id)
		return errVirtualDeleteEnqueued
	}
	if err != nil {
		return err
	}
	if n.isDeletingDependents() {
		return gc.processDeletingDependents(ctx, n)
	}
	refs := latest.OwnerReferences
	if len(refs) == 0 {
		logger.V(2).Info("Item doesn't have an owner, continue on next item", "item", id)
		return nil
	}
	solid, dangling, waiting, err := gc.classifyReferences(ctx, n, refs)
	if err != nil {
		return err
	}
	logger.V(5).Info("Classify item's references", "item", id, "solid", solid, "dangling", dangling, "waitingForDependentsDeletion", waiting)
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// The item stays, but references to absent owners go, and so do
		// references to owners waiting for it, or they would wait forever.
		logger.V(2).Info("Remove dangling references and waiting references for item", "item", id, "dangling", dangling, "waitingForDependentsDeletion", waiting)
		return gc.api.removeOwnerReferences(ctx, id, append(uidsOf(dangling), uidsOf(waiting)...))
	case len(waiting) > 0 && n.dependentsCount() > 0:
		// An owner waits for this item, which has dependents of its own:
		// delete it in the foreground too.
		for _, dep := range n.getDependents() {
			if dep.isDeletingDependents() {
				// A dependent also waits: stop blocking our owners to
				// break a possible cycle.
				logger.V(2).Info("Processing item, some of its owners and its dependent have FinalizerDeletingDependents, to prevent potential cycle, its ownerReferences are going to be modified to be non-blocking, then the item is going to be deleted with Foreground", "item", id, "dependent", dep.getIdentity())
				if err := gc.api.unblockOwnerReferences(ctx, n); err != nil {
					return err
				}
				break
			}
		}
		logger.V(2).Info("At least one owner of item has FinalizerDeletingDependents, and the item itself has dependents, so it is going to be deleted in Foreground", "item", id)
		return gc.deleteItem(ctx, id, latest, metav1.DeletePropagationForeground)
	default:
		// No owner is left to keep it. Honour a propagation the object
		// already asked for.
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		logger.V(2).Info("Deleting item", "item", id, "propagationPolicy", policy)
		return gc.deleteItem(ctx, id, latest, policy)
	}
}

func (gc *GarbageCollector) deleteItem(ctx context.Context, id objectReference, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	err := gc.api.delete(ctx, id, latest.ResourceVersion, latest.OwnerReferences, policy)
	if apierrors.IsNotFound(err) {
		gc.builder.enqueueVirtualDelete(id)
		return errVirtualDeleteEnqueued
	}
	return err
}

// processDeletingDependents advances the foreground deletion of owner n:
// it finishes (the finalizer goes) once no blocking dependent is left, and
// meanwhile makes sure each blocking dependent is being deleted.
func (gc *GarbageCollector) processDeletingDependents(ctx context.Context, n *node) error {
	blocking := n.blockingDependents()
	if len(blocking) == 0 {
		klog.FromContext(ctx).V(2).Info("Remove DeleteDependents finalizer for item", "item", n.getIdentity())
		return gc.api.removeFinalizer(ctx, n.getIdentity(), metav1.FinalizerDeleteDependents)
	}
	for _, dep := range blocking {
		if !dep.isDeletingDependents() {
			gc.builder.attemptToDelete.Add(dep)
		}
	}
	return nil
}

// classifyReferences sorts an item's owner references: solid (the owner
// exists), dangling (no object with that UID), waiting (the owner is being
// deleted in the foreground and waits for its dependents).
func (gc *GarbageCollector) classifyReferences(ctx context.Context, n *node, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, ref := range refs {
		isDangling, owner, err := gc.isDangling(ctx, ref, n)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case isDangling:
			dangling = append(dangling, ref)
		case owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	return solid, dangling, waiting, nil
}

// isDangling reports whether ref points at no object: none with its name,
// or one with another UID (a recreated owner does not adopt the old one's
// dependents). It returns the owner's metadata when it exists.
func (gc *GarbageCollector) isDangling(ctx context.Context, ref metav1.OwnerReference, n *node) (bool, *metav1.PartialObjectMetadata, error) {
	logger := klog.FromContext(ctx)
	item := n.getIdentity()
	key := objectReference{OwnerReference: coordinates(ref)}
	if gc.builder.absentOwners.Has(key) {
		logger.V(5).Info("According to the absentOwnerCache, item's owner does not exist", "item", item, "owner", ref)
		return true, nil, nil
	}
	key.Namespace = item.Namespace
	if gc.builder.absentOwners.Has(key) {
		logger.V(5).Info("According to the absentOwnerCache, item's owner does not exist in namespace", "item", item, "owner", ref)
		return true, nil, nil
	}
	_, namespaced, err := gc.api.resource(ref.APIVersion, ref.Kind)
	if err != nil {
		return false, nil, err
	}
	if !namespaced {
		key.Namespace = ""
	} else if item.Namespace == "" {
		logger.V(2).Info("Item is cluster-scoped, but refers to a namespaced owner", "item", item, "owner", ref)
		return false, nil, errNamespacedOwnerOfClusterScoped
	}
	owner, err := gc.api.get(ctx, key)
	switch {
	case apierrors.IsNotFound(err):
		gc.builder.absentOwners.Add(key)
		logger.V(5).Info("Item's owner is not found", "item", item, "owner", ref)
		return true, nil, nil
	case err != nil:
		return false, nil, err
	case owner.UID != ref.UID:
		gc.builder.absentOwners.Add(key)
		logger.V(5).Info("Item's owner is not found, UID mismatch", "item", item, "owner", ref)
		return true, nil, nil
	}
	return false, owner, nil
}

func uidsOf(refs []metav1.OwnerReference) []types.UID {
	uids := make([]types.UID, 0, len(refs))
	for _, r := range refs {
		uids = append(uids, r.UID)
	}
	return uids
}

func (gc *GarbageCollector) runAttemptToOrphanWorker(ctx context.Context) {
	for gc.processAttemptToOrphan(ctx) {
	}
}

func (gc *GarbageCollector) processAttemptToOrphan(ctx context.Context) bool {
	owner, quit := gc.builder.attemptToOrphan.Get()
	if quit {
		return false
	}
	defer gc.builder.attemptToOrphan.Done(owner)
	if err := gc.orphan(ctx, owner); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Orphaning dependents failed", "owner", owner.getIdentity())
		gc.builder.attemptToOrphan.AddRateLimited(owner)
		return true
	}
	gc.builder.attemptToOrphan.Forget(owner)
	return true
}

// orphan removes owner's reference from each of its dependents, then the
// orphan finalizer from the owner, which lets the API server delete it.
func (gc *GarbageCollector) orphan(ctx context.Context, owner *node) error {
	id := owner.getIdentity()
	dependents := owner.getDependents()
	errs := make([]error, len(dependents))
	var wg sync.WaitGroup
	for i, dep := range dependents {
		wg.Go(func() {
			err := gc.api.removeOwnerReferences(ctx, dep.getIdentity(), []types.UID{id.UID})
			if err != nil && !apierrors.IsNotFound(err) {
				errs[i] = fmt.Errorf("orphaning %s failed, %w", dep.getIdentity(), err)
			}
		})
	}
	wg.Wait()
	if err := utilerrors.NewAggregate(errs); err != nil {
		return fmt.Errorf("failed to orphan dependents of owner %s, got errors: %w", id, err)
	}
	klog.FromContext(ctx).V(5).Info("Successfully updated all dependents", "owner", id)
	if err := gc.api.removeFinalizer(ctx, id, metav1.FinalizerOrphanDependents); err != nil {
		return fmt.Errorf("removeOrphanFinalizer for %s failed with %w", id, err)
	}
	return nil
}
