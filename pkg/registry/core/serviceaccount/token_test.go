package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// getter serves objects by name.
type getter map[string]runtime.Object

func (g getter) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if o, ok := g[name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("thing"), name)
}

func newTokenREST(t *testing.T, maxExpiration time.Duration) *TokenREST {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := serviceaccount.NewGenerator("https://issuer", key)
	if err != nil {
		t.Fatal(err)
	}
	sas := getter{"default": &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", UID: "sa-uid"}}}
	pods := getter{
		"p":     &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"}, Spec: corev1.PodSpec{ServiceAccountName: "default", NodeName: "n1"}},
		"other": &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other", UID: "o-uid"}, Spec: corev1.PodSpec{ServiceAccountName: "builder"}},
	}
	nodes := getter{"n1": &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}}
	return NewTokenREST(sas, pods, getter{}, nodes, generic.ServiceAccountTokenConfig{Generator: gen, MaxExpiration: maxExpiration, ExtendExpiration: true}, []string{"https://issuer"})
}

func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(data, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestTokenRequest(t *testing.T) {
	ctx := genericapirequest.WithNamespace(context.Background(), "ns")
	create := func(r *TokenREST, name string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
		out, err := r.Create(ctx, name, &authenticationv1.TokenRequest{Spec: spec}, nil, &metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		return out.(*authenticationv1.TokenRequest), nil
	}

	t.Run("defaults audience and expiry", func(t *testing.T) {
		before := time.Now()
		tr, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)})
		if err != nil {
			t.Fatal(err)
		}
		c := claimsOf(t, tr.Status.Token)
		if c["iss"] != "https://issuer" || c["sub"] != "system:serviceaccount:ns:default" {
			t.Errorf("claims = %v", c)
		}
		if auds := c["aud"].([]any); len(auds) != 1 || auds[0] != "https://issuer" {
			t.Errorf("aud = %v", auds)
		}
		exp := time.Unix(int64(c["exp"].(float64)), 0)
		if d := exp.Sub(before); d < 599*time.Second || d > 602*time.Second {
			t.Errorf("token lives %v, want 10m", d)
		}
		if tr.Name != "default" || tr.UID != "sa-uid" || tr.Status.ExpirationTimestamp.IsZero() {
			t.Errorf("response metadata = %+v", tr.ObjectMeta)
		}
	})
	t.Run("bound to a pod names the pod and its node", func(t *testing.T) {
		tr, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600), BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p"}})
		if err != nil {
			t.Fatal(err)
		}
		k := claimsOf(t, tr.Status.Token)["kubernetes.io"].(map[string]any)
		if pod := k["pod"].(map[string]any); pod["uid"] != "pod-uid" {
			t.Errorf("pod claim = %v", pod)
		}
		if node := k["node"].(map[string]any); node["uid"] != "node-uid" {
			t.Errorf("node claim = %v", node)
		}
	})
	t.Run("kubelet's default lifetime is extended for pod tokens", func(t *testing.T) {
		tr, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3607), BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p"}})
		if err != nil {
			t.Fatal(err)
		}
		c := claimsOf(t, tr.Status.Token)
		lifetime := time.Duration(c["exp"].(float64)-c["iat"].(float64)) * time.Second
		if lifetime != extendedExpiration {
			t.Errorf("lifetime = %v, want a year", lifetime)
		}
		if c["kubernetes.io"].(map[string]any)["warnafter"] == nil {
			t.Error("no warnafter claim")
		}
		if d := time.Until(tr.Status.ExpirationTimestamp.Time); d > 2*time.Hour {
			t.Errorf("status says it expires in %v; the requested hour is what clients see", d)
		}
	})
	t.Run("pod of another service account", func(t *testing.T) {
		_, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600), BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other"}})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("err = %v, want BadRequest", err)
		}
	})
	t.Run("stale UID in the bound reference", func(t *testing.T) {
		_, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600), BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: "old"}})
		if !apierrors.IsConflict(err) {
			t.Errorf("err = %v, want Conflict", err)
		}
	})
	t.Run("too short", func(t *testing.T) {
		_, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not specify a duration less than 10 minutes") {
			t.Errorf("err = %v, want upstream's Invalid", err)
		}
	})
	t.Run("capped by the maximum", func(t *testing.T) {
		tr, err := create(newTokenREST(t, time.Hour), "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](86400)})
		if err != nil {
			t.Fatal(err)
		}
		if *tr.Spec.ExpirationSeconds != 3600 {
			t.Errorf("expirationSeconds = %d, want 3600", *tr.Spec.ExpirationSeconds)
		}
	})
	t.Run("unknown service account", func(t *testing.T) {
		if _, err := create(newTokenREST(t, 0), "nobody", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}); !apierrors.IsNotFound(err) {
			t.Errorf("err = %v, want NotFound", err)
		}
	})
	t.Run("unsupported bound kind", func(t *testing.T) {
		_, err := create(newTokenREST(t, 0), "default", authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600), BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", APIVersion: "v1", Name: "x"}})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("err = %v, want BadRequest", err)
		}
	})
}
