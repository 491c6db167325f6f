package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	v1qos "k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
)

// Upstream's default masked and read-only /proc and /sys paths for
// unprivileged containers (the runtime masks nothing when none are given).
var (
	defaultMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap"}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// containerConfig is the CRI configuration of one container.
func (kl *Kubelet) containerConfig(ctx context.Context, sc *syncContext, c *v1.Container, imageRef string, user *imageUser, restartCount int32) (*runtimeapi.ContainerConfig, error) {
	pod := sc.pod
	env, err := kl.containerEnv(ctx, pod, c, sc.podIPs)
	if err != nil {
		return nil, err
	}
	if err := verifyRunAsNonRoot(pod, c, user); err != nil {
		return nil, err
	}
	envMap := map[string]string{}
	for _, e := range env {
		envMap[e.Key] = string(e.Value)
	}
	mounts, err := kl.containerMounts(pod, c, sc, envMap, restartCount)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID),
		labelContainerName: c.Name, labelManagedBy: kl.cfg.NodeName,
	}
	annotations := map[string]string{
		annotationRestartCount:    strconv.Itoa(int(restartCount)),
		annotationTermMessagePath: c.TerminationMessagePath,
		annotationTermMsgPolicy:   string(c.TerminationMessagePolicy),
		annotationGracePeriod:     strconv.FormatInt(gracePeriod(pod, c), 10),
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(restartCount)},
		Image:       &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:     expandAll(c.Command, envMap),
		Args:        expandAll(c.Args, envMap),
		WorkingDir:  c.WorkingDir,
		Envs:        env,
		Mounts:      mounts,
		Labels:      labels,
		Annotations: annotations,
		LogPath:     filepath.Join(c.Name, fmt.Sprintf("%d.log", restartCount)),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       kl.containerResources(pod, c),
			SecurityContext: containerSecurityContext(pod, c),
		},
	}
	// An ephemeral container aimed at another container shares its
	// process namespace (kubectl debug --target).
	for _, ec := range pod.Spec.EphemeralContainers {
		if ec.Name == c.Name && ec.TargetContainerName != "" {
			if target := sc.state.latestContainer(ec.TargetContainerName); target != nil && isRunningState(target.State) {
				cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_TARGET
				cfg.Linux.SecurityContext.NamespaceOptions.TargetId = target.ID
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(kl.podLogDir(pod), c.Name), 0o755); err != nil {
		return nil, err
	}
	return cfg, nil
}

// containerMounts are the volume mounts plus /etc/hosts and the
// termination message file.
func (kl *Kubelet) containerMounts(pod *v1.Pod, c *v1.Container, sc *syncContext, env map[string]string, restartCount int32) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	hasHosts := false
	for _, m := range c.VolumeMounts {
		host, ok := sc.mounts[m.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", m.Name, c.Name)
		}
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expand(m.SubPathExpr, env)
		}
		if sub != "" {
			if filepath.IsAbs(sub) || strings.HasPrefix(filepath.Clean(sub), "..") {
				return nil, fmt.Errorf("subPath %q must be a relative path without '..'", sub)
			}
			host = filepath.Join(host, sub)
			if _, err := os.Lstat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, fmt.Errorf("create subPath %q: %w", sub, err)
				}
			}
		}
		mount := &runtimeapi.Mount{ContainerPath: m.MountPath, HostPath: host, Readonly: m.ReadOnly || isImageVolume(pod, m.Name)}
		switch {
		case m.MountPropagation != nil && *m.MountPropagation == v1.MountPropagationBidirectional:
			mount.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		case m.MountPropagation != nil && *m.MountPropagation == v1.MountPropagationHostToContainer:
			mount.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		}
		if m.MountPath == "/etc/hosts" {
			hasHosts = true
		}
		out = append(out, mount)
	}
	if !hasHosts {
		hosts, err := kl.hostsFile(pod, sc.podIPs)
		if err != nil {
			return nil, fmt.Errorf("write /etc/hosts: %w", err)
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: hosts})
	}
	if c.TerminationMessagePath != "" {
		path := kl.terminationMessageFile(pod.UID, c.Name, restartCount)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, nil, 0o666); err != nil {
			return nil, err
		}
		_ = os.Chmod(path, 0o666)
		out = append(out, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: path})
	}
	return out, nil
}

