// Package podautoscaler is the horizontal pod autoscaler, as upstream's:
// every sync period each HorizontalPodAutoscaler reads its target's scale
// subresource (Deployments, ReplicaSets, ReplicationControllers,
// StatefulSets, custom resources), computes a replica count from each
// metric (resource and container-resource utilization or value from
// metrics.k8s.io, pods and object metrics from custom.metrics.k8s.io,
// external metrics), takes the largest, stabilizes it (the 5-minute
// scale-down window, or spec.behavior's windows, policies and
// tolerances), bounds it by min/maxReplicas and the scale-up limit, and
// writes the scale. Status carries current/desired replicas, current
// metrics and upstream's AbleToScale, ScalingActive, ScalingLimited (and
// ScaledToZero) conditions; failures are reported with upstream's reasons
// (FailedGetScale, FailedGetResourceMetric, FailedComputeMetricsReplicas,
// ...), so an HPA without a metrics server says why it cannot scale.
package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Options are upstream's --horizontal-pod-autoscaler-* settings.
type Options struct {
	SyncPeriod                    time.Duration
	DownscaleStabilizationWindow  time.Duration
	Tolerance                     float64
	CPUInitializationPeriod       time.Duration
	DelayOfInitialReadinessStatus time.Duration
}

// DefaultOptions are upstream's defaults.
func DefaultOptions() Options {
	return Options{
		SyncPeriod:                    15 * time.Second,
		DownscaleStabilizationWindow:  5 * time.Minute,
		Tolerance:                     0.1,
		CPUInitializationPeriod:       5 * time.Minute,
		DelayOfInitialReadinessStatus: 30 * time.Second,
	}
}

// Without behavior, a scale-up at most doubles the replicas (at least 4).
const (
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

// errSpec marks errors caused by the HPA's spec.
var errSpec = errors.New("")

type timestampedRecommendation struct {
	recommendation int32
	timestamp      time.Time
}

type timestampedScaleEvent struct {
	replicaChange int32
	timestamp     time.Time
	outdated      bool
}

// Controller is the horizontal pod autoscaler.
type Controller struct {
	client      kubernetes.Interface
	scales      scale.ScalesGetter
	mapper      apimeta.RESTMapper
	recorder    record.EventRecorder
	startEvents func(context.Context)

	hpaLister autoscalinglisters.HorizontalPodAutoscalerLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]

	calc *replicaCalculator
	opts Options
	now  func() time.Time

	mu              sync.Mutex
	recommendations map[string][]timestampedRecommendation
	scaleUpEvents   map[string][]timestampedScaleEvent
	scaleDownEvents map[string][]timestampedScaleEvent
	// selectors are the pod selectors of the HPAs' targets, to catch two
	// HPAs scaling the same pods.
	selectors map[string]labels.Selector
}

// fixedInterval requeues every item after the same interval: the sync
// period.
type fixedInterval time.Duration

func (f fixedInterval) When(string) time.Duration { return time.Duration(f) }
func (f fixedInterval) NumRequeues(string) int    { return 1 }
func (f fixedInterval) Forget(string)             {}

