//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// testNamespaceDeletion: a namespace holding pods, services, configmaps,
// secrets, a deployment and a custom resource is deleted within 30s.
func testNamespaceDeletion(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := "ctl-ns-delete"
	kubectlMust(t, s, crdManifest, "apply", "-f", "-")
	eventuallyState(t, 30*time.Second, "CRD served", func() (bool, string) {
		_, err := s.Kubectl(ctx, "", "get", "crontabs", "-A")
		return err == nil, fmt.Sprint(err)
	})
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: %[1]s}
spec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: %[1]s}
spec: {selector: {app: x}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: %[1]s}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: sec, namespace: %[1]s}
stringData: {a: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: %[1]s}
spec:
  replicas: 2
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}
---
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: ct, namespace: %[1]s}
spec: {cronSpec: "* * * * */5", replicas: 1}
`, ns)
	kubectlMust(t, s, manifest, "apply", "-f", "-")
	eventuallyState(t, 30*time.Second, "deployment pods created", func() (bool, string) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 3, fmt.Sprintf("%d pods", len(pods.Items))
	})

	start := time.Now()
	kubectlMust(t, s, "", "delete", "namespace", ns, "--wait=false")
	eventuallyState(t, 30*time.Second, "namespace gone", func() (bool, string) {
		n, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("phase %s conditions %+v", n.Status.Phase, n.Status.Conditions)
	})
	t.Logf("namespace deleted in %v", time.Since(start).Round(100*time.Millisecond))
}
