package kubelet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	v1qos "k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
)

// Upstream's container waiting reasons and condition reasons.
const (
	reasonContainerCreating        = "ContainerCreating"
	reasonPodInitializing          = "PodInitializing"
	reasonCrashLoopBackOff         = "CrashLoopBackOff"
	reasonErrImagePull             = "ErrImagePull"
	reasonImagePullBackOff         = "ImagePullBackOff"
	reasonErrImageNeverPull        = "ErrImageNeverPull"
	reasonInvalidImageName         = "InvalidImageName"
	reasonCreateContainerConfigErr = "CreateContainerConfigError"
	reasonCreateContainerError     = "CreateContainerError"
	reasonRunContainerError        = "RunContainerError"
	reasonPostStartHookError       = "PostStartHookError"

	condReasonContainersNotReady       = "ContainersNotReady"
	condReasonContainersNotInitialized = "ContainersNotInitialized"
	condReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
	condReasonPodCompleted             = "PodCompleted"
	condReasonPodFailed                = "PodFailed"
)

// waitingReason is why a container is not running now, as the worker
// found out (image errors, back-off, config errors).
type waitingReason struct {
	Reason  string
	Message string
}

// statusInput is everything the pod status is computed from.
type statusInput struct {
	Pod   *v1.Pod
	State *podRuntimeState
	// Waiting holds the worker's reasons, by container name.
	Waiting map[string]waitingReason
	// Ready and Started are probe results by container name; a container
	// without a readiness (startup) probe is ready (started) while running.
	Ready   map[string]bool
	Started map[string]bool
	HostIPs []string
	Now     time.Time
	// Terminal means the pod will not run again (its phase is final).
	Terminal bool
	// Failed forces phase Failed with Reason and Message (e.g. the active
	// deadline passed).
	Failed          bool
	Reason, Message string
}

// kubeletConditions are the condition types the kubelet owns; others
// (PodScheduled, DisruptionTarget, readiness gates) are kept as found.
var kubeletConditions = []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady}

// computePodStatus is the pod's status as upstream's kubelet reports it.
func computePodStatus(in statusInput) v1.PodStatus {
	pod, old := in.Pod, &in.Pod.Status
	st := v1.PodStatus{
		HostIP:                first(in.HostIPs),
		StartTime:             old.StartTime,
		QOSClass:              old.QOSClass,
		NominatedNodeName:     old.NominatedNodeName,
		ObservedGeneration:    pod.Generation,
		Resize:                old.Resize,
		ResourceClaimStatuses: old.ResourceClaimStatuses,
	}
	if st.QOSClass == "" {
		st.QOSClass = v1qos.GetPodQOS(pod)
	}
	for _, ip := range in.HostIPs {
		st.HostIPs = append(st.HostIPs, v1.HostIP{IP: ip})
	}
	if st.StartTime == nil {
		t := metav1.NewTime(in.Now)
		st.StartTime = &t
	}
	var podIPs []string
	sandbox := in.State.readySandbox()
	if pod.Spec.HostNetwork {
		podIPs = in.HostIPs
	} else if sandbox != nil {
		podIPs = sandbox.IPs
	} else if !in.Terminal || len(in.State.Sandboxes) > 0 {
		// Keep the IPs while the pod shuts down, as upstream does.
		for _, ip := range old.PodIPs {
			podIPs = append(podIPs, ip.IP)
		}
	}
	st.PodIP = first(podIPs)
	for _, ip := range podIPs {
		st.PodIPs = append(st.PodIPs, v1.PodIP{IP: ip})
	}

	hasInit := len(pod.Spec.InitContainers) > 0
	st.InitContainerStatuses = containerStatuses(in, pod.Spec.InitContainers, old.InitContainerStatuses, hasInit)
	st.ContainerStatuses = containerStatuses(in, pod.Spec.Containers, old.ContainerStatuses, hasInit)
	st.EphemeralContainerStatuses = ephemeralStatuses(in, old.EphemeralContainerStatuses)

	all := append(append([]v1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...)
	initialized := podInitialized(pod, all)
	st.Phase = podPhase(pod, all, in.Terminal, initialized)
	if in.Failed {
		st.Phase, st.Reason, st.Message = v1.PodFailed, in.Reason, in.Message
	}
	if in.Terminal && (old.Phase == v1.PodSucceeded || old.Phase == v1.PodFailed) {
		st.Phase, st.Reason, st.Message = old.Phase, old.Reason, old.Message // a terminal phase never changes
	}

	conds := []v1.PodCondition{
		readyToStartCondition(pod, sandbox != nil || pod.Spec.HostNetwork && len(in.State.Sandboxes) > 0 && in.State.Sandboxes[0].Ready),
		initializedCondition(pod, all, st.Phase, initialized),
	}
	containersReady := containersReadyCondition(pod, all, st.Phase)
	conds = append(conds, containersReady, podReadyCondition(pod, old.Conditions, containersReady, st.Phase))
	for _, c := range old.Conditions {
		if !slices.Contains(kubeletConditions, c.Type) {
			st.Conditions = append(st.Conditions, c)
		}
	}
	if _, ok := findCondition(st.Conditions, v1.PodScheduled); !ok {
		// A pod bound at creation has no PodScheduled condition; upstream's
		// kubelet adds it.
		st.Conditions = append(st.Conditions, v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(in.Now)})
	}
	for _, c := range conds {
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = metav1.NewTime(in.Now)
		if prev, ok := findCondition(old.Conditions, c.Type); ok && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		st.Conditions = append(st.Conditions, c)
	}
	return st
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func findCondition(conds []v1.PodCondition, t v1.PodConditionType) (v1.PodCondition, bool) {
	for _, c := range conds {
		if c.Type == t {
			return c, true
		}
	}
	return v1.PodCondition{}, false
}

// containerStatuses converts the runtime's containers to API statuses for
// specs, in spec order.
func containerStatuses(in statusInput, specs []v1.Container, old []v1.ContainerStatus, hasInit bool) []v1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	defaultReason := reasonContainerCreating
	if hasInit {
		defaultReason = reasonPodInitializing
	}
	out := make([]v1.ContainerStatus, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		var oldStatus *v1.ContainerStatus
		for j := range old {
			if old[j].Name == spec.Name {
				oldStatus = &old[j]
			}
		}
		out = append(out, containerStatus(in, spec, oldStatus, defaultReason))
	}
	return out
}

