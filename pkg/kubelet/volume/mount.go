package volume

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// mountTmpfs mounts a tmpfs at dir unless one is there already.
func (m *Manager) mountTmpfs(uid types.UID, dir string, sizeBytes int64) error {
	if isMountPoint(dir) {
		return nil
	}
	opts := "mode=0755"
	if sizeBytes > 0 {
		opts += fmt.Sprintf(",size=%d", sizeBytes)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	m.recordMount(uid, dir)
	return nil
}

// recordMount remembers a mount made for a pod, to unmount at teardown.
func (m *Manager) recordMount(uid types.UID, dir string) {
	m.mu.Lock()
	m.mounts[uid] = append(m.mounts[uid], dir)
	m.mu.Unlock()
}

func unmount(dir string) error {
	if err := unix.Unmount(dir, 0); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return nil
}

// isMountPoint reports whether dir is a mount point.
func isMountPoint(dir string) bool {
	for _, m := range mountsUnder(parentOf(dir)) {
		if m == dir {
			return true
		}
	}
	return false
}

func parentOf(dir string) string {
	if i := strings.LastIndex(dir, "/"); i > 0 {
		return dir[:i]
	}
	return "/"
}