// NewController returns the autoscaler.
func NewController(client kubernetes.Interface, scales scale.ScalesGetter, mapper apimeta.RESTMapper, metrics MetricsClient,
	hpaInformer autoscalinginformers.HorizontalPodAutoscalerInformer, podInformer coreinformers.PodInformer, opts Options) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "horizontal-pod-autoscaler")
	c := &Controller{
		client:      client,
		scales:      scales,
		mapper:      mapper,
		recorder:    recorder,
		startEvents: start,
		hpaLister:   hpaInformer.Lister(),
		podLister:   podInformer.Lister(),
		synced:      []cache.InformerSynced{hpaInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig[string](fixedInterval(opts.SyncPeriod),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "horizontalpodautoscaler"}),
		calc: &replicaCalculator{metrics: metrics, podLister: podInformer.Lister(),
			cpuInitializationPeriod: opts.CPUInitializationPeriod, delayOfInitialReadinessStatus: opts.DelayOfInitialReadinessStatus, now: time.Now},
		opts:            opts,
		now:             time.Now,
		recommendations: map[string][]timestampedRecommendation{},
		scaleUpEvents:   map[string][]timestampedScaleEvent{},
		scaleDownEvents: map[string][]timestampedScaleEvent{},
		selectors:       map[string]labels.Selector{},
	}
	if _, err := hpaInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*autoscalingv2.HorizontalPodAutoscaler), cur.(*autoscalingv2.HorizontalPodAutoscaler)
			if o.Generation != n.Generation {
				c.enqueue(cur) // a spec change is acted on at once
				return
			}
			if key, err := controller.KeyFunc(cur); err == nil {
				c.queue.AddRateLimited(key)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if key, err := controller.KeyFunc(obj); err == nil {
				c.queue.Forget(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch horizontal pod autoscalers: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueue(obj interface{}) {
	if key, err := controller.KeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// Run autoscales until ctx ends. Every HPA is requeued a sync period
// after each reconcile.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	defer c.queue.ShutDown()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for c.processNext(ctx) {
			}
		}, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	deleted, err := c.reconcileKey(ctx, key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Reconciling HorizontalPodAutoscaler failed", "hpa", key)
	}
	if !deleted {
		c.queue.AddRateLimited(key)
	}
	return true
}

func (c *Controller) reconcileKey(ctx context.Context, key string) (bool, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return true, err
	}
	hpa, err := c.hpaLister.HorizontalPodAutoscalers(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.recommendations, key)
		delete(c.scaleUpEvents, key)
		delete(c.scaleDownEvents, key)
		delete(c.selectors, key)
		c.mu.Unlock()
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, c.reconcile(ctx, hpa, key)
}

func (c *Controller) failGetScale(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, original *autoscalingv2.HorizontalPodAutoscalerStatus, err error) {
	c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
	setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "the HPA controller was unable to get the target's current scale: %v", err)
	if err := c.updateStatusIfNeeded(ctx, original, hpa); err != nil {
		utilruntime.HandleError(err)
	}
}

func (c *Controller) reconcile(ctx context.Context, shared *autoscalingv2.HorizontalPodAutoscaler, key string) (retErr error) {
	hpa := shared.DeepCopy()
	original := hpa.Status.DeepCopy()
	target := hpa.Spec.ScaleTargetRef
	reference := fmt.Sprintf("%s/%s/%s", target.Kind, hpa.Namespace, target.Name)

	gv, err := schema.ParseGroupVersion(target.APIVersion)
	if err != nil {
		c.failGetScale(ctx, hpa, original, err)
		return fmt.Errorf("invalid API version in scale target reference: %v%w", err, errSpec)
	}
	mappings, err := c.mapper.RESTMappings(schema.GroupKind{Group: gv.Group, Kind: target.Kind})
	if err != nil {
		c.failGetScale(ctx, hpa, original, err)
		return fmt.Errorf("unable to determine resource for scale target reference: %w", err)
	}
	sc, targetGR, err := c.scaleFor(ctx, hpa.Namespace, target.Name, mappings)
	if err != nil {
		c.failGetScale(ctx, hpa, original, err)
		return fmt.Errorf("failed to query scale subresource for %s: %w", reference, err)
	}
	setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
	current := sc.Spec.Replicas
	c.recordInitialRecommendation(current, key)

	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	var (
		desired, metricDesired int32
		metricName, reason     string
		statuses               []autoscalingv2.MetricStatus
	)
	rescale := true
	hasObjectOrExternal := hasObjectOrExternalMetrics(hpa)
	scaledToZero := conditionTrue(hpa, autoscalingv2.ScaledToZero)
	compute := true
	switch {
	case current == 0:
		// Scaled to zero by the user: hands off, unless the autoscaler
		// itself scaled to zero on object/external metrics.
		if !((minReplicas != 0 && scaledToZero) || (scaledToZero && hasObjectOrExternal)) {
			compute, rescale, desired = false, false, 0
			setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
		}
	case current > hpa.Spec.MaxReplicas:
		reason, desired, compute = "Current number of replicas above Spec.MaxReplicas", hpa.Spec.MaxReplicas, false
	case current < minReplicas:
		reason, desired, compute = "Current number of replicas below Spec.MinReplicas", minReplicas, false
	}
	if compute {
		metricDesired, metricName, statuses, err = c.replicasForMetrics(ctx, hpa, sc)
		if err != nil && metricDesired == -1 {
			c.setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false)
			if err := c.updateStatusIfNeeded(ctx, original, hpa); err != nil {
				utilruntime.HandleError(err)
			}
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", err.Error())
			return fmt.Errorf("failed to compute desired number of replicas based on listed metrics for %s: %w", reference, err)
		}
		if err != nil {
			retErr = err // some metrics failed; the others still count
		}
		if metricDesired > desired {
			desired = metricDesired
		}
		switch {
		case desired > current:
			reason = fmt.Sprintf("%s above target", metricName)
		case desired < current:
			reason = "All metrics below target"
		}
		if hpa.Spec.Behavior == nil {
			desired = c.normalize(hpa, key, current, desired, minReplicas)
		} else {
			desired = c.normalizeWithBehaviors(hpa, key, current, desired, minReplicas)
		}
		if current == 0 && minReplicas != 0 && scaledToZero && desired < minReplicas {
			desired = minReplicas
			if reason == "" {
				reason = "Current number of replicas below Spec.MinReplicas"
			}
		}
		rescale = desired != current
	}

	if rescale {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			sc.Spec.Replicas = desired
			_, err := c.scales.Scales(hpa.Namespace).Update(ctx, targetGR, sc, metav1.UpdateOptions{})
			if err == nil {
				return nil
			}
			if latest, getErr := c.scales.Scales(hpa.Namespace).Get(ctx, targetGR, target.Name, metav1.GetOptions{}); getErr == nil {
				sc = latest
			}
			return err
		})
		if err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err.Error())
			setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: %v", err)
			c.setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false)
			if err := c.updateStatusIfNeeded(ctx, original, hpa); err != nil {
				utilruntime.HandleError(err)
			}
			return fmt.Errorf("failed to rescale %s: %w", reference, err)
		}
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale to %d", desired)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		c.storeScaleEvent(hpa.Spec.Behavior, key, current, desired)
		klog.FromContext(ctx).Info("Successfully rescaled", "HPA", klog.KObj(hpa), "currentReplicas", current, "desiredReplicas", desired, "reason", reason)
		if current > 0 && desired == 0 && minReplicas == 0 && hasObjectOrExternal {
			setCondition(hpa, autoscalingv2.ScaledToZero, corev1.ConditionTrue, "ScaledToZero", "the HPA controller scaled the workload to zero")
		} else {
			setCondition(hpa, autoscalingv2.ScaledToZero, corev1.ConditionFalse, "NotScaledToZero", "the HPA controller did not scale the workload to zero")
		}
	} else {
		desired = current
	}
	c.setStatus(hpa, current, desired, statuses, rescale)
	if err := c.updateStatusIfNeeded(ctx, original, hpa); err != nil {
		return err
	}
	return retErr
}