func containerStatus(in statusInput, spec *v1.Container, oldStatus *v1.ContainerStatus, defaultReason string) v1.ContainerStatus {
	s := v1.ContainerStatus{Name: spec.Name, Image: spec.Image, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: defaultReason}}}
	for _, m := range spec.VolumeMounts {
		vs := v1.VolumeMountStatus{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly}
		if m.ReadOnly {
			mode := v1.RecursiveReadOnlyDisabled
			vs.RecursiveReadOnly = &mode
		}
		s.VolumeMounts = append(s.VolumeMounts, vs)
	}
	latest := in.State.latestContainer(spec.Name)
	if latest == nil {
		if oldStatus != nil {
			// The runtime lost the container (e.g. a pod sandbox was
			// recreated): keep what was known.
			s.RestartCount = oldStatus.RestartCount
			s.LastTerminationState = oldStatus.LastTerminationState
			if oldStatus.State.Terminated != nil {
				s.State = oldStatus.State
				s.ContainerID, s.ImageID, s.Image = oldStatus.ContainerID, oldStatus.ImageID, oldStatus.Image
			}
		}
	} else {
		s.ContainerID = "containerd://" + latest.ID
		s.RestartCount = latest.RestartCount
		if latest.Image != "" {
			s.Image = latest.Image
		}
		s.ImageID = latest.ImageRef
		s.State = runtimeToAPIState(latest)
		if prev := in.State.previousContainer(spec.Name); prev != nil {
			s.LastTerminationState = runtimeToAPIState(prev)
		} else if oldStatus != nil && oldStatus.LastTerminationState.Terminated != nil {
			s.LastTerminationState = oldStatus.LastTerminationState
		}
	}
	if w, ok := in.Waiting[spec.Name]; ok {
		if s.State.Terminated != nil {
			s.LastTerminationState = s.State
		}
		s.State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
	}
	running := s.State.Running != nil
	started := running && startedByProbe(in, spec)
	s.Started = &started
	s.Ready = started && readyByProbe(in, spec)
	if podutil.IsRestartableInitContainer(spec) || !isInitContainer(in.Pod, spec.Name) {
		// Regular containers and sidecars report their resources.
		if len(spec.Resources.Requests) > 0 || len(spec.Resources.Limits) > 0 {
			s.Resources = spec.Resources.DeepCopy()
			s.AllocatedResources = spec.Resources.Requests.DeepCopy()
		}
	}
	return s
}

