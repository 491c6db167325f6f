package simulator

import (
	"context"
	"fmt"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// enqueuePod queues pods bound to a simulated node.
func (s *Simulator) enqueuePod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		if t, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
			pod, ok = t.Obj.(*v1.Pod)
		}
		if !ok {
			return
		}
	}
	if _, ours := s.nodeByName[pod.Spec.NodeName]; !ours {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(pod)
	if err != nil {
		return
	}
	s.queue.Add(key)
}

func (s *Simulator) deletePod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		t, isTombstone := obj.(cache.DeletedFinalStateUnknown)
		if !isTombstone {
			return
		}
		if pod, ok = t.Obj.(*v1.Pod); !ok {
			return
		}
	}
	if n, ours := s.nodeByName[pod.Spec.NodeName]; ours {
		n.releaseIP(pod.UID)
	}
}

func (s *Simulator) runWorker(ctx context.Context) {
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		func() {
			defer s.queue.Done(key)
			after, err := s.syncPod(ctx, key)
			switch {
			case err != nil:
				klog.V(2).InfoS("Simulated pod sync failed; retrying", "pod", key, "err", err)
				s.queue.AddRateLimited(key)
			case after > 0:
				s.queue.Forget(key)
				s.queue.AddAfter(key, after)
			default:
				s.queue.Forget(key)
			}
		}()
	}
}

// syncPod moves a pod on a simulated node one step: a deleted pod goes
// away after its grace period, a pending pod starts running, a running pod
// with a run duration completes. It returns when to look again.
func (s *Simulator) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	node, ours := s.nodeByName[pod.Spec.NodeName]
	if !ours {
		return 0, nil
	}
	now := time.Now()
	if pod.DeletionTimestamp != nil {
		// The containers "stop" when the grace period ends; terminal pods
		// have nothing left to stop.
		if !isTerminal(pod) && pod.DeletionTimestamp.After(now) {
			return pod.DeletionTimestamp.Sub(now), nil
		}
		err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, fmt.Errorf("delete pod: %w", err)
		}
		node.releaseIP(pod.UID)
		return 0, nil
	}
	switch pod.Status.Phase {
	case v1.PodSucceeded, v1.PodFailed:
		node.releaseIP(pod.UID)
		return 0, nil
	case v1.PodRunning:
		return s.maybeComplete(ctx, pod, now)
	}
	// Pending: start it.
	if wait := s.opts.StartupDelay - now.Sub(pod.CreationTimestamp.Time); wait > 0 {
		return wait, nil
	}
	ip := node.ip
	if !pod.Spec.HostNetwork {
		if ip, err = node.allocateIP(pod.UID); err != nil {
			return 0, err
		}
	}
	st := runningStatus(pod, node.ip, ip, metav1.NewTime(now))
	if err := framework.PatchPodStatus(ctx, s.client, pod.Name, pod.Namespace, &pod.Status, st); err != nil {
		if apierrors.IsNotFound(err) {
			node.releaseIP(pod.UID)
			return 0, nil
		}
		return 0, fmt.Errorf("mark pod running: %w", err)
	}
	if d, ok := s.runDuration(pod); ok {
		return max(d, time.Millisecond), nil
	}
	return 0, nil
}

func isTerminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

// runDuration is how long the pod runs before completing: its annotation,
// or JobPodDuration for pods of Jobs; false when it runs until deleted.
func (s *Simulator) runDuration(pod *v1.Pod) (time.Duration, bool) {
	if v, ok := pod.Annotations[RunDurationAnnotation]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d, true
		}
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.Kind == "Job" {
		return s.opts.JobPodDuration, true
	}
	return 0, false
}

