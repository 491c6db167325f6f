package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Container finds a pod's container for logs, exec and attach: the
// latest one, or with previous the terminated one before it.
func (kl *Kubelet) Container(ctx context.Context, pod *v1.Pod, name string, previous bool) (string, string, error) {
	known := false
	for _, c := range containerNames(pod) {
		known = known || c == name
	}
	if !known {
		return "", "", fmt.Errorf("container %s is not valid for pod %s", name, pod.Name)
	}
	state, err := readPodState(ctx, kl.runtime, pod.UID)
	if err != nil {
		return "", "", err
	}
	var cs *containerState
	if previous {
		if cs = state.previousContainer(name); cs == nil {
			// The latest container counts as previous once it exited and a
			// restart is pending.
			if l := state.latestContainer(name); l != nil && l.State == runtimeapi.ContainerState_CONTAINER_EXITED && l.RestartCount > 0 {
				cs = state.previousContainer(name)
			}
		}
		if cs == nil {
			return "", "", fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name)
		}
	} else if cs = state.latestContainer(name); cs == nil {
		reason := reasonContainerCreating
		for _, s := range append(append(append([]v1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...), pod.Status.EphemeralContainerStatuses...) {
			if s.Name == name && s.State.Waiting != nil && s.State.Waiting.Reason != "" {
				reason = s.State.Waiting.Reason
			}
		}
		return "", "", fmt.Errorf("container %q in pod %q is waiting to start: %s", name, pod.Name, reason)
	}
	path := cs.LogPath
	return cs.ID, path, nil
}

func containerNames(pod *v1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// SandboxID is the pod's ready sandbox (for port-forward).
func (kl *Kubelet) SandboxID(ctx context.Context, pod *v1.Pod) (string, error) {
	state, err := readPodState(ctx, kl.runtime, pod.UID)
	if err != nil {
		return "", err
	}
	if sb := state.readySandbox(); sb != nil {
		return sb.ID, nil
	}
	return "", fmt.Errorf("pod %s/%s has no running sandbox", pod.Namespace, pod.Name)
}

// Metrics serves the kubelet's metrics registry.
func (kl *Kubelet) Metrics() http.Handler { return legacyregistry.Handler() }

// CadvisorMetrics writes the basic container metrics cAdvisor would.
func (kl *Kubelet) CadvisorMetrics(ctx context.Context, w http.ResponseWriter) {
	stats, err := kl.runtime.ListContainerStats(ctx, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	containers, _ := kl.runtime.ListContainers(ctx, nil)
	byID := map[string]*runtimeapi.Container{}
	for _, c := range containers {
		byID[c.Id] = c
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.")
	fmt.Fprintln(w, "# TYPE container_cpu_usage_seconds_total counter")
	lines := func(metric string, value func(*runtimeapi.ContainerStats) (float64, bool)) {
		for _, s := range stats {
			c := byID[s.GetAttributes().GetId()]
			if c == nil {
				continue
			}
			v, ok := value(s)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%s{container=%q,id=%q,image=%q,name=%q,namespace=%q,pod=%q} %g\n", metric,
				c.Labels[labelContainerName], c.Id, c.GetImage().GetImage(), c.Id, c.Labels[labelPodNamespace], c.Labels[labelPodName], v)
		}
	}
	lines("container_cpu_usage_seconds_total", func(s *runtimeapi.ContainerStats) (float64, bool) {
		if s.Cpu == nil || s.Cpu.UsageCoreNanoSeconds == nil {
			return 0, false
		}
		return float64(s.Cpu.UsageCoreNanoSeconds.Value) / 1e9, true
	})
	fmt.Fprintln(w, "# HELP container_memory_working_set_bytes Current working set in bytes.")
	fmt.Fprintln(w, "# TYPE container_memory_working_set_bytes gauge")
	lines("container_memory_working_set_bytes", func(s *runtimeapi.ContainerStats) (float64, bool) {
		if s.Memory == nil || s.Memory.WorkingSetBytes == nil {
			return 0, false
		}
		return float64(s.Memory.WorkingSetBytes.Value), true
	})
}

// Stats is a basic /stats/summary: node CPU and memory, and per pod the
// containers' CPU and memory from the runtime.
func (kl *Kubelet) Stats(ctx context.Context) (any, error) {
	now := metav1.Now()
	node := statsapi.NodeStats{NodeName: kl.cfg.NodeName, StartTime: metav1.NewTime(bootTime())}
	if cpu, ok := nodeCPUNanos(); ok {
		node.CPU = &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: &cpu}
	}
	if total, avail, ok := nodeMemory(); ok {
		ws := total - avail
		node.Memory = &statsapi.MemoryStats{Time: now, AvailableBytes: &avail, WorkingSetBytes: &ws, UsageBytes: &ws}
	}
	summary := statsapi.Summary{Node: node}
	stats, err := kl.runtime.ListContainerStats(ctx, nil)
	if err != nil {
		return summary, nil
	}
	containers, _ := kl.runtime.ListContainers(ctx, nil)
	byID := map[string]*runtimeapi.Container{}
	for _, c := range containers {
		byID[c.Id] = c
	}
	pods := map[string]*statsapi.PodStats{}
	var order []string
	for _, s := range stats {
		c := byID[s.GetAttributes().GetId()]
		if c == nil || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		uid := c.Labels[labelPodUID]
		p, ok := pods[uid]
		if !ok {
			p = &statsapi.PodStats{PodRef: statsapi.PodReference{Name: c.Labels[labelPodName], Namespace: c.Labels[labelPodNamespace], UID: uid}, StartTime: metav1.NewTime(time.Unix(0, c.CreatedAt))}
			pods[uid] = p
			order = append(order, uid)
		}
		cs := statsapi.ContainerStats{Name: c.Labels[labelContainerName], StartTime: metav1.NewTime(time.Unix(0, c.CreatedAt))}
		if s.Cpu != nil && s.Cpu.UsageCoreNanoSeconds != nil {
			v := s.Cpu.UsageCoreNanoSeconds.Value
			cs.CPU = &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: &v}
		}
		if s.Memory != nil && s.Memory.WorkingSetBytes != nil {
			v := s.Memory.WorkingSetBytes.Value
			cs.Memory = &statsapi.MemoryStats{Time: now, WorkingSetBytes: &v}
		}
		p.Containers = append(p.Containers, cs)
	}
	for _, uid := range order {
		summary.Pods = append(summary.Pods, *pods[uid])
	}
	return summary, nil
}

