package serviceaccount

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"

	restful "github.com/emicklei/go-restful/v3"
	jose "gopkg.in/go-jose/go-jose.v2"
	"k8s.io/klog/v2"
)

const (
	// OpenIDConfigPath serves the issuer's discovery document.
	OpenIDConfigPath = "/.well-known/openid-configuration"
	// JWKSPath serves the issuer's verification keys.
	JWKSPath = "/openid/v1/jwks"
	// discoveryMaxAge is how long clients may cache both documents.
	discoveryMaxAge = 3600
)

// OpenIDMetadata is the pre-rendered service-account issuer discovery:
// what conformance's ServiceAccountIssuerDiscovery test and external
// verifiers (cloud IAM federation) fetch.
type OpenIDMetadata struct {
	config, keyset []byte
}

// NewOpenIDMetadata renders the discovery documents of issuer. jwksURI
// defaults to https://<externalAddress>/openid/v1/jwks.
func NewOpenIDMetadata(issuer, jwksURI, externalAddress string, keys []PublicKey) (*OpenIDMetadata, error) {
	iss, err := url.Parse(issuer)
	switch {
	case err != nil:
		return nil, err
	case iss.Scheme != "https":
		return nil, fmt.Errorf("issuer URL must use https scheme, got: %s", issuer)
	case iss.RawQuery != "":
		return nil, fmt.Errorf("issuer URL may not include a query, got: %s", issuer)
	case iss.Fragment != "":
		return nil, fmt.Errorf("issuer URL may not include a fragment, got: %s", issuer)
	}
	if jwksURI == "" {
		if externalAddress == "" {
			return nil, fmt.Errorf("either the JWKS URI or the external address must be set")
		}
		jwksURI = (&url.URL{Scheme: "https", Host: externalAddress, Path: JWKSPath}).String()
	} else if u, err := url.Parse(jwksURI); err != nil {
		return nil, err
	} else if u.Scheme != "https" {
		return nil, fmt.Errorf("jwksURI requires https scheme, parsed as: %v", u)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no keys provided for validating keyset")
	}
	set := jose.JSONWebKeySet{}
	algs := map[string]bool{}
	for i, k := range keys {
		alg, err := algorithm(k.Key)
		if err != nil {
			return nil, fmt.Errorf("key #%d: %w", i, err)
		}
		jwk := jose.JSONWebKey{Algorithm: string(alg), Key: k.Key, KeyID: k.KeyID, Use: "sig"}
		if !jwk.IsPublic() || !jwk.Valid() {
			return nil, fmt.Errorf("key #%d is not a valid public key", i)
		}
		set.Keys = append(set.Keys, jwk)
		algs[string(alg)] = true
	}
	signingAlgs := make([]string, 0, len(algs))
	for a := range algs {
		signingAlgs = append(signingAlgs, a)
	}
	sort.Strings(signingAlgs)
	config, err := json.Marshal(struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		ResponseTypes []string `json:"response_types_supported"`
		SubjectTypes  []string `json:"subject_types_supported"`
		SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
	}{issuer, jwksURI, []string{"id_token"}, []string{"public"}, signingAlgs})
	if err != nil {
		return nil, fmt.Errorf("encode issuer discovery document: %w", err)
	}
	keyset, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode issuer keys: %w", err)
	}
	return &OpenIDMetadata{config: config, keyset: keyset}, nil
}

// Install serves both documents on the API server's container (so they go
// through authentication and authorization like any non-resource path).
func (m *OpenIDMetadata) Install(c *restful.Container) {
	config := new(restful.WebService).Produces(restful.MIME_JSON)
	config.Path(OpenIDConfigPath).Route(config.GET("").
		To(m.serve(m.config, restful.MIME_JSON)).
		Doc("get service account issuer OpenID configuration, also known as the 'OIDC discovery doc'").
		Operation("getServiceAccountIssuerOpenIDConfiguration").
		Returns(http.StatusOK, "OK", ""))
	c.Add(config)
	jwks := new(restful.WebService).Produces("application/jwk-set+json")
	jwks.Path(JWKSPath).Route(jwks.GET("").
		To(m.serve(m.keyset, "application/jwk-set+json")).
		Doc("get service account issuer OpenID JSON Web Key Set (contains public token verification keys)").
		Operation("getServiceAccountIssuerOpenIDKeyset").
		Returns(http.StatusOK, "OK", ""))
	c.Add(jwks)
}

func (m *OpenIDMetadata) serve(body []byte, contentType string) restful.RouteFunction {
	return func(_ *restful.Request, resp *restful.Response) {
		resp.Header().Set("Content-Type", contentType)
		resp.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", discoveryMaxAge))
		if _, err := resp.Write(body); err != nil {
			klog.ErrorS(err, "Cannot write service account issuer discovery")
		}
	}
}
