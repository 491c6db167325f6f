// Package certificates holds what the certificate admission plugins share:
// whether a user may "approve" or "sign" for a signer, checked on the
// certificates.k8s.io "signers" resource by name or by domain wildcard
// ("example.com/*"), as upstream's certauthorization.
package certificates

import (
	"context"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"
)

// IsAuthorizedForSignerName reports whether u may verb (approve, sign) for
// signerName.
func IsAuthorizedForSignerName(ctx context.Context, authz authorizer.UnconditionalAuthorizer, u user.Info, verb, signerName string) bool {
	domain, _, _ := strings.Cut(signerName, "/")
	for _, name := range []string{signerName, domain + "/*"} {
		attrs := authorizer.AttributesRecord{
			User:            u,
			Verb:            verb,
			Name:            name,
			APIGroup:        "certificates.k8s.io",
			APIVersion:      "*",
			Resource:        "signers",
			ResourceRequest: true,
		}
		decision, reason, err := authz.Authorize(ctx, attrs)
		switch {
		case err != nil:
			klog.V(3).InfoS("Cannot authorize for a signer", "verb", verb, "name", name, "reason", reason, "err", err)
		case decision == authorizer.DecisionAllow:
			return true
		}
	}
	return false
}