func isInitContainer(pod *v1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func startedByProbe(in statusInput, spec *v1.Container) bool {
	if spec.StartupProbe == nil {
		return true
	}
	return in.Started[spec.Name]
}

func readyByProbe(in statusInput, spec *v1.Container) bool {
	if isInitContainer(in.Pod, spec.Name) && !podutil.IsRestartableInitContainer(spec) {
		return false
	}
	if spec.ReadinessProbe == nil {
		return true
	}
	return in.Ready[spec.Name]
}

// runtimeToAPIState converts one runtime container's state.
func runtimeToAPIState(c *containerState) v1.ContainerState {
	switch c.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		t := &v1.ContainerStateTerminated{ExitCode: c.ExitCode, Reason: c.Reason, Message: c.Message,
			StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt), ContainerID: "containerd://" + c.ID}
		if t.Reason == "" {
			t.Reason = "Error"
			if t.ExitCode == 0 {
				t.Reason = "Completed"
			}
		}
		return v1.ContainerState{Terminated: t}
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return v1.ContainerState{Waiting: &v1.ContainerStateWaiting{}}
	default:
		return v1.ContainerState{Waiting: &v1.ContainerStateWaiting{}}
	}
}

func ephemeralStatuses(in statusInput, old []v1.ContainerStatus) []v1.ContainerStatus {
	var out []v1.ContainerStatus
	for i := range in.Pod.Spec.EphemeralContainers {
		ec := in.Pod.Spec.EphemeralContainers[i]
		spec := v1.Container(ec.EphemeralContainerCommon)
		var oldStatus *v1.ContainerStatus
		for j := range old {
			if old[j].Name == spec.Name {
				oldStatus = &old[j]
			}
		}
		s := containerStatus(in, &spec, oldStatus, reasonContainerCreating)
		s.Ready = false
		s.Resources, s.AllocatedResources = nil, nil
		out = append(out, s)
	}
	return out
}

