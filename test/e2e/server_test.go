//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestServerRestartKeepsStateAndCertificates starts a server, writes an
// object, restarts, and checks that the object, the CA and the admin
// kubeconfig survive and that the system namespaces exist.
func TestServerRestartKeepsStateAndCertificates(t *testing.T) {
	ctx := context.Background()
	s := framework.StartServer(t)
	t.Logf("first start: ready after %s", s.ReadyAfter())

	info, err := os.Stat(s.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("admin.kubeconfig has mode %o, want 600", mode)
	}
	c := s.Client()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	s.Stop()
	s.Start()
	t.Logf("restart: ready after %s", s.ReadyAfter())

	ca2, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca, ca2) {
		t.Error("the cluster CA changed across a restart")
	}
	cm, err := s.Client().CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap after restart: %v", err)
	}
	if cm.Data["k"] != "v" {
		t.Errorf("configmap data after restart = %v", cm.Data)
	}
}