func (s *Simulator) maybeComplete(ctx context.Context, pod *v1.Pod, now time.Time) (time.Duration, error) {
	d, ok := s.runDuration(pod)
	if !ok || pod.Spec.RestartPolicy == v1.RestartPolicyAlways {
		return 0, nil
	}
	start := pod.CreationTimestamp.Time
	if pod.Status.StartTime != nil {
		start = pod.Status.StartTime.Time
	}
	if left := start.Add(d).Sub(now); left > 0 {
		return left, nil
	}
	exit := int32(0)
	if v, ok := pod.Annotations[ExitCodeAnnotation]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			exit = int32(n)
		}
	}
	st := completedStatus(pod, exit, metav1.NewTime(now))
	if err := framework.PatchPodStatus(ctx, s.client, pod.Name, pod.Namespace, &pod.Status, st); err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("complete pod: %w", err)
	}
	return 0, nil
}

func containerID(pod *v1.Pod, name string) string {
	return "simulated://" + string(pod.UID) + "-" + name
}

func imageID(image string) string { return "simulated://" + image }

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// runningStatus is the status the kubelet would post once every container
// started and is ready.
func runningStatus(pod *v1.Pod, hostIP, podIP string, now metav1.Time) *v1.PodStatus {
	st := pod.Status.DeepCopy()
	st.Phase = v1.PodRunning
	st.HostIP = hostIP
	st.HostIPs = []v1.HostIP{{IP: hostIP}}
	st.PodIP = podIP
	st.PodIPs = []v1.PodIP{{IP: podIP}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := v1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name)}
		if isSidecar(c) {
			cs.Ready, cs.Started = true, ptr.To(true)
			cs.State.Running = &v1.ContainerStateRunning{StartedAt: now}
		} else {
			cs.Started = ptr.To(false)
			cs.State.Terminated = &v1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st.ContainerStatuses = append(st.ContainerStatuses, v1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name),
			Ready: true, Started: ptr.To(true),
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}},
		})
	}
	for _, t := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady, v1.PodScheduled} {
		setCondition(pod, st, t, v1.ConditionTrue, "", now)
	}
	return st
}

// completedStatus is the status of a pod whose containers exited.
func completedStatus(pod *v1.Pod, exit int32, now metav1.Time) *v1.PodStatus {
	st := pod.Status.DeepCopy()
	st.Phase = v1.PodSucceeded
	reason := "Completed"
	if exit != 0 {
		st.Phase, reason = v1.PodFailed, "Error"
	}
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		started := now
		if cs.State.Running != nil {
			started = cs.State.Running.StartedAt
		}
		cs.Ready, cs.Started = false, ptr.To(false)
		cs.State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: exit, Reason: reason, StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID}}
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if cs.State.Running != nil {
			cs.Ready, cs.Started = false, ptr.To(false)
			cs.State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: cs.State.Running.StartedAt, FinishedAt: now, ContainerID: cs.ContainerID}}
		}
	}
	setCondition(pod, st, v1.ContainersReady, v1.ConditionFalse, "PodCompleted", now)
	setCondition(pod, st, v1.PodReady, v1.ConditionFalse, "PodCompleted", now)
	setCondition(pod, st, v1.PodReadyToStartContainers, v1.ConditionFalse, "", now)
	return st
}

func setCondition(pod *v1.Pod, st *v1.PodStatus, t v1.PodConditionType, status v1.ConditionStatus, reason string, now metav1.Time) {
	podutil.UpdatePodCondition(st, &v1.PodCondition{
		Type:               t,
		Status:             status,
		Reason:             reason,
		LastTransitionTime: now,
		ObservedGeneration: podutil.CalculatePodConditionObservedGeneration(st, pod.Generation, t),
	})
}

// adoptPods records the IPs of pods already running on the nodes (after
// a restart of the simulator).
func (s *Simulator) adoptPods() {
	pods, err := s.podLister.List(labelsEverything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if n, ok := s.nodeByName[p.Spec.NodeName]; ok && p.Status.PodIP != "" && !p.Spec.HostNetwork {
			n.adoptIP(p.UID, p.Status.PodIP)
		}
	}
}
