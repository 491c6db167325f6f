package priority

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func newPlugin(t *testing.T, classes ...*schedulingv1.PriorityClass) *Plugin {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for _, c := range classes {
		if err := f.Scheduling().V1().PriorityClasses().Informer().GetIndexer().Add(c); err != nil {
			t.Fatal(err)
		}
	}
	p := New()
	p.SetExternalKubeInformerFactory(f)
	return p
}

func podAttrs(pod *corev1.Pod) admission.Attributes {
	return admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
}

func class(name string, value int32, global bool) *schedulingv1.PriorityClass {
	never := corev1.PreemptNever
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: global, PreemptionPolicy: &never}
}

func TestPodPriority(t *testing.T) {
	p := newPlugin(t, class("high", 1000, false), class("low-default", 10, true))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{PriorityClassName: "high"}}
	if err := p.Admit(context.Background(), podAttrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if *pod.Spec.Priority != 1000 || *pod.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Errorf("priority = %d, policy = %s", *pod.Spec.Priority, *pod.Spec.PreemptionPolicy)
	}

	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if err := p.Admit(context.Background(), podAttrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.PriorityClassName != "low-default" || *pod.Spec.Priority != 10 {
		t.Errorf("default class: %q %d", pod.Spec.PriorityClassName, *pod.Spec.Priority)
	}

	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{PriorityClassName: "nope"}}
	if err := p.Admit(context.Background(), podAttrs(pod), nil); err == nil || !strings.Contains(err.Error(), "no PriorityClass with name nope was found") {
		t.Errorf("missing class: err = %v", err)
	}

	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{PriorityClassName: "high", Priority: ptr.To[int32](5)}}
	if err := p.Admit(context.Background(), podAttrs(pod), nil); err == nil || !strings.Contains(err.Error(), "the integer value of priority (5) must not be provided in pod spec") {
		t.Errorf("mismatched priority: err = %v", err)
	}
}

func TestNoDefaultClassMeansZero(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	if err := newPlugin(t).Admit(context.Background(), podAttrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if *pod.Spec.Priority != 0 || *pod.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("priority %d policy %s", *pod.Spec.Priority, *pod.Spec.PreemptionPolicy)
	}
}

func TestOnlyOneGlobalDefault(t *testing.T) {
	p := newPlugin(t, class("existing", 10, true))
	pc := class("another", 20, true)
	a := admission.NewAttributesRecord(pc, nil, schedulingv1.SchemeGroupVersion.WithKind("PriorityClass"), "", pc.Name,
		schedulingv1.SchemeGroupVersion.WithResource("priorityclasses"), "", admission.Create, nil, false, nil)
	if err := p.Validate(context.Background(), a, nil); err == nil || !strings.Contains(err.Error(), "PriorityClass existing is already marked as default. Only one default can exist") {
		t.Errorf("err = %v", err)
	}
}