// scaleFor reads the scale subresource through the first mapping that
// serves it.
func (c *Controller) scaleFor(ctx context.Context, namespace, name string, mappings []*apimeta.RESTMapping) (*autoscalingv1.Scale, schema.GroupResource, error) {
	var first error
	for i, m := range mappings {
		gr := m.Resource.GroupResource()
		s, err := c.scales.Scales(namespace).Get(ctx, gr, name, metav1.GetOptions{})
		if err == nil {
			return s, gr, nil
		}
		if i == 0 {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("unrecognized resource")
	}
	return nil, schema.GroupResource{}, first
}

// replicasForMetrics is the largest proposal of the metrics that could be
// computed; -1 when none could, or when a failure might hide a needed
// scale-up.
func (c *Controller) replicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, sc *autoscalingv1.Scale) (int32, string, []autoscalingv2.MetricStatus, error) {
	selector, err := c.parseSelector(hpa, sc.Status.Selector)
	if err != nil {
		return -1, "", nil, err
	}
	statuses := make([]autoscalingv2.MetricStatus, len(hpa.Spec.Metrics))
	var replicas int32
	var metric string
	invalid := 0
	var firstErr error
	var firstCondition autoscalingv2.HorizontalPodAutoscalerCondition
	for i, spec := range hpa.Spec.Metrics {
		proposal, name, condition, err := c.replicasForMetric(ctx, hpa, spec, sc.Spec.Replicas, sc.Status.Replicas, selector, &statuses[i])
		if err != nil {
			if invalid == 0 {
				firstErr, firstCondition = err, condition
			}
			invalid++
			continue
		}
		if replicas == 0 || proposal > replicas {
			replicas, metric = proposal, name
		}
	}
	if firstErr != nil {
		firstErr = fmt.Errorf("invalid metrics (%v invalid out of %v), first error is: %w", invalid, len(hpa.Spec.Metrics), firstErr)
	}
	if invalid >= len(hpa.Spec.Metrics) || (invalid > 0 && replicas < sc.Spec.Replicas) {
		setCondition(hpa, firstCondition.Type, firstCondition.Status, firstCondition.Reason, "%s", firstCondition.Message)
		return -1, "", statuses, firstErr
	}
	setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from %s", metric)
	return replicas, metric, statuses, firstErr
}

