//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestAllowPrivileged: privileged containers are allowed by default (as
// kubeadm and k3s configure kube-apiserver), and refused with upstream's
// message under --allow-privileged=false.
func TestAllowPrivileged(t *testing.T) {
	const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"priv"},"spec":{"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}]}}`
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "default", args: nil},
		{name: "refused", args: []string{"--allow-privileged=false"}, wantErr: "spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := framework.StartServer(t, framework.WithArgs(tc.args...))
			out, err := s.Kubectl(ctx, pod, "create", "--dry-run=server", "-f", "-")
			if tc.wantErr == "" && err != nil {
				t.Fatalf("privileged pod refused: %v: %s", err, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(out, tc.wantErr)) {
				t.Fatalf("want %q, got %v: %s", tc.wantErr, err, out)
			}
		})
	}
}
