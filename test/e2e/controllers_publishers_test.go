//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// testPublishers: the API server's serving CA is published as a
// ClusterTrustBundle of kubernetes.io/kube-apiserver-serving (and it is the
// CA clients trust), and every node carries the ttl annotation (0 below 100
// nodes).
func testPublishers(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	caPEM := string(s.RESTConfig().CAData)
	if caPEM == "" {
		t.Fatal("the test server's client config holds no CA data")
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := c.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=kubernetes.io/kube-apiserver-serving"})
		if err != nil || len(list.Items) != 1 {
			return false, nil
		}
		b := list.Items[0]
		return strings.HasPrefix(b.Name, "kubernetes.io:kube-apiserver-serving:") && strings.TrimSpace(b.Spec.TrustBundle) == strings.TrimSpace(caPEM), nil
	})
	if err != nil {
		t.Errorf("no ClusterTrustBundle of kubernetes.io/kube-apiserver-serving holding the cluster CA")
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			return false, nil
		}
		for _, n := range nodes.Items {
			if n.Annotations[corev1.ObjectTTLAnnotationKey] != "0" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("not every node has the annotation %s=0", corev1.ObjectTTLAnnotationKey)
	}
}
