package kubelet

import (
	"context"

	"google.golang.org/protobuf/proto"
	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// In-place resize: when a running container's resources change in the
// spec, the kubelet applies them with UpdateContainerResources, or
// restarts the container where its resizePolicy asks for that.

// setApplied records the resources a container runs with.
func (kl *Kubelet) setApplied(containerID string, r *runtimeapi.LinuxContainerResources) {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	if kl.applied == nil {
		kl.applied = map[string]*runtimeapi.LinuxContainerResources{}
	}
	kl.applied[containerID] = r
}

// resize applies changed resources to a running container; it reports
// whether the container must be restarted instead.
func (kl *Kubelet) resize(ctx context.Context, pod *v1.Pod, c *v1.Container, cs *containerState) bool {
	want := kl.containerResources(pod, c)
	kl.mu.Lock()
	have, known := kl.applied[cs.ID]
	kl.mu.Unlock()
	if !known {
		// Started before this kubelet ran: take the spec as applied.
		kl.setApplied(cs.ID, want)
		return false
	}
	if proto.Equal(have, want) {
		return false
	}
	cpuChanged := have.CpuShares != want.CpuShares || have.CpuQuota != want.CpuQuota
	memChanged := have.MemoryLimitInBytes != want.MemoryLimitInBytes
	for _, p := range c.ResizePolicy {
		if p.RestartPolicy == v1.RestartContainer && (p.ResourceName == v1.ResourceCPU && cpuChanged || p.ResourceName == v1.ResourceMemory && memChanged) {
			return true
		}
	}
	if err := kl.runtime.UpdateContainerResources(ctx, cs.ID, &runtimeapi.ContainerResources{Linux: want}); err != nil {
		klog.FromContext(ctx).Error(err, "Cannot resize container", "container", c.Name)
		return false
	}
	kl.setApplied(cs.ID, want)
	kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Resized", "Container %s resized", c.Name)
	return false
}
