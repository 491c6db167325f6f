package pod

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// memoryPods is a podStore over a map, with resourceVersions and delete
// preconditions like the real store.
type memoryPods struct {
	pods    map[string]*corev1.Pod
	version int
	deleted []string
}

func newMemoryPods(pods ...*corev1.Pod) *memoryPods {
	m := &memoryPods{pods: map[string]*corev1.Pod{}}
	for _, p := range pods {
		m.version++
		p.ResourceVersion = strconv.Itoa(m.version)
		m.pods[p.Name] = p
	}
	return m
}

func (m *memoryPods) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	p, ok := m.pods[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	return p.DeepCopy(), nil
}

func (m *memoryPods) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, _ rest.ValidateObjectFunc, _ rest.ValidateObjectUpdateFunc, _ bool, _ *metav1.UpdateOptions) (runtime.Object, bool, error) {
	old, ok := m.pods[name]
	if !ok {
		return nil, false, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	obj, err := objInfo.UpdatedObject(ctx, old.DeepCopy())
	if err != nil {
		return nil, false, err
	}
	p := obj.(*corev1.Pod)
	m.version++
	p.ResourceVersion = strconv.Itoa(m.version)
	m.pods[name] = p
	return p.DeepCopy(), false, nil
}

func (m *memoryPods) Delete(ctx context.Context, name string, _ rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	p, ok := m.pods[name]
	if !ok {
		return nil, false, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	if pre := options.Preconditions; pre != nil && pre.ResourceVersion != nil && *pre.ResourceVersion != p.ResourceVersion {
		return nil, false, apierrors.NewConflict(corev1.Resource("pods"), name, nil)
	}
	delete(m.pods, name)
	m.deleted = append(m.deleted, name)
	return p, true, nil
}

func runningPod(name string, ready bool) *corev1.Pod {
	p := testPod(name)
	p.Labels = map[string]string{"app": "web"}
	p.Spec.NodeName = "n1"
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}
	return p
}

func pdb(name string, allowed, current, desired int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(desired)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
		Status: policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: 1, DisruptionsAllowed: allowed, CurrentHealthy: current, DesiredHealthy: desired, ExpectedPods: current,
		},
	}
}

func eviction(name string) *policyv1.Eviction {
	return &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
}

func newTestEviction(pods *memoryPods, pdbs ...runtime.Object) (*EvictionREST, *fake.Clientset) {
	client := fake.NewClientset(pdbs...)
	r := newEvictionREST(pods, client.PolicyV1())
	r.retry = wait.Backoff{Steps: 1}
	return r, client
}

func TestEvictionWithoutBudget(t *testing.T) {
	pods := newMemoryPods(runningPod("p", true))
	r, _ := newTestEviction(pods)
	out, err := r.Create(context.Background(), "p", eviction("p"), nil, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("evict: %v", err)
	}
	if s, ok := out.(*metav1.Status); !ok || s.Status != metav1.StatusSuccess {
		t.Errorf("result = %#v", out)
	}
	if len(pods.deleted) != 1 {
		t.Errorf("pod not deleted")
	}
}

func TestEvictionIgnoresBudgetForPodsNotRunning(t *testing.T) {
	pending := runningPod("pending", true)
	pending.Status.Phase = corev1.PodPending
	succeeded := runningPod("succeeded", false)
	succeeded.Status.Phase = corev1.PodSucceeded
	terminating := runningPod("terminating", true)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	for _, p := range []*corev1.Pod{pending, succeeded, terminating} {
		t.Run(p.Name, func(t *testing.T) {
			pods := newMemoryPods(p)
			r, client := newTestEviction(pods, pdb("budget", 0, 1, 1))
			if _, err := r.Create(context.Background(), p.Name, eviction(p.Name), nil, &metav1.CreateOptions{}); err != nil {
				t.Fatalf("evict: %v", err)
			}
			if len(pods.deleted) != 1 {
				t.Errorf("pod not deleted")
			}
			got, _ := client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), "budget", metav1.GetOptions{})
			if len(got.Status.DisruptedPods) != 0 {
				t.Errorf("budget charged for a pod it does not protect: %v", got.Status.DisruptedPods)
			}
		})
	}
}