func bootTime() time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}

// nodeCPUNanos is the machine's busy CPU time from /proc/stat.
func nodeCPUNanos() (uint64, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && fields[0] == "cpu" {
			var busy uint64
			for i, v := range fields[1:] {
				if i == 3 || i == 4 { // idle, iowait
					continue
				}
				n, _ := strconv.ParseUint(v, 10, 64)
				busy += n
			}
			return busy * 1e7, true // USER_HZ = 100
		}
	}
	return 0, false
}

func nodeMemory() (total, avail uint64, ok bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = n * 1024
		case "MemAvailable:":
			avail = n * 1024
		}
	}
	return total, avail, total > 0
}

// ResourceMetrics is /metrics/resource, what metrics-server scrapes: node,
// pod and container CPU and working-set memory, with timestamps.
func (kl *Kubelet) ResourceMetrics(ctx context.Context, w http.ResponseWriter) {
	now := time.Now()
	ts := now.UnixMilli()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds")
	fmt.Fprintln(w, "# TYPE node_cpu_usage_seconds_total counter")
	if cpu, ok := nodeCPUNanos(); ok {
		fmt.Fprintf(w, "node_cpu_usage_seconds_total %g %d\n", float64(cpu)/1e9, ts)
	}
	fmt.Fprintln(w, "# HELP node_memory_working_set_bytes Current working set of the node in bytes")
	fmt.Fprintln(w, "# TYPE node_memory_working_set_bytes gauge")
	if total, avail, ok := nodeMemory(); ok {
		fmt.Fprintf(w, "node_memory_working_set_bytes %d %d\n", total-avail, ts)
	}
	stats, err := kl.runtime.ListContainerStats(ctx, nil)
	scrapeError := 0
	if err != nil {
		scrapeError = 1
	}
	containers, _ := kl.runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	byID := map[string]*runtimeapi.Container{}
	for _, c := range containers {
		byID[c.Id] = c
	}
	type podKey struct{ ns, name string }
	podCPU, podMem := map[podKey]float64{}, map[podKey]float64{}
	var cpuLines, memLines, startLines []string
	for _, s := range stats {
		c := byID[s.GetAttributes().GetId()]
		if c == nil {
			continue
		}
		labels := fmt.Sprintf("container=%q,namespace=%q,pod=%q", c.Labels[labelContainerName], c.Labels[labelPodNamespace], c.Labels[labelPodName])
		k := podKey{c.Labels[labelPodNamespace], c.Labels[labelPodName]}
		if s.Cpu != nil && s.Cpu.UsageCoreNanoSeconds != nil {
			v := float64(s.Cpu.UsageCoreNanoSeconds.Value) / 1e9
			cpuLines = append(cpuLines, fmt.Sprintf("container_cpu_usage_seconds_total{%s} %g %d", labels, v, ts))
			podCPU[k] += v
		}
		if s.Memory != nil && s.Memory.WorkingSetBytes != nil {
			v := float64(s.Memory.WorkingSetBytes.Value)
			memLines = append(memLines, fmt.Sprintf("container_memory_working_set_bytes{%s} %g %d", labels, v, ts))
			podMem[k] += v
		}
		startLines = append(startLines, fmt.Sprintf("container_start_time_seconds{%s} %g %d", labels, float64(c.CreatedAt)/1e9, ts))
	}
	section := func(name, help, kind string, lines []string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	section("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds", "counter", cpuLines)
	section("container_memory_working_set_bytes", "Current working set of the container in bytes", "gauge", memLines)
	section("container_start_time_seconds", "Start time of the container since unix epoch in seconds", "gauge", startLines)
	var podCPULines, podMemLines []string
	for k, v := range podCPU {
		podCPULines = append(podCPULines, fmt.Sprintf("pod_cpu_usage_seconds_total{namespace=%q,pod=%q} %g %d", k.ns, k.name, v, ts))
	}
	for k, v := range podMem {
		podMemLines = append(podMemLines, fmt.Sprintf("pod_memory_working_set_bytes{namespace=%q,pod=%q} %g %d", k.ns, k.name, v, ts))
	}
	section("pod_cpu_usage_seconds_total", "Cumulative cpu time consumed by the pod in core-seconds", "counter", podCPULines)
	section("pod_memory_working_set_bytes", "Current working set of the pod in bytes", "gauge", podMemLines)
	section("resource_scrape_error", "1 if there was an error while getting container metrics, 0 otherwise", "gauge", []string{fmt.Sprintf("resource_scrape_error %d", scrapeError)})
}
