package podcertificaterequest

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// signerAuthorizer allows "sign" on the listed signers names only.
type signerAuthorizer map[string]bool

func (s signerAuthorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetVerb() == "sign" && a.GetAPIGroup() == "certificates.k8s.io" && a.GetResource() == "signers" && s[a.GetName()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func TestAuthorizedForSigner(t *testing.T) {
	u := &user.DefaultInfo{Name: "signer-controller"}
	tests := []struct {
		name    string
		allowed signerAuthorizer
		signer  string
		want    bool
	}{
		{"exact signer", signerAuthorizer{"example.com/foo": true}, "example.com/foo", true},
		{"domain wildcard", signerAuthorizer{"example.com/*": true}, "example.com/foo", true},
		{"other signer", signerAuthorizer{"example.com/bar": true}, "example.com/foo", false},
		{"other domain wildcard", signerAuthorizer{"example.org/*": true}, "example.com/foo", false},
	}
	for _, tc := range tests {
		if got := authorizedForSigner(context.Background(), tc.allowed, u, "sign", tc.signer); got != tc.want {
			t.Errorf("%s: authorized = %v, want %v", tc.name, got, tc.want)
		}
	}
}
