//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/test/e2e/framework"
)

const issuer = "https://kubernetes.default.svc.cluster.local"

// whoAmI asks the server who token is (SelfSubjectReview).
func whoAmI(t *testing.T, s *framework.Server, token string) (string, error) {
	t.Helper()
	r, err := tokenClient(t, s, token).AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

func reviewToken(t *testing.T, s *framework.Server, token string) authenticationv1.TokenReviewStatus {
	t.Helper()
	r, err := s.Client().AuthenticationV1().TokenReviews().Create(context.Background(),
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// TestAuthServiceAccountTokens: TokenRequest tokens authenticate as their
// service account until they expire or their bound pod goes; TokenReview
// agrees; the issuer discovery documents verify them.
func TestAuthServiceAccountTokens(t *testing.T) {
	s := framework.StartServer(t)
	ctx := context.Background()
	c := s.Client()
	kubectlMust(t, s, "", "create", "namespace", "tok")
	ensureDefaultServiceAccount(t, s, "tok")

	t.Run("kubectl create token", func(t *testing.T) {
		token := strings.TrimSpace(kubectlMust(t, s, "", "create", "token", "default", "-n", "tok", "--duration=10m"))
		user, err := whoAmI(t, s, token)
		if err != nil || user != "system:serviceaccount:tok:default" {
			t.Fatalf("whoami = %q, %v", user, err)
		}
		st := reviewToken(t, s, token)
		if !st.Authenticated || st.User.Username != "system:serviceaccount:tok:default" || !strings.Contains(strings.Join(st.User.Groups, ","), "system:serviceaccounts:tok") {
			t.Errorf("TokenReview = %+v", st)
		}
		if len(st.Audiences) != 1 || st.Audiences[0] != issuer {
			t.Errorf("audiences = %v", st.Audiences)
		}
		// The service account has no role: it may not list pods.
		if _, err := tokenClient(t, s, token).CoreV1().Pods("tok").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing pods: %v, want Forbidden", err)
		}
	})

	t.Run("expired token", func(t *testing.T) {
		// Sign with the cluster's key, as the server would have an hour ago.
		key, err := serviceaccount.LoadSigningKey(filepath.Join(s.DataDir, "tls", "service-account.key"))
		if err != nil {
			t.Fatal(err)
		}
		gen, err := serviceaccount.NewGenerator(issuer, key)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := c.CoreV1().ServiceAccounts("tok").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		claims, private, err := serviceaccount.BoundClaims(sa, serviceaccount.Binding{}, time.Now().Add(-time.Hour), 10*time.Minute, 0, []string{issuer})
		if err != nil {
			t.Fatal(err)
		}
		token, err := gen.GenerateToken(claims, private)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := whoAmI(t, s, token); !apierrors.IsUnauthorized(err) {
			t.Errorf("expired token: %v, want 401", err)
		}
		if st := reviewToken(t, s, token); st.Authenticated || !strings.Contains(st.Error, "service account token has expired") {
			t.Errorf("TokenReview = %+v", st)
		}
	})

	t.Run("pod-bound token dies with its pod", func(t *testing.T) {
		pod, err := c.CoreV1().Pods("tok").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "holder"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.ServiceAccountName != "default" {
			t.Errorf("ServiceAccount admission gave the pod %q", pod.Spec.ServiceAccountName)
		}
		token := strings.TrimSpace(kubectlMust(t, s, "", "create", "token", "default", "-n", "tok", "--bound-object-kind=Pod", "--bound-object-name=holder"))
		st := reviewToken(t, s, token)
		if !st.Authenticated || len(st.User.Extra["authentication.kubernetes.io/pod-name"]) != 1 {
			t.Fatalf("TokenReview of bound token = %+v", st)
		}
		zero := int64(0)
		if err := c.CoreV1().Pods("tok").Delete(ctx, "holder", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		// Successful authentications are cached for 10s, as upstream.
		eventually(t, 30*time.Second, "token rejected after its pod is deleted", func() (bool, error) {
			_, err := whoAmI(t, s, token)
			return apierrors.IsUnauthorized(err), err
		})
		if st := reviewToken(t, s, token); st.Authenticated || !strings.Contains(st.Error, "service account token has been invalidated") {
			t.Errorf("TokenReview after deletion = %+v", st)
		}
	})

	t.Run("issuer discovery", func(t *testing.T) {
		token := strings.TrimSpace(kubectlMust(t, s, "", "create", "token", "default", "-n", "tok"))
		code, body := rawGet(t, s, "/.well-known/openid-configuration", token)
		if code != 200 {
			t.Fatalf("discovery: %d %s", code, body)
		}
		var doc struct {
			Issuer  string   `json:"issuer"`
			JWKSURI string   `json:"jwks_uri"`
			Algs    []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if doc.Issuer != issuer || !strings.HasSuffix(doc.JWKSURI, "/openid/v1/jwks") || len(doc.Algs) != 1 || doc.Algs[0] != "ES256" {
			t.Errorf("discovery = %+v", doc)
		}
		code, body = rawGet(t, s, "/openid/v1/jwks", token)
		if code != 200 || !strings.Contains(body, `"alg":"ES256"`) || strings.Contains(body, `"d":`) {
			t.Errorf("jwks: %d %s", code, body)
		}
		if code, _ := rawGet(t, s, "/openid/v1/jwks", ""); code != 401 {
			t.Errorf("anonymous jwks: %d, want 401", code)
		}
	})

	t.Run("legacy token secret", func(t *testing.T) {
		if _, err := c.CoreV1().ServiceAccounts("tok").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		kubectlMust(t, s, `apiVersion: v1
kind: Secret
metadata:
  name: legacy-token
  namespace: tok
  annotations: {kubernetes.io/service-account.name: legacy}
type: kubernetes.io/service-account-token
`, "apply", "-f", "-")
		var token string
		eventually(t, 30*time.Second, "token filled in by the tokens controller", func() (bool, error) {
			sec, err := c.CoreV1().Secrets("tok").Get(ctx, "legacy-token", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			token = string(sec.Data["token"])
			return token != "" && len(sec.Data["ca.crt"]) > 0 && string(sec.Data["namespace"]) == "tok", nil
		})
		if user, err := whoAmI(t, s, token); err != nil || user != "system:serviceaccount:tok:legacy" {
			t.Fatalf("whoami = %q, %v", user, err)
		}
		if err := c.CoreV1().ServiceAccounts("tok").Delete(ctx, "legacy", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "token secret deleted with its service account", func() (bool, error) {
			_, err := c.CoreV1().Secrets("tok").Get(ctx, "legacy-token", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		eventually(t, 30*time.Second, "legacy token rejected", func() (bool, error) {
			_, err := whoAmI(t, s, token)
			return apierrors.IsUnauthorized(err), nil
		})
	})

	t.Run("bootstrap token", func(t *testing.T) {
		kubectlMust(t, s, `apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-abcdef, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData:
  token-id: abcdef
  token-secret: 0123456789abcdef
  usage-bootstrap-authentication: "true"
  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token
`, "apply", "-f", "-")
		eventually(t, 10*time.Second, "bootstrap token accepted", func() (bool, error) {
			user, err := whoAmI(t, s, "abcdef.0123456789abcdef")
			return user == "system:bootstrap:abcdef", err
		})
		if _, err := whoAmI(t, s, "abcdef.0000000000000000"); !apierrors.IsUnauthorized(err) {
			t.Errorf("wrong secret: %v, want 401", err)
		}
	})
}
