//go:build e2e

package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	jose "gopkg.in/go-jose/go-jose.v2"
	"gopkg.in/go-jose/go-jose.v2/jwt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiff-project/skiff/pkg/pki"
	"github.com/skiff-project/skiff/test/e2e/framework"
)

// oidcProvider is a minimal OpenID Connect issuer on loopback: discovery
// and keys, and ID tokens signed by the test.
type oidcProvider struct {
	issuer, caFile string
	signer         jose.Signer
}

func startOIDCProvider(t *testing.T) *oidcProvider {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "ca", "oidc-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.EnsureCert(dir, "serving", pki.CertSpec{CommonName: "oidc", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: &jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &oidcProvider{issuer: "https://" + l.Addr().String(), caFile: ca.CertPath, signer: signer}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.issuer, "jwks_uri": p.issuer + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *oidcProvider) token(t *testing.T, audience, email string, groups []string, expiry time.Time) string {
	t.Helper()
	claims := jwt.Claims{Issuer: p.issuer, Subject: "user-1", Audience: jwt.Audience{audience}, Expiry: jwt.NewNumericDate(expiry), IssuedAt: jwt.NewNumericDate(time.Now())}
	tok, err := jwt.Signed(p.signer).Claims(claims).Claims(map[string]any{"email": email, "email_verified": true, "groups": groups}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAuthOIDC: the --oidc-* flags make ID tokens of an OpenID issuer
// authenticate, with upstream's claim mappings.
func TestAuthOIDC(t *testing.T) {
	p := startOIDCProvider(t)
	s := framework.StartServer(t, framework.WithArgs(
		"--oidc-issuer-url="+p.issuer, "--oidc-client-id=skiff", "--oidc-ca-file="+filepath.Clean(p.caFile),
		"--oidc-username-claim=email", "--oidc-groups-claim=groups", "--oidc-groups-prefix=oidc:"))
	valid := p.token(t, "skiff", "alice@example.com", []string{"admins"}, time.Now().Add(time.Hour))
	eventually(t, 30*time.Second, "OIDC token accepted", func() (bool, error) {
		user, err := whoAmI(t, s, valid)
		return user == "alice@example.com", err
	})
	st := reviewToken(t, s, valid)
	if len(st.User.Groups) != 2 || st.User.Groups[0] != "oidc:admins" || st.User.Groups[1] != "system:authenticated" {
		t.Errorf("groups = %v", st.User.Groups)
	}
	for name, tok := range map[string]string{
		"other audience": p.token(t, "someone-else", "alice@example.com", nil, time.Now().Add(time.Hour)),
		"expired":        p.token(t, "skiff", "alice@example.com", nil, time.Now().Add(-time.Hour)),
	} {
		if _, err := whoAmI(t, s, tok); !apierrors.IsUnauthorized(err) {
			t.Errorf("%s token: %v, want 401", name, err)
		}
	}
}
