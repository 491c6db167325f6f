package volume

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-project/skiff/pkg/image"
)

// kindImage is the directory of image volumes.
const kindImage = "kubernetes.io~image"

// labelPodUID marks the snapshot views made for a pod's image volumes, so
// that tear-down finds them even after an agent restart.
const labelPodUID = "skiff.io/pod-uid"

// ImageViews gives read-only views of images' root filesystems
// (containerd snapshot views; image.Client). The CRI of the node's
// containerd 1.6 has no image volumes, so the kubelet mounts them itself.
type ImageViews interface {
	View(ctx context.Context, ref, key string, labels map[string]string) ([]image.Mount, error)
	RemoveViews(ctx context.Context, label, value string) error
}

// image mounts a read-only view of the volume's image. The image must be
// on the node: skiff pulls nothing for image volumes (whatever their pull
// policy), as for containers whose image is present.
func (sc *setupContext) image(name string, src *v1.ImageVolumeSource) (string, error) {
	views := sc.m.cfg.Images
	if views == nil {
		return "", fmt.Errorf("image volumes are not supported on this node")
	}
	dir, err := sc.dir(kindImage, name)
	if err != nil {
		return "", err
	}
	if isMountPoint(dir) {
		return dir, nil
	}
	uid := string(sc.pod.UID)
	mounts, err := views.View(sc.ctx, src.Reference, "skiff-image-volume/"+uid+"/"+name, map[string]string{labelPodUID: uid})
	if errors.Is(err, image.ErrNotPresent) {
		return "", fmt.Errorf("image %q is not present on the node (import it with `skiff image import`)", src.Reference)
	}
	if err != nil {
		return "", err
	}
	if err := mountReadOnly(mounts, dir); err != nil {
		return "", fmt.Errorf("mount image %q: %w", src.Reference, err)
	}
	sc.m.recordMount(sc.pod.UID, dir)
	return dir, nil
}

// mountReadOnly mounts a snapshot view at dir, read-only: a single layer
// comes as a bind mount, several as an overlay of lower directories only.
func mountReadOnly(mounts []image.Mount, dir string) error {
	if len(mounts) != 1 {
		return fmt.Errorf("view has %d mounts, want 1", len(mounts))
	}
	m := mounts[0]
	switch m.Type {
	case "bind", "rbind":
		if err := unix.Mount(m.Source, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, ""); err != nil {
			_ = unmount(dir)
			return fmt.Errorf("remount read-only: %w", err)
		}
		return nil
	case "overlay":
		var data []string
		for _, o := range m.Options {
			if o != "ro" && o != "rw" {
				data = append(data, o)
			}
		}
		return unix.Mount("overlay", dir, "overlay", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, strings.Join(data, ","))
	}
	return fmt.Errorf("unexpected %s mount", m.Type)
}

// removeImageViews drops the snapshot views of a pod's image volumes (their
// mounts are gone by then).
func (m *Manager) removeImageViews(uid types.UID) error {
	if m.cfg.Images == nil {
		return nil
	}
	return m.cfg.Images.RemoveViews(context.Background(), labelPodUID, string(uid))
}