// podInitialized is true when every regular init container succeeded and
// every sidecar started, or once any regular container has started.
func podInitialized(pod *v1.Pod, statuses []v1.ContainerStatus) bool {
	for _, c := range pod.Spec.Containers {
		if s, ok := podutil.GetContainerStatus(statuses, c.Name); ok && (s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil) {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		s, ok := podutil.GetContainerStatus(statuses, c.Name)
		if !ok || !initContainerDone(c, &s) {
			return false
		}
	}
	return true
}

func initContainerDone(c *v1.Container, s *v1.ContainerStatus) bool {
	if podutil.IsRestartableInitContainer(c) {
		return s.Started != nil && *s.Started
	}
	return s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
}

// podPhase is upstream's phase computation from container statuses.
func podPhase(pod *v1.Pod, statuses []v1.ContainerStatus, terminal, initialized bool) v1.PodPhase {
	spec := pod.Spec
	pendingInit, pendingSidecars, failedInitNotRestartable := 0, 0, 0
	for i := range spec.InitContainers {
		c := spec.InitContainers[i]
		if podutil.IsRestartableInitContainer(&c) {
			continue
		}
		s, ok := podutil.GetContainerStatus(statuses, c.Name)
		switch {
		case !ok, s.State.Running != nil:
			pendingInit++
		case s.State.Terminated != nil:
			if code := s.State.Terminated.ExitCode; code != 0 && !podutil.ContainerShouldRestart(c, spec, code) {
				failedInitNotRestartable++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			if code := s.LastTerminationState.Terminated.ExitCode; code != 0 && !podutil.ContainerShouldRestart(c, spec, code) {
				failedInitNotRestartable++
			}
		default:
			pendingInit++
		}
	}
	unknown, running, waiting, stopped, stoppedNotRestartable, succeeded := 0, 0, 0, 0, 0, 0
	for i := range spec.InitContainers {
		c := spec.InitContainers[i]
		if !podutil.IsRestartableInitContainer(&c) {
			continue
		}
		s, ok := podutil.GetContainerStatus(statuses, c.Name)
		switch {
		case !ok:
			unknown++
		case s.State.Running != nil:
			if s.Started == nil || !*s.Started {
				pendingSidecars++
			}
			running++
		case s.State.Terminated != nil:
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
		default:
			pendingSidecars++
			waiting++
		}
	}
	for i := range spec.Containers {
		c := spec.Containers[i]
		s, ok := podutil.GetContainerStatus(statuses, c.Name)
		switch {
		case !ok:
			unknown++
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			code := s.State.Terminated.ExitCode
			if !podutil.ContainerShouldRestart(c, spec, code) {
				stoppedNotRestartable++
			}
			if code == 0 {
				succeeded++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			stopped++
			if !podutil.ContainerShouldRestart(c, spec, s.LastTerminationState.Terminated.ExitCode) {
				stoppedNotRestartable++
			}
		default:
			waiting++
		}
	}
	if failedInitNotRestartable > 0 {
		return v1.PodFailed
	}
	switch {
	case pendingInit > 0 || pendingSidecars > 0 && !initialized, waiting > 0:
		return v1.PodPending
	case running > 0 && unknown == 0:
		return v1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if terminal {
			if stopped == succeeded {
				return v1.PodSucceeded
			}
			return v1.PodFailed
		}
		if stopped != stoppedNotRestartable {
			return v1.PodRunning
		}
		if stopped == succeeded {
			return v1.PodSucceeded
		}
		return v1.PodFailed
	default:
		return v1.PodPending
	}
}

func readyToStartCondition(pod *v1.Pod, sandboxReady bool) v1.PodCondition {
	if sandboxReady {
		return v1.PodCondition{Type: v1.PodReadyToStartContainers, Status: v1.ConditionTrue}
	}
	return v1.PodCondition{Type: v1.PodReadyToStartContainers, Status: v1.ConditionFalse}
}

func initializedCondition(pod *v1.Pod, statuses []v1.ContainerStatus, phase v1.PodPhase, initialized bool) v1.PodCondition {
	if phase == v1.PodSucceeded {
		return v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue, Reason: condReasonPodCompleted}
	}
	if initialized {
		return v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue}
	}
	var incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if s, ok := podutil.GetContainerStatus(statuses, c.Name); !ok || !initContainerDone(c, &s) {
			incomplete = append(incomplete, c.Name)
		}
	}
	return v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionFalse, Reason: condReasonContainersNotInitialized,
		Message: fmt.Sprintf("containers with incomplete status: %s", listString(incomplete))}
}

func containersReadyCondition(pod *v1.Pod, statuses []v1.ContainerStatus, phase v1.PodPhase) v1.PodCondition {
	switch phase {
	case v1.PodSucceeded:
		return v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: condReasonPodCompleted}
	case v1.PodFailed:
		return v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: condReasonPodFailed}
	}
	var unready []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if !podutil.IsRestartableInitContainer(c) {
			continue
		}
		if s, ok := podutil.GetContainerStatus(statuses, c.Name); !ok || !s.Ready {
			unready = append(unready, c.Name)
		}
	}
	for _, c := range pod.Spec.Containers {
		if s, ok := podutil.GetContainerStatus(statuses, c.Name); !ok || !s.Ready {
			unready = append(unready, c.Name)
		}
	}
	if len(unready) > 0 {
		return v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: condReasonContainersNotReady,
			Message: fmt.Sprintf("containers with unready status: %s", listString(unready))}
	}
	return v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionTrue}
}

func podReadyCondition(pod *v1.Pod, conds []v1.PodCondition, containersReady v1.PodCondition, phase v1.PodPhase) v1.PodCondition {
	if containersReady.Status != v1.ConditionTrue {
		return v1.PodCondition{Type: v1.PodReady, Status: containersReady.Status, Reason: containersReady.Reason, Message: containersReady.Message}
	}
	var msgs []string
	for _, rg := range pod.Spec.ReadinessGates {
		c, ok := findCondition(conds, rg.ConditionType)
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(rg.ConditionType)))
		case c.Status != v1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(rg.ConditionType), c.Status))
		}
	}
	if len(msgs) > 0 {
		return v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: condReasonReadinessGatesNotReady, Message: strings.Join(msgs, ", ")}
	}
	return v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionTrue}
}

// listString formats names as Go prints a []string: [a b].
func listString(names []string) string { return fmt.Sprint(names) }
