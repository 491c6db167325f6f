package kubelet

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestImageGC(t *testing.T) {
	kl, rt, images, _ := newFakeKubelet(t)
	kl.cfg.ImageFsPath = "/images"
	images.SetFakeImageSize(100)
	images.SetFakeImagePinned("pinned", true)
	images.SetFakeImages([]string{"busybox", "old", "pinned", "fresh"})
	rt.SetFakeContainers(nil)
	_, _ = rt.CreateContainer(context.Background(), "sb", &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}}, &runtimeapi.PodSandboxConfig{})
	g := newImageGC(kl)
	used := uint64(50)
	g.usage = func(string) (uint64, uint64, error) { return 100, used, nil }
	t0 := time.Now()
	if err := g.collect(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	// Full, but every image was seen just now: nothing may go.
	used = 90
	if err := g.collect(context.Background(), t0.Add(time.Second)); err == nil || len(images.Images) != 4 {
		t.Fatalf("young images were removed or no failure reported: %v, %d images", err, len(images.Images))
	}
	g.lastUsed["fresh"] = t0.Add(3 * time.Minute)
	// 90% used: free down to 80%, the least recently used unused image.
	if err := g.collect(context.Background(), t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var left []string
	for id := range images.Images {
		left = append(left, id)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"busybox", "fresh", "pinned"}) {
		t.Errorf("images left = %v, want the used, the pinned and the recently used ones", left)
	}
	used = 50
	if err := g.collect(context.Background(), t0.Add(20*time.Minute)); err != nil || len(images.Images) != 3 {
		t.Errorf("below the threshold nothing goes: %v, %d images", err, len(images.Images))
	}
}

// The sandbox image and pinned (imported) images are never collected: with
// no registry they could not come back.
func TestImageGCKeepsSandboxAndPinnedImages(t *testing.T) {
	kl, rt, images, _ := newFakeKubelet(t)
	kl.cfg.ImageFsPath = "/images"
	kl.cfg.SandboxImage = "registry.k8s.io/pause:3.10"
	pinned := []string{"registry.k8s.io/e2e-test-images/agnhost:2.66.1"}
	var pinnedErr error
	kl.cfg.PinnedImages = func(context.Context) ([]string, error) { return pinned, pinnedErr }
	images.SetFakeImageSize(100)
	images.SetFakeImages([]string{"registry.k8s.io/pause:3.10", "registry.k8s.io/e2e-test-images/agnhost:2.66.1", "docker.io/library/pulled:1"})
	rt.SetFakeContainers(nil)
	g := newImageGC(kl)
	g.usage = func(string) (uint64, uint64, error) { return 100, 99, nil }
	t0 := time.Now()
	_ = g.collect(context.Background(), t0)

	pinnedErr = errors.New("containerd unreachable")
	if err := g.collect(context.Background(), t0.Add(time.Hour)); err == nil || len(images.Images) != 3 {
		t.Fatalf("with the pinned list unknown nothing may go: err %v, %d images", err, len(images.Images))
	}
	pinnedErr = nil
	_ = g.collect(context.Background(), t0.Add(time.Hour)) // cannot free enough: reports, but removes what it may
	var left []string
	for id := range images.Images {
		left = append(left, id)
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"registry.k8s.io/e2e-test-images/agnhost:2.66.1", "registry.k8s.io/pause:3.10"}) {
		t.Errorf("images left = %v, want the sandbox and the pinned image", left)
	}
}
