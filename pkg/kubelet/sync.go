package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/skiff-project/skiff/pkg/kubelet/volume"
)

// minGracePeriod is upstream's minimum grace after a preStop hook.
const minGracePeriod = 2

// syncPod brings one pod's runtime state to its spec and reports its
// status. It returns when to sync again, and done when the worker can go.
func (kl *Kubelet) syncPod(ctx context.Context, w *podWorker) (time.Duration, bool) {
	logger := klog.FromContext(ctx)
	pod, last, deleted := w.current()
	state, err := readPodState(ctx, kl.runtime, w.uid)
	if err != nil {
		logger.Error(err, "Cannot read the pod's runtime state")
		return 2 * time.Second, false
	}

	// Gone from the API (force deletion) or unknown: stop and remove
	// everything.
	if pod == nil || deleted {
		grace := int64(minGracePeriod)
		if last != nil && last.DeletionGracePeriodSeconds != nil {
			grace = *last.DeletionGracePeriodSeconds
		}
		kl.killPod(ctx, last, state, grace, "")
		kl.cleanupPod(ctx, w.uid, last, state)
		return 0, true
	}

	if pod.DeletionTimestamp != nil {
		grace := int64(30)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		if !w.terminated {
			kl.killPod(ctx, pod, state, grace, "")
			w.terminated = true
			if state, err = readPodState(ctx, kl.runtime, w.uid); err != nil {
				return time.Second, false
			}
		}
		status := kl.podStatus(pod, state, w, true)
		if err := kl.status.writeNow(ctx, pod, status); err != nil && !apierrors.IsNotFound(err) {
			logger.Error(err, "Cannot write the final pod status")
			return time.Second, false
		}
		kl.cleanupPod(ctx, w.uid, pod, state)
		if isStaticPod(pod) {
			return 0, true
		}
		// The kubelet completes a graceful deletion, as upstream.
		err := kl.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			logger.Error(err, "Cannot delete the pod")
			return time.Second, false
		}
		return 0, true
	}

	if !w.admissionChecked && !w.terminal && pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed {
		w.admissionChecked = true
		if len(state.Sandboxes) > 0 {
			kl.admitter.record(pod)
		} else if reason, message := kl.admitter.admit(pod, kl.admissionNode(ctx), kl.podHoldsNode); reason != "" {
			logger.Info("Pod rejected", "reason", reason, "message", message)
			kl.recorder.Eventf(pod, v1.EventTypeWarning, reason, "%s", message)
			w.rejectReason, w.rejectMessage, w.terminal = reason, message, true
		}
	}
	if !w.terminal && pastActiveDeadline(pod, time.Now()) {
		kl.recorder.Eventf(pod, v1.EventTypeNormal, reasonDeadlineExceeded, "%s", messageDeadlineExceeded)
		w.deadlineExceeded, w.terminal = true, true
	}
	if w.terminal || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		w.terminal = true
		kl.stopTerminalPod(ctx, pod, state)
		if st, err := readPodState(ctx, kl.runtime, w.uid); err == nil {
			state = st
		}
		kl.status.set(pod, kl.podStatus(pod, state, w, true))
		return time.Minute, false
	}

	next := kl.cfg.ResyncInterval
	// Volumes, refreshed at every periodic sync (configMap, secret,
	// downward API and token contents follow their sources).
	mounts, err := kl.volumes.SetUp(ctx, pod)
	if err != nil {
		if volume.IsWaiting(err) {
			logger.V(2).Info("Waiting for volumes", "reason", err.Error())
		} else {
			kl.recorder.Eventf(pod, v1.EventTypeWarning, "FailedMount", "%v", err)
		}
		kl.status.set(pod, kl.podStatus(pod, state, w, false))
		return 2 * time.Second, false
	}

	sandbox := state.readySandbox()
	if sandbox == nil {
		if len(state.Sandboxes) > 0 {
			// The sandbox died: its containers go, a new sandbox comes.
			kl.killPod(ctx, pod, state, minGracePeriod, "")
		}
		if pod.Spec.RestartPolicy == v1.RestartPolicyNever && len(state.Containers) > 0 {
			// Containers of a Never pod ran: the pod is done, no new sandbox.
			w.terminal = true
			kl.status.set(pod, kl.podStatus(pod, state, w, true))
			return 0, false
		}
		attempt := uint32(0)
		if len(state.Sandboxes) > 0 {
			attempt = state.Sandboxes[0].Attempt + 1
		}
		if _, err := kl.createSandbox(ctx, pod, attempt); err != nil {
			kl.recorder.Eventf(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			logger.Error(err, "Cannot create the pod sandbox")
			kl.status.set(pod, kl.podStatus(pod, state, w, false))
			return 2 * time.Second, false
		}
		if state, err = readPodState(ctx, kl.runtime, w.uid); err != nil {
			return time.Second, false
		}
		sandbox = state.readySandbox()
		if sandbox == nil {
			return time.Second, false
		}
	}

	w.waiting = map[string]waitingReason{}
	podIPs := sandbox.IPs
	if pod.Spec.HostNetwork {
		podIPs = kl.hostIPs
	}
	sc := &syncContext{pod: pod, state: state, sandbox: sandbox, podIPs: podIPs, mounts: mounts, w: w}
	changed, wakeAt := kl.syncContainers(ctx, sc)
	if changed {
		if st, err := readPodState(ctx, kl.runtime, w.uid); err == nil {
			state = st
		}
	}
	if wakeAt > 0 && wakeAt < next {
		next = wakeAt
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && pod.Status.StartTime != nil {
		if left := time.Until(pod.Status.StartTime.Add(time.Duration(*d) * time.Second)); left > 0 && left < next {
			next = left
		}
	}
	kl.probes.sync(ctx, pod, state, podIPs)
	status := kl.podStatus(pod, state, w, false)
	if status.Phase == v1.PodSucceeded || status.Phase == v1.PodFailed {
		// Nothing will run again: stop the sandbox, report the final phase.
		w.terminal = true
		kl.stopTerminalPod(ctx, pod, state)
		if st, err := readPodState(ctx, kl.runtime, w.uid); err == nil {
			state = st
		}
		status = kl.podStatus(pod, state, w, true)
	}
	kl.status.set(pod, status)
	kl.removeOldContainers(ctx, state)
	return next, false
}

// syncContext is one sync's view of a pod.
type syncContext struct {
	pod     *v1.Pod
	state   *podRuntimeState
	sandbox *sandboxState
	podIPs  []string
	mounts  map[string]string
	w       *podWorker
}

// syncContainers starts, restarts and kills containers. It reports
// whether it changed anything and how soon a back-off ends.
func (kl *Kubelet) syncContainers(ctx context.Context, sc *syncContext) (changed bool, wakeAt time.Duration) {
	pod, state := sc.pod, sc.state
	initialized := false
	for _, c := range pod.Spec.Containers {
		if cs := state.latestContainer(c.Name); cs != nil && (cs.SandboxID == sc.sandbox.ID || !cs.StartedAt.IsZero()) {
			initialized = true
		}
	}
	wake := func(d time.Duration) {
		if d > 0 && (wakeAt == 0 || d < wakeAt) {
			wakeAt = d
		}
	}
	// Init containers, in order; sidecars keep running.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := state.latestContainer(c.Name)
		if cs != nil && cs.SandboxID != sc.sandbox.ID {
			cs = nil // from an old sandbox: runs again in the new one
		}
		if podutil.IsRestartableInitContainer(c) {
			ch, d, running := kl.ensureRunning(ctx, sc, c, cs, true)
			changed = changed || ch
			wake(d)
			if !initialized && (!running || !kl.probes.started(pod.UID, c, cs)) {
				return changed, wakeAt
			}
			continue
		}
		if initialized {
			continue
		}
		switch {
		case cs == nil:
			ch, d := kl.startContainer(ctx, sc, c, nil, true)
			return changed || ch, minPositive(wakeAt, d)
		case isRunningState(cs.State):
			return changed, wakeAt
		case cs.ExitCode == 0:
			continue
		default:
			if !podutil.ContainerShouldRestart(*c, pod.Spec, cs.ExitCode) {
				return changed, wakeAt
			}
			ch, d := kl.startContainer(ctx, sc, c, cs, true)
			return changed || ch, minPositive(wakeAt, d)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := state.latestContainer(c.Name)
		if cs != nil && cs.SandboxID != sc.sandbox.ID {
			cs = nil
		}
		wg.Add(1)
		// Containers start in parallel: image checks and CRI calls of one
		// container do not wait for another's.
		go func() {
			defer wg.Done()
			ch, d, _ := kl.ensureRunning(ctx, sc, c, cs, false)
			mu.Lock()
			changed = changed || ch
			wake(d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range pod.Spec.EphemeralContainers {
		ec := &pod.Spec.EphemeralContainers[i]
		c := v1.Container(ec.EphemeralContainerCommon)
		if state.latestContainer(c.Name) == nil {
			ch, d := kl.startContainer(ctx, sc, &c, nil, false)
			changed = changed || ch
			wake(d)
		}
	}
	return changed, wakeAt
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// ensureRunning keeps one regular container or sidecar running according
// to the restart policy, and kills it when its liveness or startup probe
// failed. running reports whether it runs now.
func (kl *Kubelet) ensureRunning(ctx context.Context, sc *syncContext, c *v1.Container, cs *containerState, sidecar bool) (changed bool, wakeAt time.Duration, running bool) {
	switch {
	case cs == nil:
		ch, d := kl.startContainer(ctx, sc, c, nil, sidecar)
		return ch, d, ch
	case cs.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
		if msg, failed := kl.probes.mustRestart(sc.pod.UID, c, cs.ID); failed {
			kl.killContainer(ctx, sc.pod, c, cs, gracePeriod(sc.pod, c), msg)
			kl.probes.reset(sc.pod.UID, c.Name)
			return true, 0, false
		}
		if restart := kl.resize(ctx, sc.pod, c, cs); restart {
			kl.killContainer(ctx, sc.pod, c, cs, gracePeriod(sc.pod, c), fmt.Sprintf("Container %s resize requires restart", c.Name))
			return true, 0, false
		}
		return false, 0, true
	case cs.State == runtimeapi.ContainerState_CONTAINER_EXITED:
		restart := sidecar || podutil.ContainerShouldRestart(*c, sc.pod.Spec, cs.ExitCode)
		if !restart {
			return false, 0, false
		}
		ch, d := kl.startContainer(ctx, sc, c, cs, sidecar)
		return ch, d, ch
	default:
		// Created but never started (a failed start): remove and retry.
		_ = kl.runtime.RemoveContainer(ctx, cs.ID)
		ch, d := kl.startContainer(ctx, sc, c, nil, sidecar)
		return true, d, ch
	}
}

// startContainer creates and starts one container; previous is the
// container it replaces (nil for the first). Failures become the
// container's waiting reason.
func (kl *Kubelet) startContainer(ctx context.Context, sc *syncContext, c *v1.Container, previous *containerState, sidecar bool) (bool, time.Duration) {
	pod := sc.pod
	restartCount := int32(0)
	if previous != nil {
		restartCount = previous.RestartCount + 1
		key := backoffKey(pod, c)
		if in, remaining := kl.backoff.inBackoffSince(key, previous.FinishedAt, time.Now()); in {
			kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, formatPod(pod))
			sc.w.setWaiting(c.Name, waitingReason{Reason: reasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", kl.backoff.get(key), c.Name, formatPod(pod))})
			return false, remaining
		}
		kl.backoff.next(key, previous.FinishedAt)
	}
	imageRef, imageUser, wait, retry := kl.ensureImage(ctx, pod, c)
	if wait != nil {
		sc.w.setWaiting(c.Name, *wait)
		return false, retry
	}
	cfg, err := kl.containerConfig(ctx, sc, c, imageRef, imageUser, restartCount)
	if err != nil {
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "Failed", "Error: %v", err)
		sc.w.setWaiting(c.Name, waitingReason{Reason: reasonCreateContainerConfigErr, Message: err.Error()})
		return false, 2 * time.Second
	}
	sandboxCfg, err := kl.sandboxConfig(pod, sc.sandbox.Attempt)
	if err != nil {
		sc.w.setWaiting(c.Name, waitingReason{Reason: reasonCreateContainerConfigErr, Message: err.Error()})
		return false, 2 * time.Second
	}
	id, err := kl.runtime.CreateContainer(ctx, sc.sandbox.ID, cfg, sandboxCfg)
	if err != nil {
		msg := grpcMessage(err)
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "Failed", "Error: %s", msg)
		sc.w.setWaiting(c.Name, waitingReason{Reason: reasonCreateContainerError, Message: msg})
		return false, 2 * time.Second
	}
	kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Created", "Container created")
	if err := kl.runtime.StartContainer(ctx, id); err != nil {
		msg := grpcMessage(err)
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "Failed", "Error: %s", msg)
		sc.w.setWaiting(c.Name, waitingReason{Reason: reasonRunContainerError, Message: msg})
		return true, 2 * time.Second
	}
	kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Started", "Container started")
	kl.setApplied(id, cfg.Linux.Resources)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := kl.runHook(ctx, pod, c, id, sc.podIPs, c.Lifecycle.PostStart, gracePeriod(pod, c)); err != nil {
			kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed")
			klog.FromContext(ctx).Info("PostStart hook failed", "container", c.Name, "err", err, "output", msg)
			kl.killContainer(ctx, pod, c, &containerState{ID: id, Name: c.Name, State: runtimeapi.ContainerState_CONTAINER_RUNNING}, gracePeriod(pod, c), "FailedPostStartHook")
		}
	}
	return true, 0
}

func (w *podWorker) setWaiting(name string, r waitingReason) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting[name] = r
}

// gracePeriod is the pod's termination grace for a container kill.
func gracePeriod(pod *v1.Pod, _ *v1.Container) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// killContainer runs the preStop hook and stops one container within grace
// seconds. message is the Killing event's text ("" for upstream's default).
func (kl *Kubelet) killContainer(ctx context.Context, pod *v1.Pod, c *v1.Container, cs *containerState, grace int64, message string) {
	if message == "" {
		message = fmt.Sprintf("Stopping container %s", cs.Name)
	}
	if pod != nil && c != nil {
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Killing", "%s", message)
	}
	start := time.Now()
	if pod != nil && c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && cs.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
		hookCtx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
		if msg, err := kl.runHook(hookCtx, pod, c, cs.ID, podIPsOf(pod), c.Lifecycle.PreStop, grace); err != nil {
			kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed")
			klog.FromContext(ctx).Info("PreStop hook failed", "container", c.Name, "err", err, "output", msg)
		}
		cancel()
		grace -= int64(time.Since(start).Seconds())
		if grace < minGracePeriod {
			grace = minGracePeriod
		}
	}
	if err := kl.runtime.StopContainer(ctx, cs.ID, grace); err != nil {
		klog.FromContext(ctx).Error(err, "Cannot stop container", "container", cs.Name, "id", cs.ID)
	}
}

