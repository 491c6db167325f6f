package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SimNodes is a running `skiff sim-nodes`.
type SimNodes struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSimNodes runs `skiff sim-nodes --count count` against s with extra
// flags, waits until the nodes are Ready, and stops it when the test ends.
func StartSimNodes(t testing.TB, s *Server, count int, prefix string, args ...string) *SimNodes {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(s.DataDir, "sim-"+prefix+"log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"sim-nodes", "--kubeconfig", s.Kubeconfig(), "--count", fmt.Sprint(count), "--name-prefix", prefix}, args...)
	cmd := exec.Command(s.bin, all...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sim-nodes: %v", err)
	}
	n := &SimNodes{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.done); log.Close() }()
	t.Cleanup(n.Stop)

	client := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		for {
			node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && nodeReady(node) {
				break
			}
			select {
			case <-n.done:
				t.Fatalf("sim-nodes exited before node %s was ready", name)
			case <-ctx.Done():
				t.Fatalf("node %s not ready: %v", name, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return n
}

func nodeReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// Stop ends the simulator.
func (n *SimNodes) Stop() {
	if n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}
