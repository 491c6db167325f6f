package namespace

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"
)

// finalizerEstimateSeconds is how long to wait for objects held by
// finalizers (other controllers, e.g. the garbage collector) before looking
// again.
const finalizerEstimateSeconds = int64(15)

// ResourcesRemainingError says the namespace still holds content that is
// going away by itself (graceful pod termination, finalizers); the caller
// looks again after about half of Estimate seconds.
type ResourcesRemainingError struct {
	Estimate int64
}

func (e *ResourcesRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// deletableResource is a namespaced resource discovery says can be deleted.
type deletableResource struct {
	gvr                    schema.GroupVersionResource
	canList, canDeleteColl bool
}

// contentDeleter empties one namespace per call to Delete.
type contentDeleter struct {
	namespaces        corev1client.NamespaceInterface
	pods              corev1client.PodsGetter
	metadataClient    metadata.Interface
	discoverResources DiscoverResourcesFunc
	finalizerToken    corev1.FinalizerName
}

// Delete makes one pass over a namespace: mark it Terminating, delete its
// content, and finalize it once nothing is left. It returns a
// *ResourcesRemainingError while content is still terminating.
func (d *contentDeleter) Delete(ctx context.Context, name string) error {
	// Other controllers edit terminating namespaces too: start from the
	// live object, not the cache.
	ns, err := d.namespaces.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	ns, err = d.retryOnConflict(ctx, ns, d.markTerminating)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark namespace %s terminating: %w", name, err)
	}
	if ns.DeletionTimestamp == nil || len(ns.Spec.Finalizers) == 0 {
		return nil
	}
	estimate, err := d.deleteAllContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		return &ResourcesRemainingError{Estimate: estimate}
	}
	if _, err := d.retryOnConflict(ctx, ns, d.finalize); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	return nil
}

// retryOnConflict applies update to the latest namespace until it does not
// conflict, refusing to touch a namespace recreated under the same name.
func (d *contentDeleter) retryOnConflict(ctx context.Context, ns *corev1.Namespace, update func(context.Context, *corev1.Namespace) (*corev1.Namespace, error)) (*corev1.Namespace, error) {
	for {
		result, err := update(ctx, ns)
		if !apierrors.IsConflict(err) {
			return result, err
		}
		latest, err := d.namespaces.Get(ctx, ns.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if latest.UID != ns.UID {
			return nil, fmt.Errorf("namespace %s was recreated (uid %s, was %s)", ns.Name, latest.UID, ns.UID)
		}
		ns = latest
	}
}

func (d *contentDeleter) markTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.DeletionTimestamp == nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	ns = ns.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	return d.namespaces.UpdateStatus(ctx, ns, metav1.UpdateOptions{})
}

// finalize removes our token from spec.finalizers through the finalize
// subresource (the only way to change them).
func (d *contentDeleter) finalize(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	finalizers := make([]corev1.FinalizerName, 0, len(ns.Spec.Finalizers))
	for _, f := range ns.Spec.Finalizers {
		if f != d.finalizerToken && !slices.Contains(finalizers, f) {
			finalizers = append(finalizers, f)
		}
	}
	slices.Sort(finalizers)
	update := &corev1.Namespace{ObjectMeta: ns.ObjectMeta, Spec: ns.Spec}
	update.Spec.Finalizers = finalizers
	return d.namespaces.Finalize(ctx, update, metav1.UpdateOptions{})
}

// discover returns the deletable namespaced resources, pods first, then in
// a stable order. Discovery and parsing failures are reported to the
// conditions and returned but do not stop the pass: what was found is
// deleted.
func (d *contentDeleter) discover(conditions *conditionUpdater) ([]deletableResource, []error) {
	var errs []error
	lists, err := d.discoverResources()
	if err != nil {
		errs = append(errs, err)
		conditions.discoveryFailed(err)
	}
	var resources []deletableResource
	var parseErrs []error
	for _, list := range lists {
		if list == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			parseErrs = append(parseErrs, err)
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			resources = append(resources, deletableResource{
				gvr:           gv.WithResource(r.Name),
				canList:       slices.Contains(r.Verbs, "list"),
				canDeleteColl: slices.Contains(r.Verbs, "deletecollection"),
			})
		}
	}
	if len(parseErrs) > 0 {
		err := utilerrors.NewAggregate(parseErrs)
		errs = append(errs, err)
		conditions.groupVersionParsingFailed(err)
	}
	sort.Slice(resources, func(i, j int) bool {
		a, b := resources[i].gvr, resources[j].gvr
		if (a == podsResource) != (b == podsResource) {
			return a == podsResource
		}
		return a.String() < b.String()
	})
	return resources, errs
}