func podIPsOf(pod *v1.Pod) []string {
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	return ips
}

// killPod stops every running container (regular and ephemeral first,
// then sidecars in reverse order, as upstream) and then the sandboxes.
func (kl *Kubelet) killPod(ctx context.Context, pod *v1.Pod, state *podRuntimeState, grace int64, message string) {
	specs := map[string]*v1.Container{}
	sidecarOrder := map[string]int{}
	if pod != nil {
		for i := range pod.Spec.Containers {
			specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
		}
		for i := range pod.Spec.InitContainers {
			specs[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
			if podutil.IsRestartableInitContainer(&pod.Spec.InitContainers[i]) {
				sidecarOrder[pod.Spec.InitContainers[i].Name] = i + 1
			}
		}
		for i := range pod.Spec.EphemeralContainers {
			c := v1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			specs[c.Name] = &c
		}
	}
	var main, sidecars []containerState
	for _, cs := range state.runningContainers() {
		if sidecarOrder[cs.Name] > 0 {
			sidecars = append(sidecars, cs)
		} else {
			main = append(main, cs)
		}
	}
	stopAll := func(list []containerState) {
		var wg sync.WaitGroup
		for _, cs := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kl.killContainer(ctx, pod, specs[cs.Name], &cs, grace, message)
			}()
		}
		wg.Wait()
	}
	stopAll(main)
	sort.Slice(sidecars, func(i, j int) bool { return sidecarOrder[sidecars[i].Name] > sidecarOrder[sidecars[j].Name] })
	for _, cs := range sidecars {
		stopAll([]containerState{cs})
	}
	// Every sandbox, dead ones too: stopping tears down a sandbox's network
	// and removes its network namespace, which a sandbox whose pause
	// process died (e.g. across a containerd restart) still holds.
	for _, sb := range state.Sandboxes {
		if err := kl.runtime.StopPodSandbox(ctx, sb.ID); err != nil {
			klog.FromContext(ctx).Error(err, "Cannot stop pod sandbox", "id", sb.ID)
		}
	}
}

