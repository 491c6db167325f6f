package apiserver

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apiserver/pkg/apis/apiserver"
	apiservervalidation "k8s.io/apiserver/pkg/apis/apiserver/validation"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/auth/authenticator/bootstraptoken"
	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// publicPaths are the only paths anonymous requests may reach, through the
// system:public-info-viewer role (upstream's anonymous-auth conditions).
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

// tokenSuccessCacheTTL is how long a verified token is remembered (upstream's
// --token-auth-cache default); failures are not cached.
const tokenSuccessCacheTTL = 10 * time.Second

// serviceAccountAuth is what the service-account token machinery needs at
// construction: the signer and the verification keys.
type serviceAccountAuth struct {
	generator *serviceaccount.Generator
	keys      []serviceaccount.PublicKey
	// metadata is the issuer discovery (nil when it cannot be rendered).
	metadata *serviceaccount.OpenIDMetadata
}

// applyAuthentication builds upstream's authenticator chain: front-proxy
// request headers, client certificates from the cluster CA, then bearer
// tokens (static file, legacy and bound service-account tokens, bootstrap
// tokens, OIDC), everyone authenticated joining system:authenticated, and
// anonymous only for the public paths.
func (c *Config) applyAuthentication(client kubernetes.Interface) error {
	o := c.Options.Authentication
	gc := c.Generic

	audiences := o.APIAudiences
	if len(audiences) == 0 {
		audiences = o.ServiceAccountIssuers
	}
	gc.Authentication.APIAudiences = audiences

	var requestAuthenticators []authenticator.Request

	// Front proxy (the aggregator and other proxies holding a certificate
	// from the front-proxy CA).
	frontProxyCA, err := dynamiccertificates.NewDynamicCAContentFromFile("request-header", c.tls.frontProxyCA)
	if err != nil {
		return fmt.Errorf("load front-proxy CA: %w", err)
	}
	gc.Authentication.RequestHeaderConfig = &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice{"X-Remote-User"},
		UIDHeaders:          headerrequest.StaticStringSlice{"X-Remote-Uid"},
		GroupHeaders:        headerrequest.StaticStringSlice{"X-Remote-Group"},
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Remote-Extra-"},
		CAContentProvider:   frontProxyCA,
		AllowedClientNames:  headerrequest.StaticStringSlice{"front-proxy-client"},
	}
	rh := gc.Authentication.RequestHeaderConfig
	requestAuthenticators = append(requestAuthenticators, authenticator.WrapAudienceAgnosticRequest(audiences,
		headerrequest.NewDynamicVerifyOptionsSecure(frontProxyCA.VerifyOptions, rh.AllowedClientNames, rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes)))
	if err := gc.Authentication.ApplyClientCert(frontProxyCA, gc.SecureServing); err != nil {
		return fmt.Errorf("front-proxy CA: %w", err)
	}

	clientCA, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", c.tls.caCert)
	if err != nil {
		return fmt.Errorf("load client CA: %w", err)
	}
	if err := gc.Authentication.ApplyClientCert(clientCA, gc.SecureServing); err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	requestAuthenticators = append(requestAuthenticators, x509request.NewDynamic(clientCA.VerifyOptions, x509request.CommonNameUserConversion))
	gc.AddPostStartHookOrDie("client-ca-reload", func(ctx genericapiserver.PostStartHookContext) error {
		go clientCA.Run(ctx, 1)
		go frontProxyCA.Run(ctx, 1)
		return nil
	})

	var tokenAuthenticators []authenticator.Token
	if o.TokenAuthFile != "" {
		static, err := tokenfile.NewCSV(o.TokenAuthFile)
		if err != nil {
			return fmt.Errorf("--token-auth-file: %w", err)
		}
		tokenAuthenticators = append(tokenAuthenticators, authenticator.WrapAudienceAgnosticToken(audiences, static))
	}

	sa, err := c.newServiceAccountAuth()
	if err != nil {
		return err
	}
	core := c.Informers.Core().V1()
	getter := serviceaccount.ClientGetter{
		Client:          client,
		ServiceAccounts: core.ServiceAccounts().Lister(),
		Pods:            core.Pods().Lister(),
		Secrets:         core.Secrets().Lister(),
		Nodes:           core.Nodes().Lister(),
	}
	tokenAuthenticators = append(tokenAuthenticators,
		serviceaccount.NewLegacyAuthenticator(sa.keys, audiences, getter, client.CoreV1()),
		serviceaccount.NewAuthenticator(o.ServiceAccountIssuers, sa.keys, audiences, getter),
		authenticator.WrapAudienceAgnosticToken(audiences, bootstraptoken.New(core.Secrets().Lister().Secrets("kube-system"))),
	)
	c.serviceAccounts = sa

	// OIDC after the service-account authenticators: both verify JWTs, and
	// OIDC may fetch keys on a miss.
	if o.OIDC.IssuerURL != "" {
		oidcAuth, err := c.newOIDCAuthenticator(audiences)
		if err != nil {
			return err
		}
		tokenAuthenticators = append(tokenAuthenticators, oidcAuth)
	}

	tokenAuth := tokencache.New(tokenunion.New(tokenAuthenticators...), true, tokenSuccessCacheTTL, 0)
	requestAuthenticators = append(requestAuthenticators, bearertoken.New(tokenAuth), websocket.NewProtocolAuthenticator(tokenAuth))

	var authn authenticator.Request = group.NewAuthenticatedGroupAdder(union.New(requestAuthenticators...))
	if o.AnonymousAuth {
		var conditions []apiserver.AnonymousAuthCondition
		for _, p := range publicPaths {
			conditions = append(conditions, apiserver.AnonymousAuthCondition{Path: p})
		}
		// A bad credential is an error, never anonymous.
		authn = union.NewFailOnError(authn, anonymous.NewAuthenticator(conditions))
	}
	gc.Authentication.Authenticator = authn

	bearer := &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
		Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
	}}
	gc.OpenAPIConfig.SecurityDefinitions = &spec.SecurityDefinitions{"BearerToken": bearer}
	gc.OpenAPIV3Config.SecuritySchemes = spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
		Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
	}}}
	return nil
}

