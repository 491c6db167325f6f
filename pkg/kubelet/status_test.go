package kubelet

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testPod(policy v1.RestartPolicy, containers ...string) *v1.Pod {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Generation: 3}, Spec: v1.PodSpec{RestartPolicy: policy}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: c, Image: "busybox"})
	}
	return pod
}

func running(name, id string, restarts int32) containerState {
	return containerState{ID: id, Name: name, State: runtimeapi.ContainerState_CONTAINER_RUNNING, StartedAt: now.Add(-time.Minute), RestartCount: restarts, Attempt: uint32(restarts), SandboxID: "sb"}
}

func exited(name, id string, code int32, restarts int32) containerState {
	return containerState{ID: id, Name: name, State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: code, StartedAt: now.Add(-time.Minute), FinishedAt: now.Add(-time.Second), RestartCount: restarts, Attempt: uint32(restarts), SandboxID: "sb"}
}

func readySandbox() []sandboxState {
	return []sandboxState{{ID: "sb", Ready: true, IPs: []string{"10.244.0.5"}}}
}

func condition(st v1.PodStatus, t v1.PodConditionType) v1.PodCondition {
	c, _ := findCondition(st.Conditions, t)
	return c
}

func TestComputePodStatus(t *testing.T) {
	withReadiness := testPod(v1.RestartPolicyAlways, "a", "b")
	withReadiness.Spec.Containers[1].ReadinessProbe = &v1.Probe{}
	initPod := testPod(v1.RestartPolicyAlways, "main")
	initPod.Spec.InitContainers = []v1.Container{{Name: "init1"}, {Name: "init2"}}

	tests := []struct {
		name         string
		pod          *v1.Pod
		state        podRuntimeState
		waiting      map[string]waitingReason
		ready        map[string]bool
		terminal     bool
		wantPhase    v1.PodPhase
		wantReady    v1.ConditionStatus
		wantReason   string
		wantMessage  string
		wantWaiting  string
		wantRestarts int32
	}{
		{
			name: "running and ready", pod: testPod(v1.RestartPolicyAlways, "c"),
			state:     podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{running("c", "c1", 0)}},
			wantPhase: v1.PodRunning, wantReady: v1.ConditionTrue,
		},
		{
			name: "not yet created", pod: testPod(v1.RestartPolicyAlways, "c"),
			state:     podRuntimeState{Sandboxes: readySandbox()},
			wantPhase: v1.PodPending, wantReady: v1.ConditionFalse, wantReason: "ContainersNotReady",
			wantMessage: "containers with unready status: [c]", wantWaiting: "ContainerCreating",
		},
		{
			name: "crash loop back-off", pod: testPod(v1.RestartPolicyAlways, "c"),
			state:     podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{exited("c", "c2", 1, 2), exited("c", "c1", 1, 1)}},
			waiting:   map[string]waitingReason{"c": {Reason: reasonCrashLoopBackOff, Message: "back-off 20s"}},
			wantPhase: v1.PodRunning, wantReady: v1.ConditionFalse, wantReason: "ContainersNotReady",
			wantMessage: "containers with unready status: [c]", wantWaiting: "CrashLoopBackOff", wantRestarts: 2,
		},
		{
			name: "never restarts: failed", pod: testPod(v1.RestartPolicyNever, "c"),
			state:     podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{exited("c", "c1", 2, 0)}},
			wantPhase: v1.PodFailed, wantReady: v1.ConditionFalse, wantReason: "PodFailed",
		},
		{
			name: "on failure, all succeeded", pod: testPod(v1.RestartPolicyOnFailure, "c"),
			state:     podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{exited("c", "c1", 0, 0)}},
			terminal:  true,
			wantPhase: v1.PodSucceeded, wantReady: v1.ConditionFalse, wantReason: "PodCompleted",
		},
		{
			name: "readiness probe not passed", pod: withReadiness,
			state:     podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{running("a", "a1", 0), running("b", "b1", 0)}},
			ready:     map[string]bool{"b": false},
			wantPhase: v1.PodRunning, wantReady: v1.ConditionFalse, wantReason: "ContainersNotReady",
			wantMessage: "containers with unready status: [b]",
		},
		{
			name: "init container running", pod: initPod,
			state:     podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{running("init1", "i1", 0)}},
			wantPhase: v1.PodPending, wantReady: v1.ConditionFalse, wantReason: "ContainersNotReady",
			wantMessage: "containers with unready status: [main]", wantWaiting: "PodInitializing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := computePodStatus(statusInput{Pod: tt.pod, State: &tt.state, Waiting: tt.waiting, Ready: tt.ready, HostIPs: []string{"192.0.2.2"}, Now: now, Terminal: tt.terminal})
			if st.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", st.Phase, tt.wantPhase)
			}
			ready := condition(st, v1.PodReady)
			if ready.Status != tt.wantReady || ready.Reason != tt.wantReason || ready.Message != tt.wantMessage {
				t.Errorf("Ready = %s/%q/%q, want %s/%q/%q", ready.Status, ready.Reason, ready.Message, tt.wantReady, tt.wantReason, tt.wantMessage)
			}
			if ready.ObservedGeneration != 3 || st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration not set: %d %d", ready.ObservedGeneration, st.ObservedGeneration)
			}
			last := st.ContainerStatuses[len(st.ContainerStatuses)-1]
			if tt.wantWaiting != "" && (last.State.Waiting == nil || last.State.Waiting.Reason != tt.wantWaiting) {
				t.Errorf("container state = %+v, want waiting %s", last.State, tt.wantWaiting)
			}
			if last.RestartCount != tt.wantRestarts {
				t.Errorf("restartCount = %d, want %d", last.RestartCount, tt.wantRestarts)
			}
			if st.PodIP != "10.244.0.5" || st.HostIP != "192.0.2.2" {
				t.Errorf("IPs = %s %s", st.PodIP, st.HostIP)
			}
			if _, ok := findCondition(st.Conditions, v1.PodScheduled); !ok {
				t.Error("no PodScheduled condition")
			}
		})
	}
}

