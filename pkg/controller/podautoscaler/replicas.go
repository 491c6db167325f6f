package podautoscaler

import (
	"context"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	resourcehelpers "k8s.io/component-helpers/resource"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// tolerances is how far below (down) and above (up) the target a ratio
// may be without scaling.
type tolerances struct {
	down, up float64
}

func (t tolerances) within(ratio float64) bool {
	return 1.0-t.down <= ratio && ratio <= 1.0+t.up
}

// replicaCalculator turns metrics into replica counts, as upstream's: pods
// that are pending, not ready yet (CPU during initialization), missing
// metrics or being deleted are accounted for conservatively, so that the
// autoscaler neither scales up on pods that just started nor down on pods
// it cannot see.
type replicaCalculator struct {
	metrics                       MetricsClient
	podLister                     corelisters.PodLister
	cpuInitializationPeriod       time.Duration
	delayOfInitialReadinessStatus time.Duration
	now                           func() time.Time
}

func (c *replicaCalculator) resourceReplicas(ctx context.Context, current int32, targetUtilization int32, resource corev1.ResourceName, tol tolerances, namespace string, selector labels.Selector, container string) (int32, int32, int64, time.Time, error) {
	metrics, timestamp, err := c.metrics.GetResourceMetric(ctx, resource, namespace, selector, container)
	if err != nil {
		return 0, 0, 0, time.Time{}, fmt.Errorf("unable to get metrics for resource %s: %w", resource, err)
	}
	pods, err := c.podLister.Pods(namespace).List(selector)
	if err != nil {
		return 0, 0, 0, time.Time{}, fmt.Errorf("unable to get pods while calculating replica count: %w", err)
	}
	if len(pods) == 0 {
		return 0, 0, 0, time.Time{}, fmt.Errorf("no pods returned by selector while calculating replica count")
	}
	ready, unready, missing, ignored := c.groupPods(pods, metrics, resource)
	removePods(metrics, ignored)
	removePods(metrics, unready)
	if len(metrics) == 0 {
		return 0, 0, 0, time.Time{}, fmt.Errorf("did not receive metrics for targeted pods (pods might be unready)")
	}
	requests, err := podRequests(pods, container, resource)
	if err != nil {
		return 0, 0, 0, time.Time{}, err
	}
	ratio, utilization, raw, err := resourceUtilizationRatio(metrics, requests, targetUtilization)
	if err != nil {
		return 0, 0, 0, time.Time{}, err
	}
	scaleUpWithUnready := len(unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(missing) == 0 {
		if tol.within(ratio) {
			return current, utilization, raw, timestamp, nil
		}
		return int32(math.Ceil(ratio * float64(ready))), utilization, raw, timestamp, nil
	}
	// Assume the worst for the pods without metrics: full use when
	// scaling down, none when scaling up; unready pods use nothing.
	if len(missing) > 0 {
		if ratio < 1.0 {
			fallback := int64(max(100, targetUtilization))
			for pod := range missing {
				metrics[pod] = PodMetric{Value: requests[pod] * fallback / 100}
			}
		} else if ratio > 1.0 {
			for pod := range missing {
				metrics[pod] = PodMetric{Value: 0}
			}
		}
	}
	if scaleUpWithUnready {
		for pod := range unready {
			metrics[pod] = PodMetric{Value: 0}
		}
	}
	newRatio, _, _, err := resourceUtilizationRatio(metrics, requests, targetUtilization)
	if err != nil {
		return 0, utilization, raw, time.Time{}, err
	}
	return c.rebalanced(current, ratio, newRatio, len(metrics), tol), utilization, raw, timestamp, nil
}

// rebalanced applies the recomputed ratio unless it is within tolerance or
// would reverse the direction of the scale.
func (c *replicaCalculator) rebalanced(current int32, ratio, newRatio float64, count int, tol tolerances) int32 {
	if tol.within(newRatio) || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		return current
	}
	n := int32(math.Ceil(newRatio * float64(count)))
	if (newRatio < 1.0 && n > current) || (newRatio > 1.0 && n < current) {
		return current
	}
	return n
}

func (c *replicaCalculator) rawResourceReplicas(ctx context.Context, current int32, targetUsage int64, resource corev1.ResourceName, tol tolerances, namespace string, selector labels.Selector, container string) (int32, int64, time.Time, error) {
	metrics, timestamp, err := c.metrics.GetResourceMetric(ctx, resource, namespace, selector, container)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unable to get metrics for resource %s: %w", resource, err)
	}
	n, usage, err := c.plainMetricReplicas(metrics, current, targetUsage, tol, namespace, selector, resource)
	return n, usage, timestamp, err
}