// parseSelector checks the target's selector and that no other HPA
// scales the same pods.
func (c *Controller) parseSelector(hpa *autoscalingv2.HorizontalPodAutoscaler, s string) (labels.Selector, error) {
	if s == "" {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", "selector is required")
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector")
		return nil, errors.New("selector is required")
	}
	selector, err := labels.Parse(s)
	if err != nil {
		msg := fmt.Sprintf("couldn't convert selector into a corresponding internal selector object: %v", err)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "InvalidSelector", msg)
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "%s", msg)
		return nil, errors.New(msg)
	}
	key := hpa.Namespace + "/" + hpa.Name
	c.mu.Lock()
	c.selectors[key] = selector
	others := map[string]labels.Selector{}
	for k, sel := range c.selectors {
		if k != key {
			others[k] = sel
		}
	}
	c.mu.Unlock()
	pods, err := c.podLister.Pods(hpa.Namespace).List(selector)
	if err != nil {
		return nil, err
	}
	for k, sel := range others {
		ns, name, _ := cache.SplitMetaNamespaceKey(k)
		if ns != hpa.Namespace {
			continue
		}
		for _, p := range pods {
			if sel.Matches(labels.Set(p.Labels)) {
				msg := fmt.Sprintf("pods by selector %v are controlled by more than one HPA (e.g. %v)", s, []string{hpa.Name, name})
				c.recorder.Event(hpa, corev1.EventTypeWarning, "AmbiguousSelector", msg)
				setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "AmbiguousSelector", "%s", msg)
				return nil, errors.New(msg)
			}
		}
	}
	return selector, nil
}

// unableCondition is the ScalingActive=False condition (and event) of a
// metric that could not be computed.
func (c *Controller) unableCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, reason string, err error) autoscalingv2.HorizontalPodAutoscalerCondition {
	c.recorder.Event(hpa, corev1.EventTypeWarning, reason, err.Error())
	return autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: reason,
		Message: fmt.Sprintf("the HPA was unable to compute the replica count: %v", err),
	}
}

func (c *Controller) tolerances(hpa *autoscalingv2.HorizontalPodAutoscaler) tolerances {
	t := tolerances{down: c.opts.Tolerance, up: c.opts.Tolerance}
	if b := hpa.Spec.Behavior; b != nil {
		if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
			t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
		}
		if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
			t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
		}
	}
	return t
}

