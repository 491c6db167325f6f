package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fakescale "k8s.io/client-go/scale/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// fakeMetrics serves CPU usage per pod (milli-cores), or an error.
type fakeMetrics struct {
	cpu map[string]int64
	err error
}

func (f *fakeMetrics) GetResourceMetric(_ context.Context, _ corev1.ResourceName, _ string, _ labels.Selector, _ string) (PodMetricsInfo, time.Time, error) {
	if f.err != nil {
		return nil, time.Time{}, f.err
	}
	out := PodMetricsInfo{}
	for pod, v := range f.cpu {
		out[pod] = PodMetric{Value: v, Timestamp: time.Now(), Window: time.Minute}
	}
	return out, time.Now(), nil
}
func (f *fakeMetrics) GetRawMetric(string, string, labels.Selector, labels.Selector) (PodMetricsInfo, time.Time, error) {
	return nil, time.Time{}, errors.New("no custom metrics")
}
func (f *fakeMetrics) GetObjectMetric(string, string, *autoscalingv2.CrossVersionObjectReference, labels.Selector) (int64, time.Time, error) {
	return 0, time.Time{}, errors.New("no custom metrics")
}
func (f *fakeMetrics) GetExternalMetric(string, string, labels.Selector) ([]int64, time.Time, error) {
	return nil, time.Time{}, errors.New("no external metrics")
}

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	metrics *fakeMetrics
	events  *record.FakeRecorder
	scale   *autoscalingv1.Scale
	updates []int32
}

func newWorld(t *testing.T, replicas int32, hpa *autoscalingv2.HorizontalPodAutoscaler) *world {
	t.Helper()
	client := fake.NewClientset(hpa)
	factory := informers.NewSharedInformerFactory(client, 0)
	mapper := apimeta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, apimeta.RESTScopeNamespace)
	w := &world{t: t, client: client, factory: factory, metrics: &fakeMetrics{}, events: record.NewFakeRecorder(100),
		scale: &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
			Spec: autoscalingv1.ScaleSpec{Replicas: replicas}, Status: autoscalingv1.ScaleStatus{Replicas: replicas, Selector: "app=web"}}}
	scales := &fakescale.FakeScaleClient{}
	scales.AddReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, w.scale.DeepCopy(), nil
	})
	scales.AddReactor("update", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		s := a.(clienttesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		w.updates = append(w.updates, s.Spec.Replicas)
		w.scale.Spec.Replicas = s.Spec.Replicas
		return true, s, nil
	})
	c, err := NewController(client, scales, mapper, w.metrics, factory.Autoscaling().V2().HorizontalPodAutoscalers(), factory.Core().V1().Pods(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = w.events
	w.c = c
	if err := factory.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Add(hpa); err != nil {
		t.Fatal(err)
	}
	for i := int32(0); i < replicas; i++ {
		w.addPod(fmt.Sprintf("web-%d", i))
	}
	return w
}

// addPod adds a running pod, ready since well before the CPU
// initialization period, requesting 100m CPU.
func (w *world) addPod(name string) {
	long := metav1.NewTime(time.Now().Add(-time.Hour))
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &long,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: long}}},
	}
	if err := w.factory.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) cpu(perPod int64) {
	w.metrics.cpu = map[string]int64{}
	for i := int32(0); i < w.scale.Spec.Replicas; i++ {
		w.metrics.cpu[fmt.Sprintf("web-%d", i)] = perPod
	}
}

func (w *world) sync() *autoscalingv2.HorizontalPodAutoscaler {
	w.t.Helper()
	_, _ = w.c.reconcileKey(context.Background(), "ns/web")
	hpa, err := w.client.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	// The informer sees the status the controller wrote.
	if err := w.factory.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Update(hpa); err != nil {
		w.t.Fatal(err)
	}
	return hpa
}

func (w *world) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-w.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func cpuHPA(minReplicas, maxReplicas int32, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To(minReplicas), MaxReplicas: maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
			Behavior: behavior,
		},
	}
}

func condition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range hpa.Status.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return "none"
}

