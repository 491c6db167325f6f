// Package disruption keeps the status of PodDisruptionBudgets: how many of
// the selected pods are healthy (ready, not being deleted, not recently
// evicted), how many must be (minAvailable, or the expected pod count
// minus maxUnavailable, percentages over the scale of the pods'
// controllers: Deployments, ReplicaSets, ReplicationControllers,
// StatefulSets and any resource with a scale subresource), how many
// disruptions are allowed, and the DisruptionAllowed condition. The
// eviction subresource reads that status and records evicted pods in
// status.disruptedPods; entries whose pod was not deleted within two
// minutes are dropped. Pods left with a stale DisruptionTarget condition
// (evicted but never deleted) get it reset to False.
package disruption

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

const (
	// DeletionTimeout is how long an evicted pod may take to be deleted
	// before the budget counts it as healthy again (upstream's).
	DeletionTimeout = 2 * time.Minute
	// stalePodDisruptionTimeout is how long a DisruptionTarget condition
	// may stay on a pod that is not being deleted.
	stalePodDisruptionTimeout = 2 * time.Minute
)

// Controller is the disruption controller; its queue holds PDB keys.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)

	mapper    apimeta.RESTMapper
	scales    scale.ScalesGetter
	discovery discovery.ServerResourcesInterface

	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rcLister  corelisters.ReplicationControllerLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	ssLister  appslisters.StatefulSetLister
	synced    []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
	// recheckQueue brings a budget back when a disrupted pod's deletion
	// timeout passes.
	recheckQueue workqueue.TypedDelayingInterface[string]
	// staleQueue holds pods whose DisruptionTarget condition may be stale.
	staleQueue   workqueue.TypedRateLimitingInterface[string]
	staleTimeout time.Duration
	clock        clock.Clock
}

// NewController returns the disruption controller. mapper, scales and
// disc resolve pods controlled by resources other than the built-in
// workloads (custom resources with a scale subresource).
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, pdbInformer policyinformers.PodDisruptionBudgetInformer,
	rcInformer coreinformers.ReplicationControllerInformer, rsInformer appsinformers.ReplicaSetInformer,
	dInformer appsinformers.DeploymentInformer, ssInformer appsinformers.StatefulSetInformer,
	mapper apimeta.RESTMapper, scales scale.ScalesGetter, disc discovery.ServerResourcesInterface, clk clock.WithTicker) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "controllermanager")
	c := &Controller{
		client:      client,
		recorder:    recorder,
		startEvents: start,
		mapper:      mapper,
		scales:      scales,
		discovery:   disc,
		pdbLister:   pdbInformer.Lister(),
		podLister:   podInformer.Lister(),
		rcLister:    rcInformer.Lister(),
		rsLister:    rsInformer.Lister(),
		dLister:     dInformer.Lister(),
		ssLister:    ssInformer.Lister(),
		synced: []cache.InformerSynced{podInformer.Informer().HasSynced, pdbInformer.Informer().HasSynced,
			rcInformer.Informer().HasSynced, rsInformer.Informer().HasSynced, dInformer.Informer().HasSynced, ssInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption", Clock: clk}),
		recheckQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "disruption_recheck", Clock: clk}),
		staleQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "stale_pod_disruption", Clock: clk}),
		staleTimeout: stalePodDisruptionTimeout,
		clock:        clk,
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, cur interface{}) { c.podChanged(cur) },
		DeleteFunc: c.podDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	if _, err := pdbInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch pod disruption budgets: %w", err)
	}
	return c, nil
}

// Run syncs budgets with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	var wg sync.WaitGroup
	defer func() {
		c.recheckQueue.ShutDown()
		c.staleQueue.ShutDown()
		wg.Wait()
	}()
	wg.Go(func() {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			return
		}
		wait.UntilWithContext(ctx, func(context.Context) {
			for {
				key, quit := c.recheckQueue.Get()
				if quit {
					return
				}
				c.queue.AddRateLimited(key)
				c.recheckQueue.Done(key)
			}
		}, time.Second)
	})
	wg.Go(func() {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			return
		}
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			for controller.ProcessNext(ctx, c.staleQueue, c.syncStalePodDisruption) {
			}
		}, time.Second)
	})
	controller.RunWorkers(ctx, "disruption", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("get key of %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) podChanged(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pdb := c.pdbForPod(pod); pdb != nil {
		c.enqueue(pdb)
	}
	if stale, after := c.staleDisruptionCondition(pod); stale {
		c.staleQueue.AddAfter(controller.PodKey(pod), after)
	}
}

func (c *Controller) podDeleted(obj interface{}) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	if pdb := c.pdbForPod(pod); pdb != nil {
		c.enqueue(pdb)
	}
}