func (c *Controller) replicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, specReplicas, statusReplicas int32,
	selector labels.Selector, status *autoscalingv2.MetricStatus) (int32, string, autoscalingv2.HorizontalPodAutoscalerCondition, error) {
	tol := c.tolerances(hpa)
	none := autoscalingv2.HorizontalPodAutoscalerCondition{}
	switch spec.Type {
	case autoscalingv2.ObjectMetricSourceType:
		metricSelector, err := metav1.LabelSelectorAsSelector(spec.Object.Metric.Selector)
		if err != nil {
			return 0, "", c.unableCondition(hpa, "FailedGetObjectMetric", err), fmt.Errorf("failed to get object metric value: %w", err)
		}
		st := autoscalingv2.MetricStatus{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{
			DescribedObject: spec.Object.DescribedObject,
			Metric:          autoscalingv2.MetricIdentifier{Name: spec.Object.Metric.Name, Selector: spec.Object.Metric.Selector},
		}}
		target := spec.Object.Target
		switch {
		case target.Type == autoscalingv2.ValueMetricType && target.Value != nil:
			n, usage, _, err := c.calc.objectMetricReplicas(specReplicas, target.Value.MilliValue(), spec.Object.Metric.Name, tol, hpa.Namespace, &spec.Object.DescribedObject, selector, metricSelector)
			if err != nil {
				return 0, "", c.unableCondition(hpa, "FailedGetObjectMetric", err), fmt.Errorf("failed to get object metric value: %w", err)
			}
			st.Object.Current.Value = resource.NewMilliQuantity(usage, resource.DecimalSI)
			*status = st
			return n, fmt.Sprintf("%s metric %s", spec.Object.DescribedObject.Kind, spec.Object.Metric.Name), none, nil
		case target.Type == autoscalingv2.AverageValueMetricType && target.AverageValue != nil:
			n, usage, _, err := c.calc.objectPerPodMetricReplicas(statusReplicas, target.AverageValue.MilliValue(), spec.Object.Metric.Name, tol, hpa.Namespace, &spec.Object.DescribedObject, metricSelector)
			if err != nil {
				err = fmt.Errorf("failed to get %s object metric: %w", spec.Object.Metric.Name, err)
				return 0, "", c.unableCondition(hpa, "FailedGetObjectMetric", err), fmt.Errorf("failed to get object metric value: %w", err)
			}
			st.Object.Current.AverageValue = resource.NewMilliQuantity(usage, resource.DecimalSI)
			*status = st
			return n, fmt.Sprintf("external metric %s(%+v)", spec.Object.Metric.Name, spec.Object.Metric.Selector), none, nil
		}
		err = errors.New("invalid object metric source: neither a value target nor an average value target was set")
		return 0, "", c.unableCondition(hpa, "FailedGetObjectMetric", err), fmt.Errorf("failed to get object metric value: %w", err)

	case autoscalingv2.PodsMetricSourceType:
		metricSelector, err := metav1.LabelSelectorAsSelector(spec.Pods.Metric.Selector)
		if err != nil {
			return 0, "", c.unableCondition(hpa, "FailedGetPodsMetric", err), fmt.Errorf("failed to get pods metric value: %w", err)
		}
		n, usage, _, err := c.calc.podsMetricReplicas(specReplicas, spec.Pods.Target.AverageValue.MilliValue(), spec.Pods.Metric.Name, tol, hpa.Namespace, selector, metricSelector)
		if err != nil {
			return 0, "", c.unableCondition(hpa, "FailedGetPodsMetric", err), fmt.Errorf("failed to get pods metric value: %w", err)
		}
		*status = autoscalingv2.MetricStatus{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: spec.Pods.Metric.Name, Selector: spec.Pods.Metric.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, resource.DecimalSI)},
		}}
		return n, fmt.Sprintf("pods metric %s", spec.Pods.Metric.Name), none, nil

	case autoscalingv2.ResourceMetricSourceType:
		n, value, name, err := c.resourceMetric(ctx, specReplicas, spec.Resource.Target, spec.Resource.Name, hpa, "", selector, spec.Type)
		if err != nil {
			return 0, "", c.unableCondition(hpa, "FailedGetResourceMetric", err), fmt.Errorf("failed to get %s resource metric value: %w", spec.Resource.Name, err)
		}
		*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: spec.Resource.Name, Current: *value}}
		return n, name, none, nil

	case autoscalingv2.ContainerResourceMetricSourceType:
		n, value, name, err := c.resourceMetric(ctx, specReplicas, spec.ContainerResource.Target, spec.ContainerResource.Name, hpa, spec.ContainerResource.Container, selector, spec.Type)
		if err != nil {
			return 0, "", c.unableCondition(hpa, "FailedGetContainerResourceMetric", err), fmt.Errorf("failed to get %s container metric value: %w", spec.ContainerResource.Container, err)
		}
		*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{
			Name: spec.ContainerResource.Name, Container: spec.ContainerResource.Container, Current: *value}}
		return n, name, none, nil

	case autoscalingv2.ExternalMetricSourceType:
		id := autoscalingv2.MetricIdentifier{Name: spec.External.Metric.Name, Selector: spec.External.Metric.Selector}
		name := fmt.Sprintf("external metric %s(%+v)", spec.External.Metric.Name, spec.External.Metric.Selector)
		switch {
		case spec.External.Target.AverageValue != nil:
			n, usage, _, err := c.calc.externalPerPodMetricReplicas(statusReplicas, spec.External.Target.AverageValue.MilliValue(), spec.External.Metric.Name, tol, hpa.Namespace, spec.External.Metric.Selector)
			if err != nil {
				err = fmt.Errorf("failed to get %s external metric: %w", spec.External.Metric.Name, err)
				return 0, "", c.unableCondition(hpa, "FailedGetExternalMetric", err), fmt.Errorf("failed to get %s external metric value: %w", spec.External.Metric.Name, err)
			}
			*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
				Metric: id, Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, resource.DecimalSI)}}}
			return n, name, none, nil
		case spec.External.Target.Value != nil:
			n, usage, _, err := c.calc.externalMetricReplicas(specReplicas, spec.External.Target.Value.MilliValue(), spec.External.Metric.Name, tol, hpa.Namespace, spec.External.Metric.Selector, selector)
			if err != nil {
				err = fmt.Errorf("failed to get external metric %s: %w", spec.External.Metric.Name, err)
				return 0, "", c.unableCondition(hpa, "FailedGetExternalMetric", err), fmt.Errorf("failed to get %s external metric value: %w", spec.External.Metric.Name, err)
			}
			*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
				Metric: id, Current: autoscalingv2.MetricValueStatus{Value: resource.NewMilliQuantity(usage, resource.DecimalSI)}}}
			return n, name, none, nil
		}
		err := errors.New("invalid external metric source: neither a value target nor an average value target was set")
		return 0, "", c.unableCondition(hpa, "FailedGetExternalMetric", err), fmt.Errorf("failed to get %s external metric value: %w", spec.External.Metric.Name, err)
	}
	err := fmt.Errorf("unknown metric source type %q%w", string(spec.Type), errSpec)
	return 0, "", c.unableCondition(hpa, "InvalidMetricSourceType", err), err
}

