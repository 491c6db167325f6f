package kubelet

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/image"
)

// Upstream's image GC defaults: start above 85% of the image filesystem,
// free down to 80%, never touch images used in the last 2 minutes.
const (
	imageGCHighPercent = 85
	imageGCLowPercent  = 80
	imageMinAge        = 2 * time.Minute
	imageGCPeriod      = 5 * time.Minute
)

// fsUsage reports a filesystem's capacity and used bytes.
type fsUsage func(path string) (capacity, used uint64, err error)

func statfsUsage(path string) (uint64, uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	capacity := st.Blocks * uint64(st.Bsize)
	return capacity, capacity - st.Bavail*uint64(st.Bsize), nil
}

// imageGC removes unused images when the image filesystem fills up, the
// least recently used first; images in use by any container, pinned
// images (the CRI's flag, or skiff's label on imported images) and the
// sandbox image stay.
type imageGC struct {
	kl       *Kubelet
	usage    fsUsage
	lastUsed map[string]time.Time // image ID -> last seen in use (or first seen)
}

func newImageGC(kl *Kubelet) *imageGC {
	return &imageGC{kl: kl, usage: statfsUsage, lastUsed: map[string]time.Time{}}
}

func (g *imageGC) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(imageGCPeriod):
		}
		if err := g.collect(ctx, time.Now()); err != nil {
			klog.FromContext(ctx).Error(err, "Image garbage collection failed")
		}
	}
}

// keptNames are the image names never collected: the sandbox image and the
// pinned (imported) images.
func (g *imageGC) keptNames(ctx context.Context) (sets.Set[string], error) {
	kept := sets.New[string]()
	if g.kl.cfg.SandboxImage != "" {
		kept.Insert(image.NormalizeName(g.kl.cfg.SandboxImage))
	}
	if g.kl.cfg.PinnedImages != nil {
		names, err := g.kl.cfg.PinnedImages(ctx)
		if err != nil {
			return nil, err
		}
		kept.Insert(names...)
	}
	return kept, nil
}

// collect frees space if usage is above the high threshold.
func (g *imageGC) collect(ctx context.Context, now time.Time) error {
	images, err := g.kl.images.ListImages(ctx, nil)
	if err != nil {
		return err
	}
	containers, err := g.kl.runtime.ListContainers(ctx, nil)
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, c := range containers {
		inUse[c.ImageRef] = true
		inUse[c.GetImage().GetImage()] = true
	}
	for _, img := range images {
		if _, ok := g.lastUsed[img.Id]; !ok || inUse[img.Id] {
			g.lastUsed[img.Id] = now
		}
	}
	path := g.kl.cfg.ImageFsPath
	if path == "" {
		return nil
	}
	capacity, used, err := g.usage(path)
	if err != nil || capacity == 0 {
		return fmt.Errorf("image filesystem usage of %s: %v (capacity %d)", path, err, capacity)
	}
	if used*100 < capacity*imageGCHighPercent {
		return nil
	}
	toFree := used - capacity*imageGCLowPercent/100
	kept, err := g.keptNames(ctx)
	if err != nil {
		return err // removing what might be pinned is worse than waiting
	}
	var candidates []*runtimeapi.Image
	for _, img := range images {
		if inUse[img.Id] || img.Pinned || now.Sub(g.lastUsed[img.Id]) < imageMinAge || slices.ContainsFunc(img.RepoTags, kept.Has) {
			continue
		}
		candidates = append(candidates, img)
	}
	sort.Slice(candidates, func(i, j int) bool { return g.lastUsed[candidates[i].Id].Before(g.lastUsed[candidates[j].Id]) })
	var freed uint64
	for _, img := range candidates {
		if freed >= toFree {
			break
		}
		if err := g.kl.images.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: img.Id}); err != nil {
			klog.FromContext(ctx).Error(err, "Cannot remove an unused image", "image", img.Id)
			continue
		}
		klog.FromContext(ctx).Info("Removed an unused image", "image", img.Id, "tags", img.RepoTags, "size", img.Size)
		delete(g.lastUsed, img.Id)
		freed += img.Size
	}
	if freed < toFree {
		msg := fmt.Sprintf("Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found %d bytes eligible to free.", toFree, freed)
		g.kl.recorder.Eventf(&v1.ObjectReference{Kind: "Node", Name: g.kl.cfg.NodeName}, v1.EventTypeWarning, "FreeDiskSpaceFailed", "%s", msg)
		return fmt.Errorf("%s", msg)
	}
	return nil
}