// deleteAllContent deletes what the namespace holds and returns how many
// seconds the rest should take to go away (0: all gone).
func (d *contentDeleter) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	logger := klog.FromContext(ctx)
	conditions := &conditionUpdater{}
	resources, errs := d.discover(conditions)
	var estimate int64
	totals := remainingContent{byResource: map[schema.GroupVersionResource]int{}, byFinalizer: map[string]int{}}
	for _, r := range resources {
		left, err := d.deleteResource(ctx, r, ns)
		if err != nil {
			if r.gvr == podsResource {
				err = fmt.Errorf("failed to delete pods for namespace: %s, err: %w", ns.Name, err)
			}
			errs = append(errs, err)
			conditions.contentDeletionFailed(err)
		}
		estimate = max(estimate, left.estimate)
		if left.count > 0 {
			totals.byResource[r.gvr] += left.count
			for f, n := range left.byFinalizer {
				totals.byFinalizer[f] += n
			}
		}
		// Pods go first: their controllers and volumes may still need the
		// other objects (secrets, service accounts) while they terminate.
		if r.gvr == podsResource && left.count > 0 {
			logger.V(5).Info("Pods remain; other content waits", "namespace", ns.Name)
			d.updateConditions(ctx, ns, conditions)
			return estimate, utilerrors.NewAggregate(errs)
		}
	}
	conditions.contentRemaining(totals)
	d.updateConditions(ctx, ns, conditions)
	err := utilerrors.NewAggregate(errs)
	logger.V(4).Info("Deleted namespace content", "namespace", ns.Name, "estimate", estimate, "err", err)
	return estimate, err
}

// updateConditions writes the conditions when they changed. A failure
// here does not fail the pass: the conditions are recomputed next time.
func (d *contentDeleter) updateConditions(ctx context.Context, ns *corev1.Namespace, conditions *conditionUpdater) {
	if !conditions.apply(&ns.Status) {
		return
	}
	if _, err := d.namespaces.UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Couldn't update status condition for namespace", "namespace", ns.Name)
	}
}

// leftover is what remains of one resource after a deletion pass.
type leftover struct {
	estimate    int64
	count       int
	byFinalizer map[string]int
}

// deleteResource deletes every object of one resource in the namespace and
// says what is left.
func (d *contentDeleter) deleteResource(ctx context.Context, r deletableResource, ns *corev1.Namespace) (leftover, error) {
	estimate, err := d.estimateGracefulTermination(ctx, r.gvr, ns)
	if err != nil {
		return leftover{}, err
	}
	// Background propagation: the namespace is emptied whole, so the
	// garbage collector must not orphan anything in it.
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	client := d.metadataClient.Resource(r.gvr).Namespace(ns.Name)

	deleted := false
	if r.canDeleteColl {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deleted = true
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			// Listed by discovery but not served: fall back to one by one.
		default:
			return leftover{estimate: estimate}, err
		}
	}
	if !r.canList {
		return leftover{estimate: estimate}, nil
	}
	if !deleted {
		items, err := client.List(ctx, metav1.ListOptions{})
		if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
			return leftover{estimate: estimate}, nil
		}
		if err != nil {
			return leftover{estimate: estimate}, err
		}
		for _, item := range items.Items {
			err := client.Delete(ctx, item.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				return leftover{estimate: estimate}, err
			}
		}
	}

	remaining, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return leftover{estimate: estimate}, nil
	}
	if err != nil {
		return leftover{estimate: estimate}, err
	}
	if len(remaining.Items) == 0 {
		return leftover{}, nil
	}
	byFinalizer := map[string]int{}
	for _, item := range remaining.Items {
		for _, f := range item.Finalizers {
			byFinalizer[f]++
		}
	}
	left := leftover{estimate: estimate, count: len(remaining.Items), byFinalizer: byFinalizer}
	switch {
	case estimate > 0:
		// Terminating gracefully.
	case len(byFinalizer) > 0:
		// Held by finalizers: give their controllers time.
		left.estimate = finalizerEstimateSeconds
	default:
		return left, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns.Name, r.gvr)
	}
	return left, nil
}

// estimateGracefulTermination is the longest grace period of the
// namespace's running pods, or 0 once that long has passed since the
// namespace was deleted. Other resources terminate at once.
func (d *contentDeleter) estimateGracefulTermination(ctx context.Context, gvr schema.GroupVersionResource, ns *corev1.Namespace) (int64, error) {
	if gvr.GroupResource() != podsResource.GroupResource() {
		return 0, nil
	}
	pods, err := d.pods.Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list pods to estimate their termination: %w", err)
	}
	var estimate int64
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	if time.Since(ns.DeletionTimestamp.Time) >= time.Duration(estimate)*time.Second {
		return 0, nil
	}
	return estimate, nil
}