// newServiceAccountAuth loads the signing key and the verification keys.
func (c *Config) newServiceAccountAuth() (*serviceAccountAuth, error) {
	o := c.Options.Authentication
	signingKey, err := serviceaccount.LoadSigningKey(c.Options.ServiceAccountSigningKeyPath())
	if err != nil {
		return nil, err
	}
	generator, err := serviceaccount.NewGenerator(o.ServiceAccountIssuers[0], signingKey)
	if err != nil {
		return nil, err
	}
	signingPublic, err := serviceaccount.NewPublicKey(signingKey)
	if err != nil {
		return nil, err
	}
	keys := []serviceaccount.PublicKey{signingPublic}
	extra, err := serviceaccount.LoadPublicKeys(o.ServiceAccountKeyFiles...)
	if err != nil {
		return nil, err
	}
	keys = append(keys, extra...)
	sa := &serviceAccountAuth{generator: generator, keys: keys}
	sa.metadata, err = serviceaccount.NewOpenIDMetadata(o.ServiceAccountIssuers[0], o.ServiceAccountJWKSURI, c.Generic.ExternalAddress, keys)
	if err != nil {
		// As upstream: the server runs without the discovery endpoints.
		fmt.Fprintf(os.Stderr, "skiff: service account issuer discovery disabled: %v\n", err)
		sa.metadata = nil
	}
	return sa, nil
}

// newOIDCAuthenticator turns the --oidc-* flags into a JWT authenticator
// of the apiserver library, as upstream does.
func (c *Config) newOIDCAuthenticator(audiences authenticator.Audiences) (authenticator.Token, error) {
	o := c.Options.Authentication.OIDC
	prefix := o.UsernamePrefix
	switch {
	case prefix == "-":
		prefix = ""
	case prefix == "" && o.UsernameClaim != "email":
		// Upstream's legacy default: other claims are prefixed by the issuer.
		prefix = o.IssuerURL + "#"
	}
	jwt := apiserver.JWTAuthenticator{
		Issuer: apiserver.Issuer{URL: o.IssuerURL, Audiences: []string{o.ClientID}},
		ClaimMappings: apiserver.ClaimMappings{
			Username: apiserver.PrefixedClaimOrExpression{Claim: o.UsernameClaim, Prefix: ptr.To(prefix)},
		},
	}
	if o.GroupsClaim != "" {
		jwt.ClaimMappings.Groups = apiserver.PrefixedClaimOrExpression{Claim: o.GroupsClaim, Prefix: ptr.To(o.GroupsPrefix)}
	}
	for claim, value := range o.RequiredClaims {
		jwt.ClaimValidationRules = append(jwt.ClaimValidationRules, apiserver.ClaimValidationRule{Claim: claim, RequiredValue: value})
	}
	var ca oidc.CAContentProvider
	if o.CAFile != "" {
		data, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-ca-file: %w", err)
		}
		jwt.Issuer.CertificateAuthority = string(data)
		if ca, err = dynamiccertificates.NewStaticCAContent("oidc-authenticator", data); err != nil {
			return nil, fmt.Errorf("--oidc-ca-file: %w", err)
		}
	}
	cfg := &apiserver.AuthenticationConfiguration{JWT: []apiserver.JWTAuthenticator{jwt}}
	if errs := apiservervalidation.ValidateAuthenticationConfiguration(nil, cfg, c.Options.Authentication.ServiceAccountIssuers); len(errs) > 0 {
		return nil, fmt.Errorf("--oidc-* flags: %w", errs.ToAggregate())
	}
	// The authenticator lives as long as the process.
	auth, err := oidc.New(context.Background(), oidc.Options{
		JWTAuthenticator:     jwt,
		CAContentProvider:    ca,
		SupportedSigningAlgs: o.SigningAlgs,
		DisallowedIssuers:    c.Options.Authentication.ServiceAccountIssuers,
	})
	if err != nil {
		return nil, fmt.Errorf("OIDC authenticator: %w", err)
	}
	return authenticator.WrapAudienceAgnosticToken(audiences, auth), nil
}

// serviceAccountTokenConfig is how the serviceaccounts/token subresource
// issues tokens.
func (c *Config) serviceAccountTokenConfig() *generic.ServiceAccountTokenConfig {
	if c.serviceAccounts == nil {
		return nil
	}
	return &generic.ServiceAccountTokenConfig{
		Generator:        c.serviceAccounts.generator,
		MaxExpiration:    c.Options.Authentication.ServiceAccountMaxTokenExpiration,
		ExtendExpiration: c.Options.Authentication.ServiceAccountExtendTokenExpiration,
	}
}