// stopTerminalPod stops whatever still runs of a pod that finished.
func (kl *Kubelet) stopTerminalPod(ctx context.Context, pod *v1.Pod, state *podRuntimeState) {
	running := len(state.runningContainers()) > 0
	for _, sb := range state.Sandboxes {
		running = running || sb.Ready
	}
	if running {
		kl.killPod(ctx, pod, state, gracePeriod(pod, nil), "")
	}
}

// cleanupPod removes a pod's containers, sandboxes (CNI teardown, netns),
// volumes, cgroup and logs.
func (kl *Kubelet) cleanupPod(ctx context.Context, uid types.UID, pod *v1.Pod, state *podRuntimeState) {
	logger := klog.FromContext(ctx)
	for _, c := range state.Containers {
		if err := kl.runtime.RemoveContainer(ctx, c.ID); err != nil {
			logger.Error(err, "Cannot remove container", "id", c.ID)
		}
		kl.mu.Lock()
		delete(kl.applied, c.ID)
		kl.mu.Unlock()
	}
	for _, sb := range state.Sandboxes {
		if err := kl.runtime.StopPodSandbox(ctx, sb.ID); err != nil {
			logger.Error(err, "Cannot stop pod sandbox", "id", sb.ID)
		}
		if err := kl.runtime.RemovePodSandbox(ctx, sb.ID); err != nil {
			logger.Error(err, "Cannot remove pod sandbox", "id", sb.ID)
		}
	}
	if err := kl.volumes.TearDown(uid); err != nil {
		logger.Error(err, "Cannot tear down volumes")
	}
	if err := os.RemoveAll(kl.podDir(uid)); err != nil {
		logger.Error(err, "Cannot remove the pod directory")
	}
	if pod != nil {
		_ = os.RemoveAll(kl.podLogDir(pod))
	}
	removePodCgroup(kl.podCgroup(uid))
	kl.backoff.forgetPrefix(string(uid) + "/")
	kl.pullBack.forgetPrefix(string(uid) + "_")
}

