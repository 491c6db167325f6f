package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// Upstream's container log rotation defaults: a log over 10 MiB is
// rotated, and 5 files (the live one included) are kept.
const (
	containerLogMaxSize  = 10 << 20
	containerLogMaxFiles = 5
	logRotatePeriod      = 10 * time.Second
)

func (kl *Kubelet) runLogRotation(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(logRotatePeriod):
		}
		kl.rotateLogs(ctx, time.Now())
	}
}

// rotateLogs renames each running container's oversized log with a
// timestamp suffix, has the runtime reopen it, and drops the oldest
// rotated files beyond the limit. As upstream, `kubectl logs` reads the
// live file only.
func (kl *Kubelet) rotateLogs(ctx context.Context, now time.Time) {
	containers, err := kl.runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	if err != nil {
		return
	}
	for _, c := range containers {
		resp, err := kl.runtime.ContainerStatus(ctx, c.Id, false)
		if err != nil || resp.GetStatus().GetLogPath() == "" {
			continue
		}
		path := resp.Status.LogPath
		info, err := os.Stat(path)
		if err != nil || info.Size() < containerLogMaxSize {
			continue
		}
		rotated := path + "." + now.UTC().Format("20060102-150405.000000")
		if err := os.Rename(path, rotated); err != nil {
			klog.FromContext(ctx).Error(err, "Cannot rotate a container log", "path", path)
			continue
		}
		if err := kl.runtime.ReopenContainerLog(ctx, c.Id); err != nil {
			// Put it back: the runtime still writes to the old file.
			_ = os.Rename(rotated, path)
			klog.FromContext(ctx).Error(err, "Cannot reopen a container log", "container", c.Id)
			continue
		}
		old, _ := filepath.Glob(path + ".*")
		sort.Strings(old)
		for len(old) > containerLogMaxFiles-1 {
			_ = os.Remove(old[0])
			old = old[1:]
		}
	}
}
