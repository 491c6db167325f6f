// Package serviceaccount issues and verifies service-account tokens:
// bound tokens (TokenRequest, with audiences, expiry and a pod, secret or
// node binding) and legacy tokens kept in Secrets, both JWTs signed with
// the cluster's service-account key, with upstream's claims and checks. It
// also renders the OpenID discovery documents that let others verify them.
package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	jose "gopkg.in/go-jose/go-jose.v2"
	"k8s.io/client-go/util/keyutil"
)

// PublicKey is a verification key and its key ID.
type PublicKey struct {
	KeyID string
	Key   crypto.PublicKey
}

// keyID derives the "kid" of a key as upstream does (base64url of the
// SHA-256 of its DER form), so IDs agree across implementations.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("serialize public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// algorithm is the JWS algorithm a key signs with.
func algorithm(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("unknown ECDSA curve %s: must be P-256, P-384 or P-521", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("unsupported public key type %T: must be RSA or ECDSA", pub)
}

// LoadPublicKeys reads the verification keys in files (PEM public or
// private keys; each file may hold several).
func LoadPublicKeys(files ...string) ([]PublicKey, error) {
	var keys []PublicKey
	for _, f := range files {
		parsed, err := keyutil.PublicKeysFromFile(f)
		if err != nil {
			return nil, fmt.Errorf("read service-account keys from %s: %w", f, err)
		}
		for _, k := range parsed {
			pk, err := NewPublicKey(k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			keys = append(keys, pk)
		}
	}
	return keys, nil
}

// NewPublicKey wraps a public (or private) key with its key ID.
func NewPublicKey(k any) (PublicKey, error) {
	if priv, ok := k.(interface{ Public() crypto.PublicKey }); ok {
		k = priv.Public()
	}
	id, err := keyID(k)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{KeyID: id, Key: k}, nil
}

// LoadSigningKey reads the private key tokens are signed with.
func LoadSigningKey(file string) (crypto.Signer, error) {
	k, err := keyutil.PrivateKeyFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("read service-account signing key %s: %w", file, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("service-account key %s (%T) cannot sign", file, k)
	}
	return s, nil
}
