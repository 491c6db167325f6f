package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
)

const issuer = "https://kubernetes.default.svc.cluster.local"

type fakeGetter struct {
	serviceAccounts map[string]*corev1.ServiceAccount
	pods            map[string]*corev1.Pod
	secrets         map[string]*corev1.Secret
	nodes           map[string]*corev1.Node
}

func notFound(resource, name string) error {
	return apierrors.NewNotFound(corev1.Resource(resource), name)
}

func (f *fakeGetter) GetServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if o, ok := f.serviceAccounts[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("serviceaccounts", name)
}

func (f *fakeGetter) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if o, ok := f.pods[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("pods", name)
}

func (f *fakeGetter) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secrets[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("secrets", name)
}

func (f *fakeGetter) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	if o, ok := f.nodes[name]; ok {
		return o, nil
	}
	return nil, notFound("nodes", name)
}

func setup(t *testing.T) (*Generator, []PublicKey, *fakeGetter, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	getter := &fakeGetter{
		serviceAccounts: map[string]*corev1.ServiceAccount{"ns/sa": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sa", UID: "sa-uid"}}},
		pods:            map[string]*corev1.Pod{"ns/p": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"}}},
		secrets:         map[string]*corev1.Secret{},
		nodes:           map[string]*corev1.Node{"n1": {ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}},
	}
	return g, []PublicKey{pub}, getter, key
}

func TestBoundTokens(t *testing.T) {
	g, keys, getter, _ := setup(t)
	auth := NewAuthenticator([]string{issuer}, keys, authenticator.Audiences{issuer}, getter)
	sa := getter.serviceAccounts["ns/sa"]
	issue := func(t *testing.T, b Binding, issued time.Time, lifetime time.Duration, auds ...string) string {
		t.Helper()
		if len(auds) == 0 {
			auds = []string{issuer}
		}
		claims, private, err := BoundClaims(sa, b, issued, lifetime, 0, auds)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := g.GenerateToken(claims, private)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()

	t.Run("valid token identifies the service account", func(t *testing.T) {
		resp, ok, err := auth.AuthenticateToken(context.Background(), issue(t, Binding{}, now, time.Hour))
		if err != nil || !ok {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
		if resp.User.GetName() != "system:serviceaccount:ns:sa" || resp.User.GetUID() != "sa-uid" {
			t.Errorf("user = %v", resp.User)
		}
		groups := strings.Join(resp.User.GetGroups(), ",")
		if groups != "system:serviceaccounts,system:serviceaccounts:ns" {
			t.Errorf("groups = %s", groups)
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, ok, err := auth.AuthenticateToken(context.Background(), issue(t, Binding{}, now.Add(-2*time.Hour), time.Hour))
		if ok || err == nil || err.Error() != "service account token has expired" {
			t.Errorf("ok=%v err=%v", ok, err)
		}
	})
	t.Run("pod-bound token dies with its pod", func(t *testing.T) {
		tok := issue(t, Binding{Pod: getter.pods["ns/p"], Node: getter.nodes["n1"]}, now, time.Hour)
		resp, ok, err := auth.AuthenticateToken(context.Background(), tok)
		if err != nil || !ok {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
		if got := resp.User.GetExtra()["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "p" {
			t.Errorf("pod-name extra = %v", got)
		}
		if got := resp.User.GetExtra()["authentication.kubernetes.io/node-name"]; len(got) != 1 || got[0] != "n1" {
			t.Errorf("node-name extra = %v", got)
		}
		delete(getter.pods, "ns/p")
		defer func() {
			getter.pods["ns/p"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"}}
		}()
		if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil || err.Error() != "service account token has been invalidated" {
			t.Errorf("after pod deletion: ok=%v err=%v", ok, err)
		}
	})
	t.Run("recreated pod has another UID", func(t *testing.T) {
		tok := issue(t, Binding{Pod: getter.pods["ns/p"]}, now, time.Hour)
		getter.pods["ns/p"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "other"}}
		defer func() { getter.pods["ns/p"].UID = "pod-uid" }()
		if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("ok=%v err=%v", ok, err)
		}
	})
	t.Run("recreated service account", func(t *testing.T) {
		tok := issue(t, Binding{}, now, time.Hour)
		sa.UID = "new"
		defer func() { sa.UID = "sa-uid" }()
		if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil {
			t.Errorf("ok=%v err=%v", ok, err)
		}
	})
	t.Run("audience must match the request's", func(t *testing.T) {
		tok := issue(t, Binding{}, now, time.Hour, "vault")
		if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil {
			t.Errorf("API server accepted a token for another audience: ok=%v err=%v", ok, err)
		}
		ctx := authenticator.WithAudiences(context.Background(), authenticator.Audiences{"vault"})
		resp, ok, err := auth.AuthenticateToken(ctx, tok)
		if err != nil || !ok || len(resp.Audiences) != 1 || resp.Audiences[0] != "vault" {
			t.Errorf("review for vault: ok=%v err=%v resp=%v", ok, err, resp)
		}
	})
	t.Run("other issuers are not its business", func(t *testing.T) {
		other, err := NewGenerator("https://elsewhere", mustKey(t))
		if err != nil {
			t.Fatal(err)
		}
		claims, private, _ := BoundClaims(sa, Binding{}, now, time.Hour, 0, []string{issuer})
		tok, _ := other.GenerateToken(claims, private)
		if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err != nil {
			t.Errorf("ok=%v err=%v, want (false, nil)", ok, err)
		}
		if _, ok, err := auth.AuthenticateToken(context.Background(), "not-a-jwt"); ok || err != nil {
			t.Errorf("garbage: ok=%v err=%v", ok, err)
		}
	})
	t.Run("signature by another key", func(t *testing.T) {
		forger, _ := NewGenerator(issuer, mustKey(t))
		claims, private, _ := BoundClaims(sa, Binding{}, now, time.Hour, 0, []string{issuer})
		tok, _ := forger.GenerateToken(claims, private)
		if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil {
			t.Errorf("forged token: ok=%v err=%v", ok, err)
		}
	})
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLegacyTokens(t *testing.T) {
	_, keys, getter, key := setup(t)
	legacyGen, err := NewGenerator(LegacyIssuer, key)
	if err != nil {
		t.Fatal(err)
	}
	sa := getter.serviceAccounts["ns/sa"]
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sa-token", UID: "s-uid"}, Type: corev1.SecretTypeServiceAccountToken}
	claims, private := LegacyClaims(sa, secret)
	tok, err := legacyGen.GenerateToken(claims, private)
	if err != nil {
		t.Fatal(err)
	}
	auth := NewLegacyAuthenticator(keys, authenticator.Audiences{issuer}, getter, nil)
	if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil {
		t.Errorf("token without its secret: ok=%v err=%v", ok, err)
	}
	secret.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(tok)}
	getter.secrets["ns/sa-token"] = secret
	resp, ok, err := auth.AuthenticateToken(context.Background(), tok)
	if err != nil || !ok || resp.User.GetName() != "system:serviceaccount:ns:sa" {
		t.Fatalf("ok=%v err=%v resp=%v", ok, err, resp)
	}
	secret.Data[corev1.ServiceAccountTokenKey] = []byte("rotated")
	if _, ok, err := auth.AuthenticateToken(context.Background(), tok); ok || err == nil || err.Error() != "Token does not match server's copy" {
		t.Errorf("rotated secret: ok=%v err=%v", ok, err)
	}
}

func TestOpenIDMetadata(t *testing.T) {
	key := mustKey(t)
	pub, _ := NewPublicKey(key)
	md, err := NewOpenIDMetadata(issuer, "", "10.0.0.1:6443", []PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(md.config, &config); err != nil {
		t.Fatal(err)
	}
	if config["issuer"] != issuer || config["jwks_uri"] != "https://10.0.0.1:6443/openid/v1/jwks" {
		t.Errorf("config = %v", config)
	}
	if algs := config["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
		t.Errorf("algs = %v", algs)
	}
	var keyset struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(md.keyset, &keyset); err != nil {
		t.Fatal(err)
	}
	if len(keyset.Keys) != 1 || keyset.Keys[0]["kid"] != pub.KeyID || keyset.Keys[0]["d"] != nil {
		t.Errorf("keyset = %v (must hold the public key only)", keyset)
	}
	if _, err := NewOpenIDMetadata("http://insecure", "", "x", []PublicKey{pub}); err == nil {
		t.Error("http issuer accepted")
	}
}
