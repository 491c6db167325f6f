package serviceaccount

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/go-jose/go-jose.v2/jwt"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// validator checks a verified token's claims and says whom it identifies.
type validator[P any] interface {
	validate(ctx context.Context, token string, public *jwt.Claims, private *P) (*apiserverserviceaccount.ServiceAccountInfo, error)
}

// jwtAuthenticator verifies JWTs from its issuers, signed by one of keys,
// whose audiences meet the request's, and hands them to a validator.
type jwtAuthenticator[P any] struct {
	issuers      map[string]bool
	keys         []PublicKey
	implicitAuds authenticator.Audiences
	validator    validator[P]
}

// NewAuthenticator authenticates bound tokens from issuers (the first is
// this server's), checking their pod, secret or node binding with getter.
// implicitAuds are the API server's audiences.
func NewAuthenticator(issuers []string, keys []PublicKey, implicitAuds authenticator.Audiences, getter Getter) authenticator.Token {
	return newJWTAuthenticator[privateClaims](issuers, keys, implicitAuds, &boundValidator{getter: getter})
}

// NewLegacyAuthenticator authenticates tokens kept in Secrets: valid while
// the Secret holds the same token and the service account still exists.
func NewLegacyAuthenticator(keys []PublicKey, implicitAuds authenticator.Audiences, getter Getter, secrets SecretLabeler) authenticator.Token {
	return newJWTAuthenticator[legacyClaims]([]string{LegacyIssuer}, keys, implicitAuds, &legacyValidator{getter: getter, secrets: secrets})
}

func newJWTAuthenticator[P any](issuers []string, keys []PublicKey, implicitAuds authenticator.Audiences, v validator[P]) *jwtAuthenticator[P] {
	m := map[string]bool{}
	for _, iss := range issuers {
		m[iss] = true
	}
	return &jwtAuthenticator[P]{issuers: m, keys: keys, implicitAuds: implicitAuds, validator: v}
}

// AuthenticateToken implements authenticator.Token. Tokens from other
// issuers are not its business (false, nil), so that OIDC and other
// authenticators can try them.
func (a *jwtAuthenticator[P]) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if !a.issuers[unverifiedIssuer(token)] {
		return nil, false, nil
	}
	tok, err := jwt.ParseSigned(token)
	if err != nil {
		return nil, false, nil
	}
	var kid string
	for _, h := range tok.Headers {
		if h.KeyID != "" {
			kid = h.KeyID
			break
		}
	}
	public := &jwt.Claims{}
	private := new(P)
	var errs []error
	verified, tried := false, false
	for _, k := range a.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		tried = true
		if err := tok.Claims(k.Key, public, private); err != nil {
			errs = append(errs, err)
			continue
		}
		verified = true
		break
	}
	if !tried {
		return nil, false, errors.New("invalid signature, no keys found")
	}
	if !verified {
		return nil, false, utilerrors.NewAggregate(errs)
	}
	if !a.issuers[public.Issuer] {
		return nil, false, fmt.Errorf("token issuer %q is invalid", public.Issuer)
	}

	tokenAuds := authenticator.Audiences(public.Audience)
	if len(tokenAuds) == 0 {
		// Legacy tokens carry no audience: they are for this server only.
		audit.AddAuditAnnotation(ctx, "authentication.k8s.io/legacy-token", public.Subject)
		tokenAuds = a.implicitAuds
	}
	requested, ok := authenticator.AudiencesFrom(ctx)
	if !ok {
		requested = a.implicitAuds
	}
	auds := tokenAuds.Intersect(requested)
	if len(auds) == 0 && len(a.implicitAuds) != 0 {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", tokenAuds, requested)
	}
	sa, err := a.validator.validate(ctx, token, public, private)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: sa.UserInfo(), Audiences: auds}, true, nil
}

// unverifiedIssuer reads the "iss" claim of a compact JWT without checking
// its signature, to pick the authenticator; "" when it is not a JWT.
func unverifiedIssuer(token string) string {
	if strings.HasPrefix(strings.TrimSpace(token), "{") {
		return ""
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Issuer
}