// removeOldContainers keeps, per container name, the newest container and
// the newest exited one before it (for logs --previous).
func (kl *Kubelet) removeOldContainers(ctx context.Context, state *podRuntimeState) {
	seen := map[string]int{}
	for _, c := range state.Containers {
		seen[c.Name]++
		if seen[c.Name] > 2 && !isRunningState(c.State) {
			if err := kl.runtime.RemoveContainer(ctx, c.ID); err != nil {
				klog.FromContext(ctx).V(2).Info("Cannot remove an old container", "id", c.ID, "err", err)
			}
		}
	}
	for i, sb := range state.Sandboxes {
		if i > 0 && !sb.Ready {
			// An older sandbox whose containers are gone.
			inUse := false
			for _, c := range state.Containers {
				if c.SandboxID == sb.ID && seen[c.Name] <= 2 {
					inUse = true
				}
			}
			if !inUse {
				_ = kl.runtime.RemovePodSandbox(ctx, sb.ID)
			}
		}
	}
}

// podStatus computes the API status from the runtime state.
func (kl *Kubelet) podStatus(pod *v1.Pod, state *podRuntimeState, w *podWorker, terminal bool) v1.PodStatus {
	ready, started := kl.probes.results(pod, state)
	w.mu.Lock()
	waiting := make(map[string]waitingReason, len(w.waiting))
	for k, v := range w.waiting {
		waiting[k] = v
	}
	w.mu.Unlock()
	if terminal {
		waiting = nil
	}
	kl.fillTerminationMessages(pod, state)
	in := statusInput{Pod: pod, State: state, Waiting: waiting, Ready: ready, Started: started,
		HostIPs: kl.hostIPs, Now: time.Now(), Terminal: terminal}
	if w.deadlineExceeded {
		in.Failed, in.Reason, in.Message = true, reasonDeadlineExceeded, messageDeadlineExceeded
	}
	if w.rejectReason != "" {
		// Upstream prefixes the admission message in the pod status.
		in.Failed, in.Reason, in.Message = true, w.rejectReason, "Pod was rejected: "+w.rejectMessage
	}
	return computePodStatus(in)
}