// resourceMetric handles resource and container-resource metrics: an
// average value, or an average utilization of the requests.
func (c *Controller) resourceMetric(ctx context.Context, current int32, target autoscalingv2.MetricTarget, name corev1.ResourceName, hpa *autoscalingv2.HorizontalPodAutoscaler,
	container string, selector labels.Selector, source autoscalingv2.MetricSourceType) (int32, *autoscalingv2.MetricValueStatus, string, error) {
	tol := c.tolerances(hpa)
	if target.AverageValue != nil {
		n, raw, _, err := c.calc.rawResourceReplicas(ctx, current, target.AverageValue.MilliValue(), name, tol, hpa.Namespace, selector, container)
		if err != nil {
			return 0, nil, "", fmt.Errorf("failed to get %s usage: %w", name, err)
		}
		q := quantity(name, raw)
		return n, &autoscalingv2.MetricValueStatus{AverageValue: &q}, fmt.Sprintf("%s resource", name), nil
	}
	if target.AverageUtilization == nil {
		return 0, nil, "", errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	n, utilization, raw, _, err := c.calc.resourceReplicas(ctx, current, *target.AverageUtilization, name, tol, hpa.Namespace, selector, container)
	if err != nil {
		return 0, nil, "", fmt.Errorf("failed to get %s utilization: %w", name, err)
	}
	metric := fmt.Sprintf("%s resource utilization (percentage of request)", name)
	if source == autoscalingv2.ContainerResourceMetricSourceType {
		metric = fmt.Sprintf("%s container resource utilization (percentage of request)", name)
	}
	q := quantity(name, raw)
	return n, &autoscalingv2.MetricValueStatus{AverageUtilization: &utilization, AverageValue: &q}, metric, nil
}

func quantity(name corev1.ResourceName, milli int64) resource.Quantity {
	format := resource.DecimalSI
	if name == corev1.ResourceMemory {
		format = resource.BinarySI
	}
	return *resource.NewMilliQuantity(milli, format)
}

func (c *Controller) recordInitialRecommendation(current int32, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recommendations[key] == nil {
		c.recommendations[key] = []timestampedRecommendation{{current, c.now()}}
	}
}

// remember stores a recommendation, reusing the slot of one older than
// the window.
func (c *Controller) remember(key string, rec int32, oldIndex int, found bool) {
	entry := timestampedRecommendation{rec, c.now()}
	if found {
		c.recommendations[key][oldIndex] = entry
	} else {
		c.recommendations[key] = append(c.recommendations[key], entry)
	}
}

// normalize (no behavior): the highest recommendation of the scale-down
// window, within min/max and the scale-up limit.
func (c *Controller) normalize(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, proposed, minReplicas int32) int32 {
	c.mu.Lock()
	stabilized := proposed
	cutoff := c.now().Add(-c.opts.DownscaleStabilizationWindow)
	oldIndex, found := 0, false
	for i, r := range c.recommendations[key] {
		if r.timestamp.Before(cutoff) {
			oldIndex, found = i, true
		} else if r.recommendation > stabilized {
			stabilized = r.recommendation
		}
	}
	c.remember(key, proposed, oldIndex, found)
	c.mu.Unlock()

	if stabilized != proposed {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
	} else {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}
	desired, reason, message := limitByRules(current, stabilized, minReplicas, hpa.Spec.MaxReplicas)
	status := corev1.ConditionFalse
	if desired != stabilized {
		status = corev1.ConditionTrue
	}
	setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, "%s", message)
	return desired
}