func TestEvictionRespectsBudget(t *testing.T) {
	pods := newMemoryPods(runningPod("p", true))
	r, _ := newTestEviction(pods, pdb("budget", 0, 2, 2))
	_, err := r.Create(context.Background(), "p", eviction("p"), nil, &metav1.CreateOptions{})
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evict: %v, want 429", err)
	}
	status := err.(apierrors.APIStatus).Status()
	if status.Code != http.StatusTooManyRequests || status.Message != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Errorf("status = %d %q", status.Code, status.Message)
	}
	if len(status.Details.Causes) != 1 || status.Details.Causes[0].Type != policyv1.DisruptionBudgetCause ||
		status.Details.Causes[0].Message != "The disruption budget budget needs 2 healthy pods and has 2 currently" {
		t.Errorf("causes = %+v", status.Details.Causes)
	}
	if len(pods.deleted) != 0 {
		t.Errorf("pod deleted despite the budget")
	}
	if c := pods.pods["p"].Status.Conditions; len(c) != 1 {
		t.Errorf("conditions changed by a refused eviction: %+v", c)
	}
}

func TestEvictionChargesBudget(t *testing.T) {
	pods := newMemoryPods(runningPod("p", true))
	r, client := newTestEviction(pods, pdb("budget", 1, 3, 2))
	if _, err := r.Create(context.Background(), "p", eviction("p"), nil, &metav1.CreateOptions{}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if len(pods.deleted) != 1 {
		t.Fatalf("pod not deleted")
	}
	got, err := client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), "budget", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.DisruptionsAllowed != 0 {
		t.Errorf("disruptionsAllowed = %d, want 0", got.Status.DisruptionsAllowed)
	}
	if _, ok := got.Status.DisruptedPods["p"]; !ok {
		t.Errorf("disruptedPods = %v, want p", got.Status.DisruptedPods)
	}
	var allowed *metav1.Condition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == policyv1.DisruptionAllowedCondition {
			allowed = &got.Status.Conditions[i]
		}
	}
	if allowed == nil || allowed.Status != metav1.ConditionFalse {
		t.Errorf("DisruptionAllowed condition = %+v, want False", allowed)
	}
}

func TestEvictionAddsDisruptionTarget(t *testing.T) {
	pods := newMemoryPods(runningPod("p", true))
	var seen *corev1.Pod
	r, _ := newTestEviction(pods)
	r.store = &spyPods{memoryPods: pods, onDelete: func(name string) { seen = pods.pods[name].DeepCopy() }}
	if _, err := r.Create(context.Background(), "p", eviction("p"), nil, &metav1.CreateOptions{}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if seen == nil {
		t.Fatal("pod not deleted")
	}
	found := false
	for _, c := range seen.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI" {
			found = true
		}
	}
	if !found {
		t.Errorf("conditions before delete = %+v, want DisruptionTarget", seen.Status.Conditions)
	}
}

type spyPods struct {
	*memoryPods
	onDelete func(name string)
}

func (s *spyPods) Delete(ctx context.Context, name string, v rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	s.onDelete(name)
	return s.memoryPods.Delete(ctx, name, v, options)
}

func TestEvictionUnhealthyPods(t *testing.T) {
	tests := []struct {
		name       string
		budget     *policyv1.PodDisruptionBudget
		wantEvict  bool
		wantCharge bool
	}{
		{"always allow", func() *policyv1.PodDisruptionBudget {
			b := pdb("budget", 0, 0, 2)
			b.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
			return b
		}(), true, false},
		{"healthy budget spares unready pods", pdb("budget", 0, 2, 2), true, false},
		{"unhealthy budget protects unready pods", pdb("budget", 0, 1, 2), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := newMemoryPods(runningPod("p", false))
			r, client := newTestEviction(pods, tt.budget)
			_, err := r.Create(context.Background(), "p", eviction("p"), nil, &metav1.CreateOptions{})
			if tt.wantEvict != (err == nil) {
				t.Fatalf("evict: %v, want eviction %v", err, tt.wantEvict)
			}
			if !tt.wantEvict && !apierrors.IsTooManyRequests(err) {
				t.Errorf("error = %v, want 429", err)
			}
			got, _ := client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), "budget", metav1.GetOptions{})
			if charged := len(got.Status.DisruptedPods) > 0; charged != tt.wantCharge {
				t.Errorf("budget charged = %v, want %v", charged, tt.wantCharge)
			}
		})
	}
}

