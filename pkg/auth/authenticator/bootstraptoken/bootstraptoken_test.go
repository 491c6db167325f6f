package bootstraptoken

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func secret(mutate func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "bootstrap-token-abcdef"},
		Type:       corev1.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			"token-id":                       []byte("abcdef"),
			"token-secret":                   []byte("0123456789abcdef"),
			"usage-bootstrap-authentication": []byte("true"),
			"auth-extra-groups":              []byte("system:bootstrappers:worker"),
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestAuthenticateToken(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		secret *corev1.Secret
		token  string
		ok     bool
	}{
		{"valid", secret(nil), "abcdef.0123456789abcdef", true},
		{"wrong secret part", secret(nil), "abcdef.0123456789abcdee", false},
		{"no such token", secret(nil), "zzzzzz.0123456789abcdef", false},
		{"not a bootstrap token", secret(nil), "hello", false},
		{"wrong type", secret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }), "abcdef.0123456789abcdef", false},
		{"not for authentication", secret(func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-authentication") }), "abcdef.0123456789abcdef", false},
		{"expired", secret(func(s *corev1.Secret) { s.Data["expiration"] = []byte("2025-12-31T00:00:00Z") }), "abcdef.0123456789abcdef", false},
		{"not yet expired", secret(func(s *corev1.Secret) { s.Data["expiration"] = []byte("2026-01-02T00:00:00Z") }), "abcdef.0123456789abcdef", true},
		{"being deleted", secret(func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: now} }), "abcdef.0123456789abcdef", false},
		{"bad extra group", secret(func(s *corev1.Secret) { s.Data["auth-extra-groups"] = []byte("admins") }), "abcdef.0123456789abcdef", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			if err := idx.Add(tc.secret); err != nil {
				t.Fatal(err)
			}
			a := New(corev1listers.NewSecretLister(idx).Secrets("kube-system"))
			a.now = func() time.Time { return now }
			resp, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if err != nil {
				t.Fatalf("err = %v (bad tokens are not errors)", err)
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if resp.User.GetName() != "system:bootstrap:abcdef" {
				t.Errorf("user = %q", resp.User.GetName())
			}
			groups := resp.User.GetGroups()
			if len(groups) != 2 || groups[0] != "system:bootstrappers" || groups[1] != "system:bootstrappers:worker" {
				t.Errorf("groups = %v", groups)
			}
		})
	}
}
