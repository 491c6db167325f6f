package containerd

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-project/skiff/pkg/image"
)

func TestRenderKeepsRequiredSettings(t *testing.T) {
	cfg := Config{Dir: "/d", Binary: "containerd", RuncBinary: "/usr/sbin/runc", SandboxImage: "registry.k8s.io/pause:3.10", CNIBinDir: "/usr/lib/cni", CNIConfDir: "/d/cni"}
	data, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`address = "/d/containerd.sock"`,
		`restrict_oom_score_adj = true`,
		`SystemdCgroup = false`,
		`sandbox_image = "registry.k8s.io/pause:3.10"`,
		`stream_server_address = "127.0.0.1"`,
		`conf_dir = "/d/cni"`,
		`root = "/d/root"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config lacks %q:\n%s", want, data)
		}
	}
}

func TestSocketPathLimit(t *testing.T) {
	_, err := NewSupervisor(Config{Dir: "/" + strings.Repeat("x", 100), Binary: "true"})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("want a too-long socket error, got %v", err)
	}
}

// TestSupervisorImportsAndRestarts runs the real containerd (root only,
// SKIFF_RUNTIME_TESTS=1): start, import the images hack/images builds,
// kill containerd and see it restarted.
func TestSupervisorImportsAndRestarts(t *testing.T) {
	if os.Getenv("SKIFF_RUNTIME_TESTS") == "" || os.Getuid() != 0 {
		t.Skip("needs root and SKIFF_RUNTIME_TESTS=1")
	}
	imagesDir := os.Getenv("SKIFF_IMAGES")
	if imagesDir == "" {
		t.Skip("SKIFF_IMAGES (the output of hack/images/build.sh) not set")
	}
	dir, err := os.MkdirTemp("/tmp", "skiff-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := Config{Dir: dir, Binary: "containerd", RuncBinary: "/usr/sbin/runc", SandboxImage: "registry.k8s.io/pause:3.10",
		CNIBinDir: "/usr/lib/cni", CNIConfDir: filepath.Join(dir, "cni")}
	s, err := NewSupervisor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		// Unmount whatever containerd left mounted under dir.
		_ = exec.Command("sh", "-c", "awk -v s="+dir+"/ 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r umount").Run()
	}()
	select {
	case <-s.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("containerd not ready")
	}
	c, err := image.Dial(s.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, f := range []string{"pause.tar", "busybox.tar"} {
		if _, err := c.Import(ctx, filepath.Join(imagesDir, f), io.Discard); err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
	}
	// A second import is a no-op that succeeds.
	if _, err := c.Import(ctx, filepath.Join(imagesDir, "busybox.tar"), io.Discard); err != nil {
		t.Fatalf("re-import: %v", err)
	}
	names, err := c.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"registry.k8s.io/pause:3.10", "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("image %s missing from %v", want, names)
		}
	}
	pid := s.PID()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.PID() == pid || s.PID() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("containerd not restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The gRPC client reconnects by itself once the new socket is up.
	for {
		names, err := c.Names(ctx)
		if err == nil && strings.Contains(strings.Join(names, " "), "busybox") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v %v", names, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