func TestEvictionBudgetEdgeCases(t *testing.T) {
	stale := pdb("budget", 1, 3, 2)
	stale.Generation = 2
	negative := pdb("budget", -1, 3, 2)
	other := pdb("other", 1, 3, 2)
	other.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}

	tests := []struct {
		name    string
		budgets []runtime.Object
		check   func(t *testing.T, out runtime.Object, err error)
	}{
		{"budget not yet observed", []runtime.Object{stale}, func(t *testing.T, _ runtime.Object, err error) {
			if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.(apierrors.APIStatus).Status().Details.Causes[0].Message, "is still being processed by the server") {
				t.Errorf("error = %v", err)
			}
		}},
		{"negative budget", []runtime.Object{negative}, func(t *testing.T, _ runtime.Object, err error) {
			if !apierrors.IsForbidden(err) {
				t.Errorf("error = %v, want 403", err)
			}
		}},
		{"two budgets", []runtime.Object{pdb("a", 1, 3, 2), pdb("b", 1, 3, 2)}, func(t *testing.T, out runtime.Object, err error) {
			s, ok := out.(*metav1.Status)
			if err != nil || !ok || s.Code != 500 || s.Message != "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." {
				t.Errorf("result = %#v, %v", out, err)
			}
		}},
		{"budget for other pods", []runtime.Object{other}, func(t *testing.T, _ runtime.Object, err error) {
			if err != nil {
				t.Errorf("error = %v, want the eviction to pass", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := newMemoryPods(runningPod("p", true))
			r, _ := newTestEviction(pods, tt.budgets...)
			out, err := r.Create(context.Background(), "p", eviction("p"), nil, &metav1.CreateOptions{})
			tt.check(t, out, err)
		})
	}
}

func TestEvictionDryRun(t *testing.T) {
	pods := newMemoryPods(runningPod("p", true))
	r, client := newTestEviction(pods, pdb("budget", 1, 3, 2))
	r.store = &dryRunPods{memoryPods: pods}
	ev := eviction("p")
	if _, err := r.Create(context.Background(), "p", ev, nil, &metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if len(pods.deleted) != 0 {
		t.Errorf("dry run deleted the pod")
	}
	got, _ := client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), "budget", metav1.GetOptions{})
	if got.Status.DisruptionsAllowed != 1 || len(got.Status.DisruptedPods) != 0 {
		t.Errorf("dry run charged the budget: %+v", got.Status)
	}
}

// dryRunPods honours dry-run deletes, as the real store does.
type dryRunPods struct{ *memoryPods }

func (d *dryRunPods) Delete(ctx context.Context, name string, v rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if len(options.DryRun) > 0 {
		return d.pods[name], true, nil
	}
	return d.memoryPods.Delete(ctx, name, v, options)
}

func TestEvictionBadRequests(t *testing.T) {
	pods := newMemoryPods(runningPod("p", true))
	r, _ := newTestEviction(pods)
	if _, err := r.Create(context.Background(), "q", eviction("p"), nil, &metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("name mismatch: %v, want 400", err)
	}
	ev := eviction("p")
	ev.DeleteOptions = &metav1.DeleteOptions{IgnoreStoreReadErrorWithClusterBreakingPotential: ptr.To(true)}
	if _, err := r.Create(context.Background(), "p", ev, nil, &metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("ignoreStoreReadError: %v, want 422", err)
	}
	ev = eviction("p")
	ev.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{"All"}}
	if _, err := r.Create(context.Background(), "p", ev, nil, &metav1.CreateOptions{DryRun: []string{"Other"}}); !apierrors.IsBadRequest(err) {
		t.Errorf("mismatched dry-run: %v, want 400", err)
	}
	if _, err := r.Create(context.Background(), "missing", eviction("missing"), nil, &metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: %v, want 404", err)
	}
	if len(pods.deleted) != 0 {
		t.Errorf("a bad request deleted a pod")
	}
}