func limitByRules(current, desired, minReplicas, maxReplicas int32) (int32, string, string) {
	maxAllowed := maxReplicas
	reason, message := "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	if limit := int32(math.Max(scaleUpLimitFactor*float64(current), scaleUpLimitMinimum)); maxReplicas > limit {
		maxAllowed = limit
		reason, message = "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
	}
	switch {
	case desired < minReplicas:
		return minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	case desired > maxAllowed:
		return maxAllowed, reason, message
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// normalizeWithBehaviors applies spec.behavior: stabilization windows in
// both directions, then the scaling policies' rate limits.
func (c *Controller) normalizeWithBehaviors(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, proposed, minReplicas int32) int32 {
	b := hpa.Spec.Behavior
	if b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds == nil {
		w := int32(c.opts.DownscaleStabilizationWindow.Seconds())
		b.ScaleDown.StabilizationWindowSeconds = &w
	}
	up, down := b.ScaleUp, b.ScaleDown
	if up == nil {
		up = &autoscalingv2.HPAScalingRules{}
	}
	if down == nil {
		down = &autoscalingv2.HPAScalingRules{}
	}
	stabilized, reason, message := c.stabilizeWithBehaviors(key, current, proposed, up, down)
	if stabilized != proposed {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, reason, "%s", message)
	} else {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}
	desired, reason, message := c.limitByBehaviorRate(key, current, stabilized, minReplicas, hpa.Spec.MaxReplicas, up, down)
	status := corev1.ConditionFalse
	if desired != stabilized {
		status = corev1.ConditionTrue
	}
	setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, "%s", message)
	return desired
}

func (c *Controller) stabilizeWithBehaviors(key string, current, proposed int32, up, down *autoscalingv2.HPAScalingRules) (int32, string, string) {
	now := c.now()
	window := func(r *autoscalingv2.HPAScalingRules) time.Duration {
		if r.StabilizationWindowSeconds == nil {
			return 0
		}
		return time.Duration(*r.StabilizationWindowSeconds) * time.Second
	}
	upCutoff, downCutoff := now.Add(-window(up)), now.Add(-window(down))
	upRec, downRec := proposed, proposed
	c.mu.Lock()
	oldIndex, found := 0, false
	for i, r := range c.recommendations[key] {
		if r.timestamp.After(upCutoff) {
			upRec = min(upRec, r.recommendation)
		}
		if r.timestamp.After(downCutoff) {
			downRec = max(downRec, r.recommendation)
		}
		if r.timestamp.Before(upCutoff) && r.timestamp.Before(downCutoff) {
			oldIndex, found = i, true
		}
	}
	c.remember(key, proposed, oldIndex, found)
	c.mu.Unlock()
	rec := max(current, upRec)
	rec = min(rec, downRec)
	if proposed >= current {
		return rec, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
	}
	return rec, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
}

