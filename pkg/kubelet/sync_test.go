package kubelet

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critesting "k8s.io/cri-api/pkg/apis/testing"
)

// recordingRuntime is the CRI fake runtime that also keeps the container
// configs it was given.
type recordingRuntime struct {
	*critesting.FakeRuntimeService
	mu             sync.Mutex
	configs        []*runtimeapi.ContainerConfig
	sandboxConfigs []*runtimeapi.PodSandboxConfig
}

func (r *recordingRuntime) RunPodSandbox(ctx context.Context, cfg *runtimeapi.PodSandboxConfig, handler string) (string, error) {
	r.mu.Lock()
	r.sandboxConfigs = append(r.sandboxConfigs, cfg)
	r.mu.Unlock()
	return r.FakeRuntimeService.RunPodSandbox(ctx, cfg, handler)
}

func (r *recordingRuntime) CreateContainer(ctx context.Context, sandbox string, cfg *runtimeapi.ContainerConfig, sb *runtimeapi.PodSandboxConfig) (string, error) {
	r.mu.Lock()
	r.configs = append(r.configs, cfg)
	r.mu.Unlock()
	return r.FakeRuntimeService.CreateContainer(ctx, sandbox, cfg, sb)
}

func newFakeKubelet(t *testing.T, objects ...any) (*Kubelet, *recordingRuntime, *critesting.FakeImageService, *fake.Clientset) {
	t.Helper()
	rt := &recordingRuntime{FakeRuntimeService: critesting.NewFakeRuntimeService()}
	images := critesting.NewFakeImageService()
	images.SetFakeImages([]string{"busybox"})
	client := fake.NewClientset()
	kl, err := New(Config{NodeName: "n1", Client: client, Runtime: rt, Images: images,
		RootDir: t.TempDir(), PodLogsDir: t.TempDir(), CgroupParent: "skiff-test", ResolvConf: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	kl.hostIPs = []string{"192.0.2.9"}
	return kl, rt, images, client
}

func workerFor(pod *v1.Pod) *podWorker {
	return &podWorker{uid: pod.UID, pod: pod, lastPod: pod, wakeCh: make(chan struct{}, 1), waiting: map[string]waitingReason{}}
}

func wantStatus(t *testing.T, kl *Kubelet, pod *v1.Pod) v1.PodStatus {
	t.Helper()
	kl.status.mu.Lock()
	defer kl.status.mu.Unlock()
	e, ok := kl.status.entries[pod.UID]
	if !ok {
		t.Fatal("no status was set")
	}
	return e.want
}

func TestSyncPodStartsSandboxAndContainer(t *testing.T) {
	kl, rt, images, _ := newFakeKubelet(t)
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{NodeName: "n1", RestartPolicy: v1.RestartPolicyAlways, Containers: []v1.Container{{
			Name: "c", Image: "busybox", ImagePullPolicy: v1.PullIfNotPresent, Args: []string{"echo", "$(GREETING)"},
			Env:          []v1.EnvVar{{Name: "GREETING", Value: "hi"}, {Name: "POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			VolumeMounts: []v1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}, TerminationMessagePath: "/dev/termination-log",
		}}, Volumes: []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}},
	}
	if _, done := kl.syncPod(context.Background(), workerFor(pod)); done {
		t.Fatal("worker finished for a live pod")
	}
	if n := len(rt.Sandboxes); n != 1 {
		t.Fatalf("%d sandboxes, want 1", n)
	}
	for _, sb := range rt.Sandboxes {
		if sb.Labels[labelPodUID] != "uid-1" || sb.Labels["app"] != "web" || sb.Metadata.Name != "web" {
			t.Errorf("sandbox labels/metadata: %v %v", sb.Labels, sb.Metadata)
		}
	}
	if len(rt.configs) != 1 {
		t.Fatalf("%d containers created, want 1", len(rt.configs))
	}
	cfg := rt.configs[0]
	env := map[string]string{}
	for _, kv := range cfg.Envs {
		env[kv.Key] = string(kv.Value)
	}
	if env["POD"] != "web" || env["GREETING"] != "hi" || !slices.Equal(cfg.Args, []string{"echo", "hi"}) {
		t.Errorf("env %v args %v", env, cfg.Args)
	}
	var paths []string
	for _, m := range cfg.Mounts {
		paths = append(paths, m.ContainerPath)
	}
	for _, p := range []string{"/scratch", "/etc/hosts", "/dev/termination-log"} {
		if !slices.Contains(paths, p) {
			t.Errorf("mount %s missing from %v", p, paths)
		}
	}
	if slices.Contains(images.Called, "PullImage") {
		t.Error("a present image was pulled")
	}
	st := wantStatus(t, kl, pod)
	if st.Phase != v1.PodRunning || len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("status = %+v", st)
	}
	if st.PodIP != critesting.FakePodSandboxIPs[0] {
		t.Errorf("podIP = %s", st.PodIP)
	}
}

func TestSyncPodImageNeverPull(t *testing.T) {
	kl, rt, images, _ := newFakeKubelet(t)
	pod := testPod(v1.RestartPolicyAlways, "c")
	pod.Spec.Containers[0].Image, pod.Spec.Containers[0].ImagePullPolicy = "example.local/absent:1", v1.PullNever
	kl.syncPod(context.Background(), workerFor(pod))
	st := wantStatus(t, kl, pod)
	w := st.ContainerStatuses[0].State.Waiting
	if w == nil || w.Reason != "ErrImageNeverPull" || w.Message != `Container image "example.local/absent:1" is not present with pull policy of Never` {
		t.Fatalf("waiting = %+v", w)
	}
	if slices.Contains(images.Called, "PullImage") || len(rt.configs) != 0 {
		t.Error("pulled or created a container for an absent image with policy Never")
	}
}

func TestSyncPodImagePullBackOff(t *testing.T) {
	kl, _, images, _ := newFakeKubelet(t)
	pod := testPod(v1.RestartPolicyAlways, "c")
	pod.Spec.Containers[0].Image = "example.local/absent:1"
	images.InjectError("PullImage", errors.New("rpc error: code = Unknown desc = failed to resolve reference: no such host"))
	w := workerFor(pod)
	kl.syncPod(context.Background(), w)
	st := wantStatus(t, kl, pod)
	if got := st.ContainerStatuses[0].State.Waiting; got == nil || got.Reason != "ErrImagePull" || !strings.Contains(got.Message, "no such host") {
		t.Fatalf("first sync: waiting = %+v", got)
	}
	kl.syncPod(context.Background(), w)
	st = wantStatus(t, kl, pod)
	if got := st.ContainerStatuses[0].State.Waiting; got == nil || got.Reason != "ImagePullBackOff" || !strings.HasPrefix(got.Message, `Back-off pulling image "example.local/absent:1"`) {
		t.Fatalf("second sync: waiting = %+v", got)
	}
	pulls := 0
	for _, c := range images.Called {
		if c == "PullImage" {
			pulls++
		}
	}
	if pulls != 1 {
		t.Errorf("%d pulls, want 1 (the second sync backs off)", pulls)
	}
}

func TestSyncPodDeletionStopsAndFinalizes(t *testing.T) {
	kl, rt, _, client := newFakeKubelet(t)
	pod := testPod(v1.RestartPolicyAlways, "c")
	w := workerFor(pod)
	kl.syncPod(context.Background(), w)
	if len(rt.Containers) != 1 {
		t.Fatalf("%d containers", len(rt.Containers))
	}
	deleting := pod.DeepCopy()
	ts := metav1.Now()
	grace := int64(0)
	deleting.DeletionTimestamp, deleting.DeletionGracePeriodSeconds = &ts, &grace
	w.pod = deleting
	if _, done := kl.syncPod(context.Background(), w); !done {
		t.Fatal("the worker must finish after the pod is removed")
	}
	if len(rt.Sandboxes) != 0 || len(rt.Containers) != 0 {
		t.Errorf("left %d sandboxes and %d containers", len(rt.Sandboxes), len(rt.Containers))
	}
	deleted := false
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetResource().Resource == "pods" && d.GetName() == pod.Name {
			deleted = true
		}
	}
	if !deleted {
		t.Error("the kubelet did not complete the graceful deletion")
	}
}

func TestSyncPodRestartPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy      v1.RestartPolicy
		exit        int32
		wantRestart bool
	}{
		{v1.RestartPolicyAlways, 0, true},
		{v1.RestartPolicyOnFailure, 1, true},
		{v1.RestartPolicyOnFailure, 0, false},
		{v1.RestartPolicyNever, 1, false},
	} {
		kl, rt, _, _ := newFakeKubelet(t)
		pod := testPod(tt.policy, "c")
		w := workerFor(pod)
		kl.syncPod(context.Background(), w)
		for _, c := range rt.Containers {
			c.State, c.ExitCode, c.FinishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, tt.exit, 1
		}
		kl.syncPod(context.Background(), w)
		restarted := len(rt.configs) == 2
		if restarted != tt.wantRestart {
			t.Errorf("policy %s exit %d: restarted=%v, want %v", tt.policy, tt.exit, restarted, tt.wantRestart)
		}
		if restarted && rt.configs[1].Metadata.Attempt != 1 {
			t.Errorf("restart attempt = %d, want 1", rt.configs[1].Metadata.Attempt)
		}
	}
}

func TestSyncPodActiveDeadline(t *testing.T) {
	kl, rt, _, _ := newFakeKubelet(t)
	pod := testPod(v1.RestartPolicyAlways, "c")
	w := workerFor(pod)
	kl.syncPod(context.Background(), w)
	started := metav1.NewTime(time.Now().Add(-time.Minute))
	deadline := int64(30)
	late := pod.DeepCopy()
	late.Status.StartTime, late.Spec.ActiveDeadlineSeconds = &started, &deadline
	w.pod = late
	kl.syncPod(context.Background(), w)
	st := wantStatus(t, kl, late)
	if st.Phase != v1.PodFailed || st.Reason != "DeadlineExceeded" || st.Message != "Pod was active on the node longer than the specified deadline" {
		t.Fatalf("status = %s %q %q", st.Phase, st.Reason, st.Message)
	}
	for _, c := range rt.Containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Error("a container still runs past the deadline")
		}
	}
}