func (c *replicaCalculator) podsMetricReplicas(current int32, targetUsage int64, metricName string, tol tolerances, namespace string, selector, metricSelector labels.Selector) (int32, int64, time.Time, error) {
	metrics, timestamp, err := c.metrics.GetRawMetric(metricName, namespace, selector, metricSelector)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unable to get metric %s: %w", metricName, err)
	}
	n, usage, err := c.plainMetricReplicas(metrics, current, targetUsage, tol, namespace, selector, "")
	return n, usage, timestamp, err
}

func (c *replicaCalculator) plainMetricReplicas(metrics PodMetricsInfo, current int32, targetUsage int64, tol tolerances, namespace string, selector labels.Selector, resource corev1.ResourceName) (int32, int64, error) {
	pods, err := c.podLister.Pods(namespace).List(selector)
	if err != nil {
		return 0, 0, fmt.Errorf("unable to get pods while calculating replica count: %w", err)
	}
	if len(pods) == 0 {
		return 0, 0, fmt.Errorf("no pods returned by selector while calculating replica count")
	}
	ready, unready, missing, ignored := c.groupPods(pods, metrics, resource)
	removePods(metrics, ignored)
	removePods(metrics, unready)
	if len(metrics) == 0 {
		return 0, 0, fmt.Errorf("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, usage := metricUsageRatio(metrics, targetUsage)
	scaleUpWithUnready := len(unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(missing) == 0 {
		if tol.within(ratio) {
			return current, usage, nil
		}
		return int32(math.Ceil(ratio * float64(ready))), usage, nil
	}
	if len(missing) > 0 {
		if ratio < 1.0 {
			for pod := range missing {
				metrics[pod] = PodMetric{Value: targetUsage}
			}
		} else if ratio > 1.0 {
			for pod := range missing {
				metrics[pod] = PodMetric{Value: 0}
			}
		}
	}
	if scaleUpWithUnready {
		for pod := range unready {
			metrics[pod] = PodMetric{Value: 0}
		}
	}
	newRatio, _ := metricUsageRatio(metrics, targetUsage)
	return c.rebalanced(current, ratio, newRatio, len(metrics), tol), usage, nil
}

func (c *replicaCalculator) objectMetricReplicas(current int32, targetUsage int64, metricName string, tol tolerances, namespace string, ref *autoscalingv2.CrossVersionObjectReference, selector, metricSelector labels.Selector) (int32, int64, time.Time, error) {
	usage, _, err := c.metrics.GetObjectMetric(metricName, namespace, ref, metricSelector)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unable to get metric %s on %s %s/%s: %w", metricName, ref.Kind, namespace, ref.Name, err)
	}
	n, timestamp, err := c.usageRatioReplicas(current, float64(usage)/float64(targetUsage), tol, namespace, selector)
	return n, usage, timestamp, err
}

// usageRatioReplicas scales the ready pods by ratio (from zero replicas,
// the ratio itself).
func (c *replicaCalculator) usageRatioReplicas(current int32, ratio float64, tol tolerances, namespace string, selector labels.Selector) (int32, time.Time, error) {
	if current == 0 {
		return int32(math.Ceil(ratio)), time.Time{}, nil
	}
	if tol.within(ratio) {
		return current, time.Time{}, nil
	}
	ready, err := c.readyPods(namespace, selector)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("unable to calculate ready pods: %s", err)
	}
	f := ratio * float64(ready)
	if f > math.MaxInt32 {
		return math.MaxInt32, time.Time{}, nil
	}
	return int32(math.Ceil(f)), time.Time{}, nil
}

func (c *replicaCalculator) objectPerPodMetricReplicas(statusReplicas int32, targetAverage int64, metricName string, tol tolerances, namespace string, ref *autoscalingv2.CrossVersionObjectReference, metricSelector labels.Selector) (int32, int64, time.Time, error) {
	usage, timestamp, err := c.metrics.GetObjectMetric(metricName, namespace, ref, metricSelector)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unable to get metric %s on %s %s/%s: %w", metricName, ref.Kind, namespace, ref.Name, err)
	}
	n := statusReplicas
	if !tol.within(float64(usage) / (float64(targetAverage) * float64(n))) {
		n = int32(math.Ceil(float64(usage) / float64(targetAverage)))
	}
	return n, int64(math.Ceil(float64(usage) / float64(statusReplicas))), timestamp, nil
}

func (c *replicaCalculator) readyPods(namespace string, selector labels.Selector) (int64, error) {
	pods, err := c.podLister.Pods(namespace).List(selector)
	if err != nil {
		return 0, fmt.Errorf("unable to get pods while calculating replica count: %w", err)
	}
	if len(pods) == 0 {
		return 0, fmt.Errorf("no pods returned by selector while calculating replica count")
	}
	var n int64
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && podutil.IsPodReady(p) {
			n++
		}
	}
	return n, nil
}