func TestScaleUpLimited(t *testing.T) {
	w := newWorld(t, 3, cpuHPA(1, 10, nil))
	w.cpu(200) // 200% of requests, target 50%: 12 pods wanted
	hpa := w.sync()
	if fmt.Sprint(w.updates) != "[6]" {
		t.Fatalf("scale updates = %v, want one to 6 (double at most)", w.updates)
	}
	if got := condition(hpa, autoscalingv2.ScalingLimited); got != "True/ScaleUpLimit" {
		t.Errorf("ScalingLimited = %s", got)
	}
	if got := condition(hpa, autoscalingv2.ScalingActive); got != "True/ValidMetricFound" {
		t.Errorf("ScalingActive = %s", got)
	}
	if hpa.Status.DesiredReplicas != 6 || hpa.Status.CurrentReplicas != 3 || hpa.Status.LastScaleTime == nil {
		t.Errorf("status = %+v", hpa.Status)
	}
	m := hpa.Status.CurrentMetrics[0].Resource.Current
	if *m.AverageUtilization != 200 || m.AverageValue.String() != "200m" {
		t.Errorf("current metric = %+v", m)
	}
	found := false
	for _, e := range w.drainEvents() {
		if e == "Normal SuccessfulRescale New size: 6; reason: cpu resource utilization (percentage of request) above target" {
			found = true
		}
	}
	if !found {
		t.Errorf("no SuccessfulRescale event")
	}
}

func TestNoMetricsServer(t *testing.T) {
	w := newWorld(t, 2, cpuHPA(1, 10, nil))
	w.metrics.err = errors.New(`the server could not find the requested resource (get pods.metrics.k8s.io)`)
	hpa := w.sync()
	if len(w.updates) != 0 {
		t.Fatalf("rescaled without metrics: %v", w.updates)
	}
	if got := condition(hpa, autoscalingv2.ScalingActive); got != "False/FailedGetResourceMetric" {
		t.Errorf("ScalingActive = %s", got)
	}
	if got := condition(hpa, autoscalingv2.AbleToScale); got != "True/SucceededGetScale" {
		t.Errorf("AbleToScale = %s", got)
	}
	var reasons []string
	for _, e := range w.drainEvents() {
		reasons = append(reasons, strings.Fields(e)[1])
	}
	if fmt.Sprint(reasons) != "[FailedGetResourceMetric FailedComputeMetricsReplicas]" {
		t.Errorf("events = %v", reasons)
	}
	if hpa.Status.CurrentReplicas != 2 {
		t.Errorf("currentReplicas = %d", hpa.Status.CurrentReplicas)
	}
}

func TestScaleDownStabilized(t *testing.T) {
	w := newWorld(t, 4, cpuHPA(1, 10, nil))
	w.cpu(10) // far below target: 1 pod would do
	hpa := w.sync()
	if len(w.updates) != 0 {
		t.Fatalf("scaled down within the stabilization window: %v", w.updates)
	}
	if got := condition(hpa, autoscalingv2.AbleToScale); got != "True/ScaleDownStabilized" {
		t.Errorf("AbleToScale = %s", got)
	}
	// Once the window has passed, it scales down.
	w.c.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	w.sync()
	if fmt.Sprint(w.updates) != "[1]" {
		t.Errorf("updates after the window = %v", w.updates)
	}
}

func TestBehaviorScaleDownPolicy(t *testing.T) {
	behavior := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}},
	}
	w := newWorld(t, 5, cpuHPA(1, 10, behavior))
	w.cpu(10)
	hpa := w.sync()
	if fmt.Sprint(w.updates) != "[4]" {
		t.Fatalf("updates = %v, want one pod down", w.updates)
	}
	if got := condition(hpa, autoscalingv2.ScalingLimited); got != "True/ScaleDownLimit" {
		t.Errorf("ScalingLimited = %s", got)
	}
	// Within the policy period no more pods go.
	w.sync()
	if fmt.Sprint(w.updates) != "[4]" {
		t.Errorf("updates = %v, want no second scale-down within 60s", w.updates)
	}
}

func TestOutsideMinMaxWithoutMetrics(t *testing.T) {
	w := newWorld(t, 12, cpuHPA(2, 10, nil))
	w.metrics.err = errors.New("unused")
	w.sync()
	if fmt.Sprint(w.updates) != "[10]" {
		t.Errorf("updates = %v, want capped to maxReplicas without reading metrics", w.updates)
	}
}

func TestReplicaCountIgnoresUnreadyOnScaleUp(t *testing.T) {
	calc := &replicaCalculator{cpuInitializationPeriod: 5 * time.Minute, delayOfInitialReadinessStatus: 30 * time.Second, now: time.Now}
	start := metav1.NewTime(time.Now().Add(-time.Minute)) // still initializing
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	starting := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: start}}}}
	gone := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "g", DeletionTimestamp: &start}}
	nometric := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	ready, unready, missing, ignored := calc.groupPods([]*corev1.Pod{pending, starting, gone, nometric}, PodMetricsInfo{"s": {Value: 1}}, corev1.ResourceCPU)
	if ready != 0 || !unready.Has("p") || !unready.Has("s") || !missing.Has("n") || !ignored.Has("g") {
		t.Errorf("ready %d unready %v missing %v ignored %v", ready, unready, missing, ignored)
	}
}
