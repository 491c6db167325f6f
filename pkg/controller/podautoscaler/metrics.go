package podautoscaler

import (
	"context"
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	customapi "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	resourceclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	customclient "k8s.io/metrics/pkg/client/custom_metrics"
	externalclient "k8s.io/metrics/pkg/client/external_metrics"
)

// PodMetric is one pod's value of a metric (milli-units).
type PodMetric struct {
	Timestamp time.Time
	Window    time.Duration
	Value     int64
}

// PodMetricsInfo are metrics by pod name.
type PodMetricsInfo map[string]PodMetric

// MetricsClient reads the metrics APIs the autoscaler uses: resource
// metrics (metrics.k8s.io), custom metrics of pods and objects
// (custom.metrics.k8s.io) and external metrics (external.metrics.k8s.io).
type MetricsClient interface {
	GetResourceMetric(ctx context.Context, resource corev1.ResourceName, namespace string, selector labels.Selector, container string) (PodMetricsInfo, time.Time, error)
	GetRawMetric(metricName, namespace string, selector, metricSelector labels.Selector) (PodMetricsInfo, time.Time, error)
	GetObjectMetric(metricName, namespace string, objectRef *autoscalingv2.CrossVersionObjectReference, metricSelector labels.Selector) (int64, time.Time, error)
	GetExternalMetric(metricName, namespace string, selector labels.Selector) ([]int64, time.Time, error)
}

// metricServerDefaultMetricWindow is the window assumed when a custom
// metric names none.
const metricServerDefaultMetricWindow = time.Minute

// restMetricsClient reads the metrics APIs through their clients.
type restMetricsClient struct {
	resource resourceclient.PodMetricsesGetter
	custom   customclient.CustomMetricsClient
	external externalclient.ExternalMetricsClient
}

// NewRESTMetricsClient returns a MetricsClient over the three APIs.
func NewRESTMetricsClient(resource resourceclient.PodMetricsesGetter, custom customclient.CustomMetricsClient, external externalclient.ExternalMetricsClient) MetricsClient {
	return &restMetricsClient{resource: resource, custom: custom, external: external}
}

func (c *restMetricsClient) GetResourceMetric(ctx context.Context, resource corev1.ResourceName, namespace string, selector labels.Selector, container string) (PodMetricsInfo, time.Time, error) {
	list, err := c.resource.PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, time.Time{}, fmt.Errorf("no metrics returned from resource metrics API")
	}
	res := PodMetricsInfo{}
	for _, m := range list.Items {
		if container != "" {
			for _, ct := range m.Containers {
				if ct.Name != container {
					continue
				}
				if v, ok := ct.Usage[resource]; ok {
					res[m.Name] = PodMetric{Timestamp: m.Timestamp.Time, Window: m.Window.Duration, Value: v.MilliValue()}
				}
				break
			}
			continue
		}
		// A pod counts only with the metric of every container.
		sum, missing := int64(0), len(m.Containers) == 0
		for _, ct := range m.Containers {
			v, ok := ct.Usage[resource]
			if !ok {
				missing = true
				break
			}
			sum += v.MilliValue()
		}
		if !missing {
			res[m.Name] = PodMetric{Timestamp: m.Timestamp.Time, Window: m.Window.Duration, Value: sum}
		}
	}
	return res, list.Items[0].Timestamp.Time, nil
}

func (c *restMetricsClient) GetRawMetric(metricName, namespace string, selector, metricSelector labels.Selector) (PodMetricsInfo, time.Time, error) {
	list, err := c.custom.NamespacedMetrics(namespace).GetForObjects(schema.GroupKind{Kind: "Pod"}, selector, metricName, metricSelector)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("unable to fetch metrics from custom metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, time.Time{}, fmt.Errorf("no metrics returned from custom metrics API")
	}
	res := PodMetricsInfo{}
	for _, m := range list.Items {
		window := metricServerDefaultMetricWindow
		if m.WindowSeconds != nil {
			window = time.Duration(*m.WindowSeconds) * time.Second
		}
		res[m.DescribedObject.Name] = PodMetric{Timestamp: m.Timestamp.Time, Window: window, Value: m.Value.MilliValue()}
	}
	return res, list.Items[0].Timestamp.Time, nil
}

func (c *restMetricsClient) GetObjectMetric(metricName, namespace string, ref *autoscalingv2.CrossVersionObjectReference, metricSelector labels.Selector) (int64, time.Time, error) {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var v *customapi.MetricValue
	var err error
	if gvk.Kind == "Namespace" && gvk.Group == "" {
		// Namespaces are root-scoped: the metric is of the HPA's namespace.
		v, err = c.custom.RootScopedMetrics().GetForObject(gvk.GroupKind(), namespace, metricName, metricSelector)
	} else {
		v, err = c.custom.NamespacedMetrics(namespace).GetForObject(gvk.GroupKind(), ref.Name, metricName, metricSelector)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("unable to fetch metrics from custom metrics API: %w", err)
	}
	return v.Value.MilliValue(), v.Timestamp.Time, nil
}

func (c *restMetricsClient) GetExternalMetric(metricName, namespace string, selector labels.Selector) ([]int64, time.Time, error) {
	list, err := c.external.NamespacedMetrics(namespace).List(metricName, selector)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("unable to fetch metrics from external metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, time.Time{}, fmt.Errorf("no metrics returned from external metrics API")
	}
	var res []int64
	for _, m := range list.Items {
		res = append(res, m.Value.MilliValue())
	}
	return res, list.Items[0].Timestamp.Time, nil
}

// resourceUtilizationRatio is the pods' usage over their requests against
// the target utilization: the ratio, the utilization (percent) and the
// average raw value.
func resourceUtilizationRatio(metrics PodMetricsInfo, requests map[string]int64, target int32) (float64, int32, int64, error) {
	var usage, request int64
	n := 0
	for pod, m := range metrics {
		r, ok := requests[pod]
		if !ok {
			continue
		}
		usage += m.Value
		request += r
		n++
	}
	if request == 0 {
		return 0, 0, 0, fmt.Errorf("no metrics returned matched known pods")
	}
	utilization := int32(usage * 100 / request)
	return float64(utilization) / float64(target), utilization, usage / int64(n), nil
}

// metricUsageRatio is the pods' average value against the target.
func metricUsageRatio(metrics PodMetricsInfo, target int64) (float64, int64) {
	var total int64
	for _, m := range metrics {
		total += m.Value
	}
	avg := total / int64(len(metrics))
	return float64(avg) / float64(target), avg
}
