package runtimeclass

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestRuntimeClass(t *testing.T) {
	rc := &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gvisor"},
		Handler:    "runsc",
		Overhead:   &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
		Scheduling: &nodev1.Scheduling{
			NodeSelector: map[string]string{"sandbox": "true"},
			Tolerations:  []corev1.Toleration{{Key: "sandbox", Operator: corev1.TolerationOpExists}},
		},
	}
	client := fake.NewClientset(rc)
	p := New()
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(informers.NewSharedInformerFactory(client, 0))
	attrs := func(pod *corev1.Pod) admission.Attributes {
		return admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p",
			corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{RuntimeClassName: ptr.To("gvisor"), NodeSelector: map[string]string{"zone": "a"}}}
	if err := p.Admit(context.Background(), attrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if mem := pod.Spec.Overhead[corev1.ResourceMemory]; mem.String() != "32Mi" {
		t.Errorf("overhead = %v", pod.Spec.Overhead)
	}
	if pod.Spec.NodeSelector["sandbox"] != "true" || pod.Spec.NodeSelector["zone"] != "a" || len(pod.Spec.Tolerations) != 1 {
		t.Errorf("scheduling: selector %v tolerations %v", pod.Spec.NodeSelector, pod.Spec.Tolerations)
	}
	if err := p.Validate(context.Background(), attrs(pod), nil); err != nil {
		t.Errorf("admitted pod fails validation: %v", err)
	}

	conflict := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{RuntimeClassName: ptr.To("gvisor"), NodeSelector: map[string]string{"sandbox": "false"}}}
	if err := p.Admit(context.Background(), attrs(conflict), nil); err == nil || !strings.Contains(err.Error(), "conflict: runtimeClass.scheduling.nodeSelector[sandbox] = true; pod.spec.nodeSelector[sandbox] = false") {
		t.Errorf("conflict: err = %v", err)
	}
	missing := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{RuntimeClassName: ptr.To("kata")}}
	if err := p.Admit(context.Background(), attrs(missing), nil); err == nil || !strings.Contains(err.Error(), `pod rejected: RuntimeClass "kata" not found`) {
		t.Errorf("missing: err = %v", err)
	}
	overheadOnly := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}
	if err := p.Validate(context.Background(), attrs(overheadOnly), nil); err == nil || !strings.Contains(err.Error(), "Pod Overhead set without corresponding RuntimeClass defined Overhead") {
		t.Errorf("overhead without class: err = %v", err)
	}
}

func TestMergeTolerations(t *testing.T) {
	five, ten := int64(5), int64(10)
	a := corev1.Toleration{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v", Effect: corev1.TaintEffectNoSchedule}
	all := corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists}
	short := corev1.Toleration{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &five}
	long := corev1.Toleration{Key: "n", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &ten}
	got := MergeTolerations([]corev1.Toleration{a, short}, []corev1.Toleration{all, long, a})
	if len(got) != 2 || got[0].Operator != corev1.TolerationOpExists || *got[1].TolerationSeconds != 10 {
		t.Errorf("merged = %+v, want the Exists toleration and the longer NoExecute one", got)
	}
}
