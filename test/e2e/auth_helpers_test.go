//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// tokenConfig reaches s with a bearer token instead of the admin
// certificate.
func tokenConfig(s *framework.Server, token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(s.RESTConfig())
	cfg.BearerToken = token
	return cfg
}

// tokenClient is a clientset authenticating with token.
func tokenClient(t *testing.T, s *framework.Server, token string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(tokenConfig(s, token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawGet GETs path on s with an optional bearer token and no client
// certificate, returning the status code and body.
func rawGet(t *testing.T, s *framework.Server, path, token string) (int, string) {
	t.Helper()
	cfg := s.RESTConfig()
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	st := readStatus(resp)
	return resp.StatusCode, st.Message
}

// kubectlMust runs kubectl and fails the test on error.
func kubectlMust(t *testing.T, s *framework.Server, stdin string, args ...string) string {
	t.Helper()
	out, err := s.Kubectl(context.Background(), stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond every 200ms for up to timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
	}
}

// ensureDefaultServiceAccount waits for the service-account controller to
// create ns's "default" service account, creating it itself when there is
// no such controller.
func ensureDefaultServiceAccount(t *testing.T, s *framework.Server, ns string) {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return
		}
	}
	_, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
