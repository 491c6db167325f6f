package pod

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage"
)

// podStorage is a storage.Interface holding one pod; it implements only
// what the binding uses (GuaranteedUpdate).
type podStorage struct {
	storage.Interface
	pod *corev1.Pod
}

func (s *podStorage) GuaranteedUpdate(ctx context.Context, key string, destination runtime.Object, ignoreNotFound bool, preconditions *storage.Preconditions, tryUpdate storage.UpdateFunc, cached runtime.Object) error {
	if s.pod == nil || key != "pods/"+s.pod.Namespace+"/"+s.pod.Name {
		return storage.NewKeyNotFoundError(key, 0)
	}
	if err := preconditions.Check(key, s.pod); err != nil {
		return err
	}
	out, _, err := tryUpdate(s.pod.DeepCopy(), storage.ResponseMeta{})
	if err != nil {
		return err
	}
	s.pod = out.(*corev1.Pod)
	s.pod.DeepCopyInto(destination.(*corev1.Pod))
	return nil
}

func newBindingREST(pod *corev1.Pod) (*BindingREST, *podStorage) {
	s := &podStorage{pod: pod}
	store := &genericregistry.Store{
		Storage: genericregistry.DryRunnableStorage{Storage: s},
		KeyFunc: func(ctx context.Context, name string) (string, error) {
			ns, _ := genericapirequest.NamespaceFrom(ctx)
			return "pods/" + ns + "/" + name, nil
		},
	}
	return &BindingREST{store: store}, s
}

func binding(pod, node string) *corev1.Binding {
	return &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "default", Annotations: map[string]string{"a": "1"}},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
}

func TestBindingAssignsNode(t *testing.T) {
	pod := testPod("p")
	pod.Status.NominatedNodeName = "n0"
	r, s := newBindingREST(pod)
	ctx := genericapirequest.WithNamespace(context.Background(), "default")

	out, err := r.Create(ctx, "p", binding("p", "n1"), nil, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	if status, ok := out.(*metav1.Status); !ok || status.Status != metav1.StatusSuccess {
		t.Errorf("result = %#v, want a Success status", out)
	}
	got := s.pod
	if got.Spec.NodeName != "n1" {
		t.Errorf("nodeName = %q, want n1", got.Spec.NodeName)
	}
	if got.Annotations["a"] != "1" {
		t.Errorf("binding annotations not merged: %v", got.Annotations)
	}
	if got.Status.NominatedNodeName != "" {
		t.Errorf("nominatedNodeName = %q, want it cleared", got.Status.NominatedNodeName)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != corev1.PodScheduled || got.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("conditions = %+v, want PodScheduled=True", got.Status.Conditions)
	}

	// A second binding is a conflict and changes nothing.
	_, err = r.Create(ctx, "p", binding("p", "n2"), nil, &metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("second bind: %v, want a conflict", err)
	}
	want := `Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
	if s.pod.Spec.NodeName != "n1" {
		t.Errorf("nodeName = %q after a conflicting binding", s.pod.Spec.NodeName)
	}
}

func TestBindingRefusals(t *testing.T) {
	deleting := testPod("p")
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	gated := testPod("p")
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}}
	ctx := genericapirequest.WithNamespace(context.Background(), "default")

	tests := []struct {
		name    string
		pod     *corev1.Pod
		binding *corev1.Binding
		urlName string
		check   func(error) bool
		message string
	}{
		{"deleting pod", deleting, binding("p", "n1"), "p", apierrors.IsConflict,
			`Operation cannot be fulfilled on pods/binding "p": pod p is being deleted, cannot be assigned to a host`},
		{"gated pod", gated, binding("p", "n1"), "p", apierrors.IsConflict,
			`Operation cannot be fulfilled on pods/binding "p": pod p has non-empty .spec.schedulingGates`},
		{"missing pod", nil, binding("p", "n1"), "p", apierrors.IsNotFound, `pods "p" not found`},
		{"name mismatch", testPod("p"), binding("p", "n1"), "q", apierrors.IsBadRequest,
			"name in URL does not match name in Binding object"},
		{"no target", testPod("p"), binding("p", ""), "p", apierrors.IsInvalid,
			`Binding "p" is invalid: target.name: Required value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, s := newBindingREST(tt.pod)
			_, err := r.Create(ctx, tt.urlName, tt.binding, nil, &metav1.CreateOptions{})
			if !tt.check(err) {
				t.Fatalf("error = %v (%T)", err, err)
			}
			if err.Error() != tt.message {
				t.Errorf("error = %q, want %q", err.Error(), tt.message)
			}
			if s.pod != nil && s.pod.Spec.NodeName != "" {
				t.Errorf("pod bound despite the error")
			}
		})
	}
}

func TestLegacyBindingUsesBodyName(t *testing.T) {
	r, s := newBindingREST(testPod("p"))
	legacy := &LegacyBindingREST{binding: r}
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	if _, err := legacy.Create(ctx, binding("p", "n1"), nil, &metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if s.pod.Spec.NodeName != "n1" {
		t.Errorf("nodeName = %q, want n1", s.pod.Spec.NodeName)
	}
}
