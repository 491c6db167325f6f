package controller

import (
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPodsForDeletionOrder(t *testing.T) {
	now := time.Now()
	mk := func(name, node string, phase corev1.PodPhase, readySince time.Duration, restarts int32, age time.Duration, cost string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{RestartCount: restarts}}},
		}
		if cost != "" {
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": cost}
		}
		if readySince > 0 {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-readySince))}}
		}
		return p
	}
	pods := []*corev1.Pod{
		mk("ready-old", "n", corev1.PodRunning, 10*time.Hour, 0, 20*time.Hour, ""),
		mk("expensive", "n", corev1.PodRunning, time.Second, 0, time.Second, "100"),
		mk("unscheduled", "", corev1.PodPending, 0, 0, time.Hour, ""),
		mk("ready-new", "n", corev1.PodRunning, time.Minute, 0, 20*time.Hour, ""),
		mk("pending", "n", corev1.PodPending, 0, 0, time.Hour, ""),
		mk("unknown", "n", corev1.PodUnknown, 0, 0, time.Hour, ""),
		mk("running-not-ready", "n", corev1.PodRunning, 0, 0, time.Hour, ""),
		mk("cheap", "n", corev1.PodRunning, 10*time.Hour, 0, 20*time.Hour, "-5"),
	}
	sort.Sort(PodsForDeletion{Pods: pods, Now: metav1.NewTime(now)})
	want := []string{"unscheduled", "pending", "unknown", "running-not-ready", "cheap", "ready-new", "ready-old", "expensive"}
	for i, p := range pods {
		if p.Name != want[i] {
			var got []string
			for _, p := range pods {
				got = append(got, p.Name)
			}
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestPodsForDeletionRestartsAndAge(t *testing.T) {
	base := metav1.NewTime(time.Now().Add(-time.Hour))
	a := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: base}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 1}}}}
	b := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: base}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 7}}}}
	c := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "c", CreationTimestamp: metav1.NewTime(base.Add(30 * time.Minute))}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 1}}}}
	pods := []*corev1.Pod{a, c, b}
	sort.Sort(ActivePods(pods))
	if pods[0].Name != "b" || pods[1].Name != "c" || pods[2].Name != "a" {
		t.Fatalf("order %s %s %s, want b (most restarts), c (newer), a", pods[0].Name, pods[1].Name, pods[2].Name)
	}
}

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	if !e.Satisfied("k") {
		t.Fatal("unknown key must be satisfied")
	}
	e.ExpectCreations("k", 2)
	e.CreationObserved("k")
	if e.Satisfied("k") {
		t.Fatal("one creation still pending")
	}
	e.CreationObserved("k")
	if !e.Satisfied("k") {
		t.Fatal("all creations observed")
	}
	e.ExpectDeletions("k", []string{"ns/a", "ns/b"})
	e.DeletionObserved("k", "ns/a")
	e.DeletionObserved("k", "ns/a")
	e.DeletionObserved("k", "ns/other")
	if e.Satisfied("k") {
		t.Fatal("ns/b still pending")
	}
	e.DeletionObserved("k", "ns/b")
	if !e.Satisfied("k") {
		t.Fatal("deletions observed")
	}
}
