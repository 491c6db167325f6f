package controller

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/apis/core/helper"
)

var podPhaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// PodsForDeletion sorts pods so that the ones a controller should delete
// first come first (upstream's ActivePodsWithRanks order):
//
//  1. unscheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower controller.kubernetes.io/pod-deletion-cost first;
//  5. higher rank first (rank: how many related pods share the node);
//  6. ready for a shorter time first;
//  7. more container restarts first;
//  8. newer first.
//
// Times in 6 and 8 compare on a log2 scale relative to Now (when set), with
// ties broken by UID, which spreads deletions among similar pods.
type PodsForDeletion struct {
	Pods []*corev1.Pod
	// Rank is parallel to Pods; nil means all zero.
	Rank []int
	Now  metav1.Time
}

func (s PodsForDeletion) Len() int { return len(s.Pods) }

func (s PodsForDeletion) Swap(i, j int) {
	s.Pods[i], s.Pods[j] = s.Pods[j], s.Pods[i]
	if s.Rank != nil {
		s.Rank[i], s.Rank[j] = s.Rank[j], s.Rank[i]
	}
}

func (s PodsForDeletion) Less(i, j int) bool {
	pi, pj := s.Pods[i], s.Pods[j]
	if pi.Spec.NodeName != pj.Spec.NodeName && (pi.Spec.NodeName == "" || pj.Spec.NodeName == "") {
		return pi.Spec.NodeName == ""
	}
	if podPhaseOrdinal[pi.Status.Phase] != podPhaseOrdinal[pj.Status.Phase] {
		return podPhaseOrdinal[pi.Status.Phase] < podPhaseOrdinal[pj.Status.Phase]
	}
	readyI, readyJ := podutil.IsPodReady(pi), podutil.IsPodReady(pj)
	if readyI != readyJ {
		return !readyI
	}
	costI, _ := helper.GetDeletionCostFromPodAnnotations(pi.Annotations)
	costJ, _ := helper.GetDeletionCostFromPodAnnotations(pj.Annotations)
	if costI != costJ {
		return costI < costJ
	}
	if s.Rank != nil && s.Rank[i] != s.Rank[j] {
		return s.Rank[i] > s.Rank[j]
	}
	if readyI && readyJ {
		ti, tj := podReadyTime(pi), podReadyTime(pj)
		if !ti.Equal(tj) {
			return s.newerFirst(ti, tj, pi, pj)
		}
	}
	if r := compareRestarts(pi, pj); r != 0 {
		return r > 0
	}
	if !pi.CreationTimestamp.Equal(&pj.CreationTimestamp) {
		return s.newerFirst(&pi.CreationTimestamp, &pj.CreationTimestamp, pi, pj)
	}
	return false
}

// newerFirst orders t1 before t2 when it is later (zero counts as latest),
// on a log scale when Now is set.
func (s PodsForDeletion) newerFirst(t1, t2 *metav1.Time, pi, pj *corev1.Pod) bool {
	if s.Now.IsZero() || t1.IsZero() || t2.IsZero() {
		return afterOrZero(t1, t2)
	}
	if d := logRank(*t1, s.Now) - logRank(*t2, s.Now); d != 0 {
		return d < 0
	}
	return pi.UID < pj.UID
}

// ActivePods sorts pods in the same order without ranks or log scaling
// (upstream's ActivePods, used by the Job and Deployment controllers).
func ActivePods(pods []*corev1.Pod) PodsForDeletion {
	return PodsForDeletion{Pods: pods}
}

func afterOrZero(t1, t2 *metav1.Time) bool {
	if t1.Time.IsZero() || t2.Time.IsZero() {
		return t1.Time.IsZero()
	}
	return t1.After(t2.Time)
}

func logRank(t, now metav1.Time) int64 {
	d := now.Sub(t.Time)
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

func podReadyTime(pod *corev1.Pod) *metav1.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return &c.LastTransitionTime
		}
	}
	return &metav1.Time{}
}

// compareRestarts is >0 when pi's containers restarted more than pj's
// (regular containers first, then sidecars), <0 when fewer, 0 when equal.
func compareRestarts(pi, pj *corev1.Pod) int {
	ri, si := maxRestarts(pi)
	rj, sj := maxRestarts(pj)
	if ri != rj {
		return ri - rj
	}
	return si - sj
}

func maxRestarts(pod *corev1.Pod) (regular, sidecar int) {
	for _, c := range pod.Status.ContainerStatuses {
		regular = max(regular, int(c.RestartCount))
	}
	sidecars := sets.New[string]()
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Insert(c.Name)
		}
	}
	for _, c := range pod.Status.InitContainerStatuses {
		if sidecars.Has(c.Name) {
			sidecar = max(sidecar, int(c.RestartCount))
		}
	}
	return regular, sidecar
}