// verifyRunAsNonRoot is upstream's check of runAsNonRoot against the
// user the container will run as.
func verifyRunAsNonRoot(pod *v1.Pod, c *v1.Container, user *imageUser) error {
	nonRoot, uid := false, (*int64)(nil)
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsNonRoot != nil {
			nonRoot = *psc.RunAsNonRoot
		}
		uid = psc.RunAsUser
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsNonRoot != nil {
			nonRoot = *csc.RunAsNonRoot
		}
		if csc.RunAsUser != nil {
			uid = csc.RunAsUser
		}
	}
	if !nonRoot {
		return nil
	}
	if uid != nil {
		if *uid == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", formatPod(pod), c.Name)
		}
		return nil
	}
	switch {
	case user != nil && user.UID != nil && *user.UID == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name)
	case user != nil && user.UID == nil && user.Name != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", user.Name, formatPod(pod), c.Name)
	case user == nil || user.UID == nil:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name)
	}
	return nil
}

// containerSecurityContext maps the pod's and container's security
// contexts (the container's fields win).
func containerSecurityContext(pod *v1.Pod, c *v1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	var seccomp *v1.SeccompProfile
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		if psc.SupplementalGroupsPolicy != nil && *psc.SupplementalGroupsPolicy == v1.SupplementalGroupsPolicyStrict {
			sc.SupplementalGroupsPolicy = runtimeapi.SupplementalGroupsPolicy_Strict
		}
		seccomp = psc.SeccompProfile
	}
	privileged := false
	procUnmasked := false
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
		}
		if csc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
		}
		if csc.Privileged != nil {
			privileged = *csc.Privileged
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if csc.Capabilities != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, a := range csc.Capabilities.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(a))
			}
			for _, d := range csc.Capabilities.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(d))
			}
		}
		if csc.SeccompProfile != nil {
			seccomp = csc.SeccompProfile
		}
		procUnmasked = csc.ProcMount != nil && *csc.ProcMount == v1.UnmaskedProcMount
	}
	sc.Privileged = privileged
	sc.Seccomp = seccompProfile(seccomp, nil)
	if !privileged && !procUnmasked {
		sc.MaskedPaths = defaultMaskedPaths
		sc.ReadonlyPaths = defaultReadonlyPaths
	}
	return sc
}

// seccompProfile maps an API seccomp profile; none means Unconfined, as
// upstream without SeccompDefault.
func seccompProfile(p *v1.SeccompProfile, _ *struct{}) *runtimeapi.SecurityProfile {
	if p == nil {
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	}
	switch p.Type {
	case v1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case v1.SeccompProfileTypeLocalhost:
		path := ""
		if p.LocalhostProfile != nil {
			path = filepath.Join("/var/lib/kubelet/seccomp", *p.LocalhostProfile)
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: path}
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
}

// CPU and memory to cgroup values, as upstream's kubelet computes them.
const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
	quotaPeriod   = 100000
	minQuotaUsec  = 1000
)

func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return minShares
	}
	shares := milli * sharesPerCPU / milliCPUToCPU
	return max(minShares, min(shares, maxShares))
}

func milliCPUToQuota(milli, period int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*period/milliCPUToCPU, minQuotaUsec)
}

// containerResources converts requests and limits to cgroup settings.
func (kl *Kubelet) containerResources(pod *v1.Pod, c *v1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	cpuReq, cpuLim := c.Resources.Requests.Cpu().MilliValue(), c.Resources.Limits.Cpu().MilliValue()
	if cpuReq == 0 && cpuLim > 0 {
		cpuReq = cpuLim
	}
	r.CpuShares = milliCPUToShares(cpuReq)
	if cpuLim > 0 {
		r.CpuPeriod = quotaPeriod
		r.CpuQuota = milliCPUToQuota(cpuLim, quotaPeriod)
	}
	if mem := c.Resources.Limits.Memory().Value(); mem > 0 {
		r.MemoryLimitInBytes = mem
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, nodeMemoryBytes())
	return r
}

// oomScoreAdj is upstream's per-QoS OOM score policy; the runtime clamps
// values the agent may not set (restrict_oom_score_adj).
func oomScoreAdj(pod *v1.Pod, c *v1.Container, memoryCapacity int64) int64 {
	switch v1qos.GetPodQOS(pod) {
	case v1.PodQOSGuaranteed:
		return -997
	case v1.PodQOSBestEffort:
		return 1000
	}
	if memoryCapacity <= 0 {
		return 999
	}
	req := c.Resources.Requests.Memory().Value()
	adj := 1000 - (1000*req)/memoryCapacity
	return max(2, min(adj, 999))
}

// isImageVolume: image volumes are always mounted read-only.
func isImageVolume(pod *v1.Pod, name string) bool {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return pod.Spec.Volumes[i].Image != nil
		}
	}
	return false
}