// pdbForPod is the budget covering pod; with several, the first, and a
// warning event, as upstream.
func (c *Controller) pdbForPod(pod *corev1.Pod) *policyv1.PodDisruptionBudget {
	pdbs, err := c.pdbLister.GetPodPodDisruptionBudgets(pod)
	if err != nil || len(pdbs) == 0 {
		return nil
	}
	if len(pdbs) > 1 {
		msg := fmt.Sprintf("Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, pdbs[0].Name)
		c.recorder.Event(pod, corev1.EventTypeWarning, "MultiplePodDisruptionBudgets", msg)
	}
	return pdbs[0]
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return err
	}
	klog.FromContext(ctx).Error(err, "Failed to sync PDB", "podDisruptionBudget", klog.KObj(pdb))
	return c.failSafe(ctx, pdb, err)
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return err
	}
	pods, err := c.podLister.Pods(pdb.Namespace).List(sel)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return err
	}
	if len(pods) == 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desiredHealthy, unmanaged, err := c.expectedPodCount(ctx, pdb, pods)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" "+
			"field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.clock.Now()
	disrupted, recheck := c.disruptedPods(pods, pdb, now)
	healthy := countHealthy(pods, disrupted, now)
	if err := c.updateStatus(ctx, pdb, healthy, desiredHealthy, expected, disrupted); err != nil {
		return err
	}
	if recheck != nil {
		if key, err := controller.KeyFunc(pdb); err == nil {
			c.recheckQueue.AddAfter(key, recheck.Sub(now))
		}
	}
	return nil
}

// expectedPodCount returns how many pods the budget expects and how many
// must be healthy. An integer minAvailable needs no controllers: expected
// is the number of selected pods. Percentages and maxUnavailable count the
// desired scale of the pods' controllers.
func (c *Controller) expectedPodCount(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desiredHealthy int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		return expected, max(0, expected-int32(maxUnavailable)), unmanaged, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), pdb.Spec.MinAvailable.IntVal, nil, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.String:
		expected, unmanaged, err = c.expectedScale(ctx, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		return expected, int32(minAvailable), unmanaged, nil
	}
	return 0, 0, nil, nil
}

// controllerScale is a pod controller's identity and desired replicas.
type controllerScale struct {
	uid   types.UID
	scale int32
}

// expectedScale sums the desired replicas of the controllers of pods;
// pods without a controller are returned as unmanaged.
func (c *Controller) expectedScale(ctx context.Context, pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	finders := []func(context.Context, *metav1.OwnerReference, string) (*controllerScale, error){
		c.replicationController, c.deployment, c.replicaSet, c.statefulSet, c.scaleController,
	}
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, ok := scales[ref.UID]; ok {
			continue
		}
		found := false
		for _, find := range finders {
			cs, err := find(ctx, ref, pod.Namespace)
			if err != nil {
				return 0, nil, err
			}
			if cs != nil {
				scales[cs.uid] = cs.scale
				found = true
				break
			}
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
	}
	var total int32
	for _, n := range scales {
		total += n
	}
	return total, unmanaged, nil
}

// isKind reports whether ref is of kind in one of groups.
func isKind(ref *metav1.OwnerReference, kind string, groups ...string) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, err
	}
	return ref.Kind == kind && slices.Contains(groups, gv.Group), nil
}

func (c *Controller) replicaSet(_ context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error) {
	if ok, err := isKind(ref, "ReplicaSet", "apps", "extensions"); !ok || err != nil {
		return nil, err
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil, nil
	}
	// A Deployment's ReplicaSet counts at the Deployment's scale.
	if owner := metav1.GetControllerOf(rs); owner != nil && owner.Kind == "Deployment" {
		return nil, nil
	}
	return &controllerScale{rs.UID, replicas(rs.Spec.Replicas)}, nil
}

func (c *Controller) deployment(_ context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error) {
	if ok, err := isKind(ref, "ReplicaSet", "apps", "extensions"); !ok || err != nil {
		return nil, err
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil, nil
	}
	owner := metav1.GetControllerOf(rs)
	if owner == nil {
		return nil, nil
	}
	if ok, err := isKind(owner, "Deployment", "apps", "extensions"); !ok || err != nil {
		return nil, err
	}
	d, err := c.dLister.Deployments(namespace).Get(owner.Name)
	if err != nil || d.UID != owner.UID {
		return nil, nil
	}
	return &controllerScale{d.UID, replicas(d.Spec.Replicas)}, nil
}

func (c *Controller) replicationController(_ context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error) {
	if ok, err := isKind(ref, "ReplicationController", ""); !ok || err != nil {
		return nil, err
	}
	rc, err := c.rcLister.ReplicationControllers(namespace).Get(ref.Name)
	if err != nil || rc.UID != ref.UID {
		return nil, nil
	}
	return &controllerScale{rc.UID, replicas(rc.Spec.Replicas)}, nil
}

