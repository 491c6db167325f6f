package volume

import (
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
)

// emptyDir is a directory on the node's disk, or a tmpfs for medium
// Memory (sized by sizeLimit when given).
func (sc *setupContext) emptyDir(name string, src *v1.EmptyDirVolumeSource) (string, error) {
	dir, err := sc.dir(kindEmptyDir, name)
	if err != nil {
		return "", err
	}
	if src.Medium == v1.StorageMediumMemory {
		size := int64(0)
		if src.SizeLimit != nil {
			size = src.SizeLimit.Value()
		}
		if err := sc.m.mountTmpfs(sc.pod.UID, dir, size); err != nil {
			return "", err
		}
	}
	// Anyone in the pod may write: 0777, as upstream.
	if err := os.Chmod(dir, 0o777); err != nil {
		return "", err
	}
	if gid := fsGroup(sc.pod); gid != nil {
		applyFSGroup(dir, *gid, true)
	}
	return dir, nil
}

// fsGroup is the pod's fsGroup, if set.
func fsGroup(pod *v1.Pod) *int64 {
	if pod.Spec.SecurityContext != nil {
		return pod.Spec.SecurityContext.FSGroup
	}
	return nil
}

// applyFSGroup gives the volume's files to group gid (setgid dirs,
// group-readable or -writable files), as upstream's SetVolumeOwnership.
func applyFSGroup(dir string, gid int64, writable bool) {
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		_ = os.Lchown(p, -1, int(gid))
		mode := info.Mode().Perm() | 0o040
		if writable {
			mode |= 0o020
		}
		if info.IsDir() {
			mode |= 0o010 | os.ModeSetgid
		}
		_ = os.Chmod(p, mode)
		return nil
	})
}