// podHoldsNode reports whether an admitted pod still exists and is not
// terminal, so that it still holds what it was admitted with.
func (kl *Kubelet) podHoldsNode(pod *v1.Pod) bool {
	if kl.podLister == nil {
		return false
	}
	cur, err := kl.podLister.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || cur.UID != pod.UID {
		return false
	}
	return cur.Status.Phase != v1.PodSucceeded && cur.Status.Phase != v1.PodFailed
}

// Upstream's reason and message for a pod past activeDeadlineSeconds.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// pastActiveDeadline reports whether the pod ran longer than
// activeDeadlineSeconds since it started on the node.
func pastActiveDeadline(pod *v1.Pod, now time.Time) bool {
	if pod.Spec.ActiveDeadlineSeconds == nil || pod.Status.StartTime == nil {
		return false
	}
	return now.Sub(pod.Status.StartTime.Time) >= time.Duration(*pod.Spec.ActiveDeadlineSeconds)*time.Second
}

// fillTerminationMessages reads the termination message files of exited
// containers (or the log tail with FallbackToLogsOnError).
func (kl *Kubelet) fillTerminationMessages(pod *v1.Pod, state *podRuntimeState) {
	specs := map[string]*v1.Container{}
	podutil.VisitContainers(&pod.Spec, podutil.AllFeatureEnabledContainers(), func(c *v1.Container, _ podutil.ContainerType) bool {
		specs[c.Name] = c
		return true
	})
	for i := range state.Containers {
		cs := &state.Containers[i]
		if cs.State != runtimeapi.ContainerState_CONTAINER_EXITED || cs.Message != "" {
			continue
		}
		spec := specs[cs.Name]
		if spec == nil {
			continue
		}
		path := kl.terminationMessageFile(pod.UID, cs.Name, cs.RestartCount)
		if data, err := readLimited(path, 4096); err == nil && len(data) > 0 {
			cs.Message = string(data)
			continue
		}
		if spec.TerminationMessagePolicy == v1.TerminationMessageFallbackToLogsOnError && cs.ExitCode != 0 && cs.LogPath != "" {
			cs.Message = tailLog(cs.LogPath, 80, 2048)
		}
	}
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, limit)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return nil, nil
	}
	return buf[:n], nil
}

