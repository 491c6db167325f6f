package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	critesting "k8s.io/cri-api/pkg/apis/testing"
)

func TestRotateLogs(t *testing.T) {
	kl, rt, _, _ := newFakeKubelet(t)
	dir := t.TempDir()
	big, small := filepath.Join(dir, "big.log"), filepath.Join(dir, "small.log")
	_ = os.WriteFile(big, make([]byte, containerLogMaxSize+1), 0o644)
	_ = os.WriteFile(small, []byte("x"), 0o644)
	for i := 0; i < containerLogMaxFiles; i++ {
		_ = os.WriteFile(big+".2026010"+string(rune('1'+i))+"-000000.000000", []byte("old"), 0o644)
	}
	running := runtimeapi.ContainerState_CONTAINER_RUNNING
	rt.SetFakeContainers([]*critesting.FakeContainer{
		{ContainerStatus: runtimeapi.ContainerStatus{Id: "big", State: running, LogPath: big, Metadata: &runtimeapi.ContainerMetadata{Name: "b"}}},
		{ContainerStatus: runtimeapi.ContainerStatus{Id: "small", State: running, LogPath: small, Metadata: &runtimeapi.ContainerMetadata{Name: "s"}}},
	})
	kl.rotateLogs(context.Background(), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	if !slices.Contains(rt.Called, "ReopenContainerLog") {
		t.Fatal("the runtime was not asked to reopen the rotated log")
	}
	if _, err := os.Stat(big); !os.IsNotExist(err) {
		t.Error("the oversized log was not moved away")
	}
	rotated, _ := filepath.Glob(big + ".*")
	if len(rotated) != containerLogMaxFiles-1 {
		t.Errorf("%d rotated files kept, want %d: %v", len(rotated), containerLogMaxFiles-1, rotated)
	}
	if !slices.Contains(rotated, big+".20260201-000000.000000") {
		t.Errorf("the newest rotation is missing: %v", rotated)
	}
	if _, err := os.Stat(small); err != nil {
		t.Error("a small log was rotated")
	}
}
