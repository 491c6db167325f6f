package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations skiff puts on sandboxes and containers, with
// upstream's keys so that crictl and tools that know the kubelet's keys
// read them the same way.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	// labelManagedBy marks what this agent created: several agents may
	// share one containerd only in tests, never their pods.
	labelManagedBy = "io.skiff.node"

	annotationRestartCount    = "io.kubernetes.container.restartCount"
	annotationTermMessagePath = "io.kubernetes.container.terminationMessagePath"
	annotationTermMsgPolicy   = "io.kubernetes.container.terminationMessagePolicy"
	annotationGracePeriod     = "io.kubernetes.pod.terminationGracePeriod"
	annotationContainerType   = "io.skiff.container.type"
)

// containerState is what the runtime says about one container.
type containerState struct {
	ID           string
	Name         string
	Attempt      uint32
	RestartCount int32
	State        runtimeapi.ContainerState
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	ExitCode     int32
	Reason       string
	Message      string
	Image        string
	ImageRef     string
	LogPath      string
	SandboxID    string
}

// sandboxState is what the runtime says about one pod sandbox.
type sandboxState struct {
	ID        string
	Attempt   uint32
	Ready     bool
	CreatedAt time.Time
	IPs       []string
}

// podRuntimeState is the runtime's view of one pod: sandboxes and
// containers, newest first.
type podRuntimeState struct {
	Sandboxes  []sandboxState
	Containers []containerState
}

// latestContainer is the newest container named name.
func (s *podRuntimeState) latestContainer(name string) *containerState {
	for i := range s.Containers {
		if s.Containers[i].Name == name {
			return &s.Containers[i]
		}
	}
	return nil
}

// previousContainer is the newest exited container named name other than
// the latest one.
func (s *podRuntimeState) previousContainer(name string) *containerState {
	seen := false
	for i := range s.Containers {
		if s.Containers[i].Name != name {
			continue
		}
		if !seen {
			seen = true
			continue
		}
		if s.Containers[i].State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return &s.Containers[i]
		}
	}
	return nil
}

// readySandbox is the newest ready sandbox, if any.
func (s *podRuntimeState) readySandbox() *sandboxState {
	if len(s.Sandboxes) > 0 && s.Sandboxes[0].Ready {
		return &s.Sandboxes[0]
	}
	return nil
}

// runningContainers lists the containers still running (or created).
func (s *podRuntimeState) runningContainers() []containerState {
	var out []containerState
	for _, c := range s.Containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING || c.State == runtimeapi.ContainerState_CONTAINER_CREATED || c.State == runtimeapi.ContainerState_CONTAINER_UNKNOWN {
			out = append(out, c)
		}
	}
	return out
}

// readPodState asks the runtime about one pod's sandboxes and containers.
func readPodState(ctx context.Context, rt internalapi.RuntimeService, uid types.UID) (*podRuntimeState, error) {
	sel := map[string]string{labelPodUID: string(uid)}
	sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of pod %s: %w", uid, err)
	}
	st := &podRuntimeState{}
	for _, sb := range sandboxes {
		s := sandboxState{ID: sb.Id, Attempt: sb.GetMetadata().GetAttempt(), Ready: sb.State == runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: time.Unix(0, sb.CreatedAt)}
		if s.Ready {
			resp, err := rt.PodSandboxStatus(ctx, sb.Id, false)
			if err == nil && resp.GetStatus().GetNetwork() != nil {
				if ip := resp.Status.Network.Ip; ip != "" {
					s.IPs = append(s.IPs, ip)
				}
				for _, ip := range resp.Status.Network.AdditionalIps {
					s.IPs = append(s.IPs, ip.Ip)
				}
			}
		}
		st.Sandboxes = append(st.Sandboxes, s)
	}
	sort.SliceStable(st.Sandboxes, func(i, j int) bool {
		if st.Sandboxes[i].Attempt != st.Sandboxes[j].Attempt {
			return st.Sandboxes[i].Attempt > st.Sandboxes[j].Attempt
		}
		return st.Sandboxes[i].CreatedAt.After(st.Sandboxes[j].CreatedAt)
	})
	containers, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	for _, c := range containers {
		cs := containerState{ID: c.Id, Name: c.GetMetadata().GetName(), Attempt: c.GetMetadata().GetAttempt(), State: c.State,
			CreatedAt: time.Unix(0, c.CreatedAt), SandboxID: c.PodSandboxId, Image: c.GetImage().GetImage(), ImageRef: c.ImageRef}
		cs.RestartCount = parseInt32(c.Annotations[annotationRestartCount])
		resp, err := rt.ContainerStatus(ctx, c.Id, false)
		if err == nil && resp.GetStatus() != nil {
			s := resp.Status
			cs.State = s.State
			if s.StartedAt > 0 {
				cs.StartedAt = time.Unix(0, s.StartedAt)
			}
			if s.FinishedAt > 0 {
				cs.FinishedAt = time.Unix(0, s.FinishedAt)
			}
			cs.ExitCode, cs.Reason, cs.Message, cs.LogPath = s.ExitCode, s.Reason, s.Message, s.LogPath
			if s.GetImage().GetImage() != "" {
				cs.Image = s.Image.Image
			}
			if s.ImageRef != "" {
				cs.ImageRef = s.ImageRef
			}
		}
		st.Containers = append(st.Containers, cs)
	}
	sort.SliceStable(st.Containers, func(i, j int) bool {
		a, b := st.Containers[i], st.Containers[j]
		if a.Name == b.Name && a.Attempt != b.Attempt {
			return a.Attempt > b.Attempt
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	return st, nil
}

func parseInt32(s string) int32 {
	n, _ := strconv.ParseInt(s, 10, 32)
	return int32(n)
}