func (c *Controller) limitByBehaviorRate(key string, current, desired, minReplicas, maxReplicas int32, up, down *autoscalingv2.HPAScalingRules) (int32, string, string) {
	c.mu.Lock()
	ups, downs := c.scaleUpEvents[key], c.scaleDownEvents[key]
	c.mu.Unlock()
	switch {
	case desired > current:
		limit := max(c.scaleUpLimit(current, ups, downs, up), current)
		maxAllowed, reason, message := maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if maxReplicas > limit {
			maxAllowed, reason, message = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > maxAllowed {
			return maxAllowed, reason, message
		}
	case desired < current:
		limit := min(c.scaleDownLimit(current, ups, downs, down), current)
		minAllowed, reason, message := minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if minReplicas < limit {
			minAllowed, reason, message = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if desired < minAllowed {
			return minAllowed, reason, message
		}
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// changeInPeriod sums the replica changes of events within the period.
func (c *Controller) changeInPeriod(periodSeconds int32, events []timestampedScaleEvent) int32 {
	cutoff := c.now().Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range events {
		if e.timestamp.After(cutoff) {
			n += e.replicaChange
		}
	}
	return n
}

func selectPolicy(r *autoscalingv2.HPAScalingRules) autoscalingv2.ScalingPolicySelect {
	if r.SelectPolicy == nil {
		return autoscalingv2.MaxChangePolicySelect
	}
	return *r.SelectPolicy
}

func (c *Controller) scaleUpLimit(current int32, ups, downs []timestampedScaleEvent, r *autoscalingv2.HPAScalingRules) int32 {
	sel := selectPolicy(r)
	if sel == autoscalingv2.DisabledPolicySelect {
		return current
	}
	result, pick := int32(math.MinInt32), func(a, b int32) int32 { return max(a, b) }
	if sel == autoscalingv2.MinChangePolicySelect {
		result, pick = math.MaxInt32, func(a, b int32) int32 { return min(a, b) }
	}
	for _, p := range r.Policies {
		start := current - c.changeInPeriod(p.PeriodSeconds, ups) + c.changeInPeriod(p.PeriodSeconds, downs)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start + p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

func (c *Controller) scaleDownLimit(current int32, ups, downs []timestampedScaleEvent, r *autoscalingv2.HPAScalingRules) int32 {
	sel := selectPolicy(r)
	if sel == autoscalingv2.DisabledPolicySelect {
		return current
	}
	result, pick := int32(math.MaxInt32), func(a, b int32) int32 { return min(a, b) }
	if sel == autoscalingv2.MinChangePolicySelect {
		result, pick = math.MinInt32, func(a, b int32) int32 { return max(a, b) }
	}
	for _, p := range r.Policies {
		start := current - c.changeInPeriod(p.PeriodSeconds, ups) + c.changeInPeriod(p.PeriodSeconds, downs)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// storeScaleEvent records a rescale for the behavior's rate policies.
func (c *Controller) storeScaleEvent(b *autoscalingv2.HorizontalPodAutoscalerBehavior, key string, prev, next int32) {
	if b == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	events, rules, change := c.scaleDownEvents, b.ScaleDown, prev-next
	if next > prev {
		events, rules, change = c.scaleUpEvents, b.ScaleUp, next-prev
	}
	var longest int32
	if rules != nil {
		for _, p := range rules.Policies {
			longest = max(longest, p.PeriodSeconds)
		}
	}
	cutoff := c.now().Add(-time.Duration(longest) * time.Second)
	list := events[key]
	e := timestampedScaleEvent{change, c.now(), false}
	for i := range list {
		if list[i].timestamp.Before(cutoff) {
			list[i] = e // reuse an outdated slot
			return
		}
	}
	events[key] = append(list, e)
}

func (c *Controller) setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, current, desired int32, metrics []autoscalingv2.MetricStatus, rescale bool) {
	generation := hpa.Generation
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		CurrentReplicas:    current,
		DesiredReplicas:    desired,
		LastScaleTime:      hpa.Status.LastScaleTime,
		CurrentMetrics:     metrics,
		Conditions:         hpa.Status.Conditions,
		ObservedGeneration: &generation,
	}
	if rescale {
		now := metav1.NewTime(c.now())
		hpa.Status.LastScaleTime = &now
	}
}

func (c *Controller) updateStatusIfNeeded(ctx context.Context, original *autoscalingv2.HorizontalPodAutoscalerStatus, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	if apiequality.Semantic.DeepEqual(original, &hpa.Status) {
		return nil
	}
	if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, hpa, metav1.UpdateOptions{}); err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedUpdateStatus", err.Error())
		return fmt.Errorf("failed to update status for %s: %w", hpa.Name, err)
	}
	return nil
}

func hasObjectOrExternalMetrics(hpa *autoscalingv2.HorizontalPodAutoscaler) bool {
	for _, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ObjectMetricSourceType || m.Type == autoscalingv2.ExternalMetricSourceType {
			return true
		}
	}
	return false
}

func conditionTrue(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) bool {
	for _, cond := range hpa.Status.Conditions {
		if cond.Type == t {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// setCondition sets a condition, moving its transition time only when its
// status changes.
func setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, message string, args ...interface{}) {
	var cond *autoscalingv2.HorizontalPodAutoscalerCondition
	for i := range hpa.Status.Conditions {
		if hpa.Status.Conditions[i].Type == t {
			cond = &hpa.Status.Conditions[i]
		}
	}
	if cond == nil {
		hpa.Status.Conditions = append(hpa.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t})
		cond = &hpa.Status.Conditions[len(hpa.Status.Conditions)-1]
	}
	if cond.Status != status {
		cond.LastTransitionTime = metav1.Now()
	}
	cond.Status, cond.Reason, cond.Message = status, reason, fmt.Sprintf(message, args...)
}
