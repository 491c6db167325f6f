package certificates

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// SignerPlugin is what the signer-checking admission plugins
// (CertificateApproval, CertificateSigning, ClusterTrustBundleAttest) have
// in common: a handler for their operations and the authorizer the
// admission initializer hands over. Each embeds it and adds Validate.
type SignerPlugin struct {
	*admission.Handler
	name  string
	authz authorizer.UnconditionalAuthorizer
}

var _ initializer.WantsUnconditionalAuthorizer = &SignerPlugin{}

// NewSignerPlugin returns the common part of the plugin name, handling ops.
func NewSignerPlugin(name string, ops ...admission.Operation) SignerPlugin {
	return SignerPlugin{Handler: admission.NewHandler(ops...), name: name}
}

// SetUnconditionalAuthorizer implements initializer.WantsUnconditionalAuthorizer.
func (p *SignerPlugin) SetUnconditionalAuthorizer(a authorizer.UnconditionalAuthorizer) { p.authz = a }

// ValidateInitialization implements admission.InitializationValidator.
func (p *SignerPlugin) ValidateInitialization() error {
	if p.authz == nil {
		return fmt.Errorf("%s requires an authorizer", p.name)
	}
	return nil
}

// Authorized reports whether u may verb for signerName.
func (p *SignerPlugin) Authorized(ctx context.Context, u user.Info, verb, signerName string) bool {
	return IsAuthorizedForSignerName(ctx, p.authz, u, verb, signerName)
}
