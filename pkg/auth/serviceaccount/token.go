package serviceaccount

import (
	"crypto"
	"fmt"
	"time"

	"github.com/google/uuid"
	jose "gopkg.in/go-jose/go-jose.v2"
	"gopkg.in/go-jose/go-jose.v2/jwt"
	corev1 "k8s.io/api/core/v1"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// LegacyIssuer is the issuer of secret-based tokens.
const LegacyIssuer = "kubernetes/serviceaccount"

// Generator signs tokens for one issuer.
type Generator struct {
	issuer string
	signer jose.Signer
}

// NewGenerator signs with key (RSA or ECDSA) as issuer.
func NewGenerator(issuer string, key crypto.Signer) (*Generator, error) {
	alg, err := algorithm(key.Public())
	if err != nil {
		return nil, err
	}
	id, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: alg,
		Key:       &jose.JSONWebKey{Algorithm: string(alg), Key: key, KeyID: id, Use: "sig"},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("create token signer: %w", err)
	}
	return &Generator{issuer: issuer, signer: signer}, nil
}

// GenerateToken signs claims and private claims; public claims win over
// private ones of the same name, and the issuer is always the generator's.
func (g *Generator) GenerateToken(claims *jwt.Claims, private any) (string, error) {
	return jwt.Signed(g.signer).Claims(private).Claims(claims).Claims(&jwt.Claims{Issuer: g.issuer}).CompactSerialize()
}

// privateClaims are the "kubernetes.io" claims of a bound token.
type privateClaims struct {
	Kubernetes kubernetesClaims `json:"kubernetes.io,omitempty"`
}

type kubernetesClaims struct {
	Namespace string           `json:"namespace,omitempty"`
	Svcacct   objectRef        `json:"serviceaccount,omitempty"`
	Pod       *objectRef       `json:"pod,omitempty"`
	Secret    *objectRef       `json:"secret,omitempty"`
	Node      *objectRef       `json:"node,omitempty"`
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

type objectRef struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Binding is what a bound token is tied to: at most one of Pod (with its
// Node, when scheduled), Secret or Node.
type Binding struct {
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
}

// BoundClaims builds the claims of a bound token for sa: valid from now
// for expiration (or, with warnAfter > 0, valid for expiration but flagged
// stale after warnAfter), for audiences.
func BoundClaims(sa *corev1.ServiceAccount, b Binding, now time.Time, expiration, warnAfter time.Duration, audiences []string) (*jwt.Claims, any, error) {
	if b.Secret != nil && (b.Pod != nil || b.Node != nil) {
		return nil, nil, fmt.Errorf("internal error, token can only be bound to one object type")
	}
	claims := &jwt.Claims{
		Subject:   apiserverserviceaccount.MakeUsername(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(audiences),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(expiration)),
		ID:        uuid.NewString(),
	}
	private := &privateClaims{Kubernetes: kubernetesClaims{
		Namespace: sa.Namespace,
		Svcacct:   objectRef{Name: sa.Name, UID: string(sa.UID)},
	}}
	switch {
	case b.Pod != nil:
		private.Kubernetes.Pod = &objectRef{Name: b.Pod.Name, UID: string(b.Pod.UID)}
		if b.Node != nil {
			private.Kubernetes.Node = &objectRef{Name: b.Node.Name, UID: string(b.Node.UID)}
		}
	case b.Secret != nil:
		private.Kubernetes.Secret = &objectRef{Name: b.Secret.Name, UID: string(b.Secret.UID)}
	case b.Node != nil:
		private.Kubernetes.Node = &objectRef{Name: b.Node.Name, UID: string(b.Node.UID)}
	}
	if warnAfter > 0 {
		private.Kubernetes.WarnAfter = jwt.NewNumericDate(now.Add(warnAfter))
	}
	return claims, private, nil
}

// legacyClaims are the claims of a secret-based token.
type legacyClaims struct {
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
}

// LegacyClaims builds the claims of the token kept in a
// kubernetes.io/service-account-token Secret: no audience, no expiry.
func LegacyClaims(sa *corev1.ServiceAccount, secret *corev1.Secret) (*jwt.Claims, any) {
	return &jwt.Claims{Subject: apiserverserviceaccount.MakeUsername(sa.Namespace, sa.Name)},
		&legacyClaims{Namespace: sa.Namespace, ServiceAccountName: sa.Name, ServiceAccountUID: string(sa.UID), SecretName: secret.Name}
}