// tailLog returns the last lines of a CRI log file, without the CRI
// prefixes, at most limit bytes.
func tailLog(path string, lines, limit int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	var b strings.Builder
	for _, l := range all {
		// <time> <stream> <tag> <text>
		parts := strings.SplitN(l, " ", 4)
		if len(parts) == 4 {
			b.WriteString(parts[3])
			if parts[2] != "P" {
				b.WriteByte('\n')
			}
		}
	}
	s := b.String()
	if len(s) > limit {
		s = s[len(s)-limit:]
	}
	return s
}

// terminationMessageFile is the host file mounted at a container's
// terminationMessagePath.
func (kl *Kubelet) terminationMessageFile(uid types.UID, container string, restartCount int32) string {
	return filepath.Join(kl.podDir(uid), "containers", container, fmt.Sprintf("%d.termination-log", restartCount))
}

// formatPod is upstream's format.Pod: name_namespace(uid).
func formatPod(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

func backoffKey(pod *v1.Pod, c *v1.Container) string {
	return string(pod.UID) + "/" + c.Name
}

// containerRef is the object reference events about a container use.
func containerRef(pod *v1.Pod, c *v1.Container) *v1.ObjectReference {
	ref := &v1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1", ResourceVersion: pod.ResourceVersion}
	if c != nil {
		ref.FieldPath = fieldPathOf(pod, c.Name)
	}
	return ref
}

func fieldPathOf(pod *v1.Pod, name string) string {
	for i, c := range pod.Spec.Containers {
		if c.Name == name {
			return fmt.Sprintf("spec.containers{%s}", pod.Spec.Containers[i].Name)
		}
	}
	for i, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return fmt.Sprintf("spec.initContainers{%s}", pod.Spec.InitContainers[i].Name)
		}
	}
	for i, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return fmt.Sprintf("spec.ephemeralContainers{%s}", pod.Spec.EphemeralContainers[i].Name)
		}
	}
	return ""
}

// grpcMessage is a CRI error's message without the gRPC prefix.
func grpcMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "desc = "); i >= 0 {
		msg = msg[i+len("desc = "):]
	}
	return msg
}