func (c *Controller) statefulSet(_ context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error) {
	if ok, err := isKind(ref, "StatefulSet", "apps"); !ok || err != nil {
		return nil, err
	}
	ss, err := c.ssLister.StatefulSets(namespace).Get(ref.Name)
	if err != nil || ss.UID != ref.UID {
		return nil, nil
	}
	return &controllerScale{ss.UID, replicas(ss.Spec.Replicas)}, nil
}

// scaleController reads the scale subresource of any other controller.
func (c *Controller) scaleController(ctx context.Context, ref *metav1.OwnerReference, namespace string) (*controllerScale, error) {
	if c.mapper == nil || c.scales == nil {
		return nil, nil
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return nil, err
	}
	gr := mapping.Resource.GroupResource()
	s, err := c.scales.Scales(namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Either the controller is gone, or it has no scale subresource.
		if ok, err := c.implementsScale(mapping.Resource); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("%s does not implement the scale subresource", gr.String())
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.UID != ref.UID {
		return nil, nil
	}
	return &controllerScale{s.UID, s.Spec.Replicas}, nil
}

func (c *Controller) implementsScale(gvr schema.GroupVersionResource) (bool, error) {
	if c.discovery == nil {
		return false, nil
	}
	list, err := c.discovery.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return false, err
	}
	for _, r := range list.APIResources {
		if r.Name != gvr.Resource+"/scale" || r.Kind != "Scale" {
			continue
		}
		for _, v := range scale.NewScaleConverter().ScaleVersions() {
			if r.Group == v.Group && r.Version == v.Version {
				return true, nil
			}
		}
	}
	return false, nil
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// disruptedPods keeps the budget's disrupted-pod entries still within
// DeletionTimeout (of pods not yet being deleted) and returns when the
// earliest of them expires.
func (c *Controller) disruptedPods(pods []*corev1.Pod, pdb *policyv1.PodDisruptionBudget, now time.Time) (map[string]metav1.Time, *time.Time) {
	result := map[string]metav1.Time{}
	if pdb.Status.DisruptedPods == nil {
		return result, nil
	}
	var recheck *time.Time
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expires := at.Add(DeletionTimeout)
		if expires.Before(now) {
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't",
				pdb.Namespace, pdb.Namespace)
			continue
		}
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
		result[pod.Name] = at
	}
	return result, recheck
}

// countHealthy counts ready pods that are neither being deleted nor
// recently disrupted.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(DeletionTimeout).After(now) {
			continue
		}
		if podutil.IsPodReady(pod) {
			n++
		}
	}
	return n
}

// failSafe allows no disruptions when the status cannot be computed.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, cause error) error {
	p := pdb.DeepCopy()
	p.Status.DisruptionsAllowed = 0
	if p.Status.Conditions == nil {
		p.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: p.Status.ObservedGeneration,
	})
	_, err := c.client.PolicyV1().PodDisruptionBudgets(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

func (c *Controller) updateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, healthy, desiredHealthy, expected int32, disrupted map[string]metav1.Time) error {
	allowed := healthy - desiredHealthy
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	s := pdb.Status
	if s.CurrentHealthy == healthy && s.DesiredHealthy == desiredHealthy && s.ExpectedPods == expected &&
		s.DisruptionsAllowed == allowed && apiequality.Semantic.DeepEqual(s.DisruptedPods, disrupted) &&
		s.ObservedGeneration == pdb.Generation && pdbhelper.ConditionsAreUpToDate(pdb) {
		return nil
	}
	p := pdb.DeepCopy()
	p.Status = policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desiredHealthy,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         p.Status.Conditions,
	}
	pdbhelper.UpdateDisruptionAllowedCondition(p)
	_, err := c.client.PolicyV1().PodDisruptionBudgets(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// staleDisruptionCondition reports whether a pod not being deleted carries
// a DisruptionTarget=True condition (not set by the kubelet), and how long
// until it is stale.
func (c *Controller) staleDisruptionCondition(pod *corev1.Pod) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil {
		return false, 0
	}
	_, cond := podutil.GetPodCondition(&pod.Status, corev1.DisruptionTarget)
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason == corev1.PodReasonTerminationByKubelet ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, 0
	}
	return true, max(0, c.staleTimeout-c.clock.Since(cond.LastTransitionTime.Time))
}

func (c *Controller) syncStalePodDisruption(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	stale, after := c.staleDisruptionCondition(pod)
	if !stale {
		return nil
	}
	if after > 0 {
		c.staleQueue.AddAfter(key, after)
		return nil
	}
	p := pod.DeepCopy()
	if !podutil.UpdatePodCondition(&p.Status, &corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		ObservedGeneration: podutil.CalculatePodConditionObservedGeneration(&p.Status, p.Generation, corev1.DisruptionTarget),
		Status:             corev1.ConditionFalse,
	}) {
		return nil
	}
	if _, err := c.client.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("reset DisruptionTarget condition of pod %s: %w", key, err)
	}
	klog.FromContext(ctx).V(2).Info("Reset stale DisruptionTarget condition to False", "pod", klog.KObj(pod))
	return nil
}