func (c *replicaCalculator) externalMetricReplicas(current int32, targetUsage int64, metricName string, tol tolerances, namespace string, metricSelector *metav1.LabelSelector, podSelector labels.Selector) (int32, int64, time.Time, error) {
	sel, err := metav1.LabelSelectorAsSelector(metricSelector)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	values, _, err := c.metrics.GetExternalMetric(metricName, namespace, sel)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unable to get external metric %s/%s/%+v: %s", namespace, metricName, metricSelector, err)
	}
	usage := sum(values)
	n, timestamp, err := c.usageRatioReplicas(current, float64(usage)/float64(targetUsage), tol, namespace, podSelector)
	return n, usage, timestamp, err
}

func (c *replicaCalculator) externalPerPodMetricReplicas(statusReplicas int32, targetPerPod int64, metricName string, tol tolerances, namespace string, metricSelector *metav1.LabelSelector) (int32, int64, time.Time, error) {
	sel, err := metav1.LabelSelectorAsSelector(metricSelector)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	values, timestamp, err := c.metrics.GetExternalMetric(metricName, namespace, sel)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unable to get external metric %s/%s/%+v: %s", namespace, metricName, metricSelector, err)
	}
	usage := sum(values)
	n := statusReplicas
	if !tol.within(float64(usage) / (float64(targetPerPod) * float64(n))) {
		f := math.Ceil(float64(usage) / float64(targetPerPod))
		if f > math.MaxInt32 {
			n = math.MaxInt32
		} else {
			n = int32(f)
		}
	}
	if usage == math.MaxInt64 {
		return n, usage, timestamp, nil
	}
	return n, int64(math.Ceil(float64(usage) / float64(statusReplicas))), timestamp, nil
}

// sum adds metric values, saturating instead of overflowing.
func sum(values []int64) int64 {
	var s int64
	for _, v := range values {
		if v > 0 && s > math.MaxInt64-v {
			return math.MaxInt64
		}
		s += v
	}
	return s
}

// groupPods sorts pods into ready (counted), unready (pending, or for CPU
// still initializing), missing (no metric) and ignored (deleted, failed).
func (c *replicaCalculator) groupPods(pods []*corev1.Pod, metrics PodMetricsInfo, resource corev1.ResourceName) (ready int, unready, missing, ignored sets.Set[string]) {
	unready, missing, ignored = sets.New[string](), sets.New[string](), sets.New[string]()
	now := c.now()
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
			ignored.Insert(pod.Name)
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			unready.Insert(pod.Name)
			continue
		}
		metric, ok := metrics[pod.Name]
		if !ok {
			missing.Insert(pod.Name)
			continue
		}
		if resource == corev1.ResourceCPU {
			var notReady bool
			_, cond := podutil.GetPodCondition(&pod.Status, corev1.PodReady)
			switch {
			case cond == nil || pod.Status.StartTime == nil:
				notReady = true
			case pod.Status.StartTime.Add(c.cpuInitializationPeriod).After(now):
				// Initializing: use the metric only if taken after it
				// became ready.
				notReady = cond.Status == corev1.ConditionFalse || metric.Timestamp.Before(cond.LastTransitionTime.Add(metric.Window))
			default:
				// Never ready since its start: still unready.
				notReady = cond.Status == corev1.ConditionFalse && pod.Status.StartTime.Add(c.delayOfInitialReadinessStatus).After(cond.LastTransitionTime.Time)
			}
			if notReady {
				unready.Insert(pod.Name)
				continue
			}
		}
		ready++
	}
	return ready, unready, missing, ignored
}

// podRequests are the pods' requests of resource (milli-units): the
// pod-level request when set, else the sum over containers and sidecars,
// or one container's.
func podRequests(pods []*corev1.Pod, container string, resource corev1.ResourceName) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for _, pod := range pods {
		if container == "" && resourcehelpers.IsPodLevelRequestsSet(pod) {
			r, ok := resourcehelpers.PodRequests(pod, resourcehelpers.PodResourcesOptions{})[resource]
			if !ok {
				return nil, fmt.Errorf("missing pod-level request for %s in Pod %s", resource, pod.Name)
			}
			out[pod.Name] = r.MilliValue()
			continue
		}
		containers := append([]corev1.Container{}, pod.Spec.Containers...)
		for _, ct := range pod.Spec.InitContainers {
			if ct.RestartPolicy != nil && *ct.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers, ct)
			}
		}
		var total int64
		found := container == ""
		for _, ct := range containers {
			if container != "" && ct.Name != container {
				continue
			}
			r, ok := ct.Resources.Requests[resource]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, ct.Name, pod.Name)
			}
			total += r.MilliValue()
			if container != "" {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("container %s not found in Pod %s", container, pod.Name)
		}
		out[pod.Name] = total
	}
	return out, nil
}

func removePods(metrics PodMetricsInfo, pods sets.Set[string]) {
	for p := range pods {
		delete(metrics, p)
	}
}