func TestSyncPodResizeInPlace(t *testing.T) {
	kl, rt, _, _ := newFakeKubelet(t)
	pod := testPod(v1.RestartPolicyAlways, "c")
	w := workerFor(pod)
	kl.syncPod(context.Background(), w)
	resized := pod.DeepCopy()
	resized.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}
	w.pod = resized
	kl.syncPod(context.Background(), w)
	if !slices.Contains(rt.Called, "UpdateContainerResources") {
		t.Fatalf("resources not updated in place: %v", rt.Called)
	}
	if len(rt.configs) != 1 {
		t.Errorf("the container was recreated (%d creates)", len(rt.configs))
	}
	restart := resized.DeepCopy()
	restart.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("128Mi")}
	restart.Spec.Containers[0].ResizePolicy = []v1.ContainerResizePolicy{{ResourceName: v1.ResourceMemory, RestartPolicy: v1.RestartContainer}}
	w.pod = restart
	kl.syncPod(context.Background(), w)
	if !slices.Contains(rt.Called, "StopContainer") {
		t.Errorf("a RestartContainer resize did not stop the container: %v", rt.Called)
	}
}

func TestSyncPodHostNetwork(t *testing.T) {
	kl, rt, _, _ := newFakeKubelet(t)
	pod := testPod(v1.RestartPolicyAlways, "c")
	pod.Spec.HostNetwork = true
	kl.syncPod(context.Background(), workerFor(pod))
	if len(rt.sandboxConfigs) != 1 {
		t.Fatalf("%d sandboxes", len(rt.sandboxConfigs))
	}
	if cfg := rt.sandboxConfigs[0]; cfg.Hostname != "" || cfg.Linux.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE {
		t.Errorf("host network sandbox: hostname %q, network mode %v", cfg.Hostname, cfg.Linux.SecurityContext.NamespaceOptions.Network)
	}
	if st := wantStatus(t, kl, pod); st.PodIP != "192.0.2.9" {
		t.Errorf("podIP = %q, want the node's IP", st.PodIP)
	}
}