func TestCrashLoopKeepsLastTermination(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, "c")
	state := podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{exited("c", "c2", 7, 1), exited("c", "c1", 1, 0)}}
	st := computePodStatus(statusInput{Pod: pod, State: &state, Waiting: map[string]waitingReason{"c": {Reason: reasonCrashLoopBackOff}}, Now: now})
	cs := st.ContainerStatuses[0]
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 7 || cs.LastTerminationState.Terminated.Reason != "Error" {
		t.Fatalf("lastState = %+v, want the latest termination (exit 7, Error)", cs.LastTerminationState)
	}
	if cs.ContainerID != "containerd://c2" {
		t.Errorf("containerID = %s", cs.ContainerID)
	}
}

func TestConditionTransitionTimeKept(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, "c")
	earlier := metav1.NewTime(now.Add(-time.Hour))
	pod.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: earlier}, {Type: v1.DisruptionTarget, Status: v1.ConditionTrue}}
	state := podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{running("c", "c1", 0)}}
	st := computePodStatus(statusInput{Pod: pod, State: &state, Now: now})
	if got := condition(st, v1.PodReady).LastTransitionTime; !got.Equal(&earlier) {
		t.Errorf("Ready transition time = %v, want the old %v", got, earlier)
	}
	if _, ok := findCondition(st.Conditions, v1.DisruptionTarget); !ok {
		t.Error("a condition the kubelet does not own was dropped")
	}
}

func TestInitializedMessage(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, "main")
	pod.Spec.InitContainers = []v1.Container{{Name: "i1"}, {Name: "i2"}}
	state := podRuntimeState{Sandboxes: readySandbox(), Containers: []containerState{exited("i1", "x", 0, 0)}}
	st := computePodStatus(statusInput{Pod: pod, State: &state, Now: now})
	c := condition(st, v1.PodInitialized)
	if c.Status != v1.ConditionFalse || c.Reason != "ContainersNotInitialized" || c.Message != "containers with incomplete status: [i2]" {
		t.Errorf("Initialized = %+v", c)
	}
}
