// Package bootstraptoken authenticates bootstrap tokens ("<id>.<secret>",
// used by nodes joining a cluster) against Secrets of type
// bootstrap.kubernetes.io/token named bootstrap-token-<id> in kube-system,
// with upstream's rules: the token must match, not be expired or deleted,
// and be marked usage-bootstrap-authentication=true.
package bootstraptoken

import (
	"context"
	"crypto/subtle"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	corev1listers "k8s.io/client-go/listers/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstrapsecretutil "k8s.io/cluster-bootstrap/util/secrets"
	bootstraptokenutil "k8s.io/cluster-bootstrap/util/tokens"
	"k8s.io/klog/v2"
)

// Authenticator is the bootstrap token authenticator.
type Authenticator struct {
	secrets corev1listers.SecretNamespaceLister
	now     func() time.Time
}

// New reads bootstrap token Secrets from secrets (kube-system's).
func New(secrets corev1listers.SecretNamespaceLister) *Authenticator {
	return &Authenticator{secrets: secrets, now: time.Now}
}

// AuthenticateToken implements authenticator.Token. A token that is not a
// valid bootstrap token is not an error: other authenticators may know it.
func (a *Authenticator) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	id, secretPart, err := bootstraptokenutil.ParseToken(token)
	if err != nil {
		return nil, false, nil
	}
	name := bootstrapapi.BootstrapTokenSecretPrefix + id
	secret, err := a.secrets.Get(name)
	if apierrors.IsNotFound(err) {
		klog.V(3).InfoS("No secret to match bootstrap bearer token", "secret", name)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	reject := func(why string) (*authenticator.Response, bool, error) {
		klog.V(3).InfoS("Bootstrap secret matching bearer token rejected", "secret", klog.KObj(secret), "reason", why)
		return nil, false, nil
	}
	switch {
	case secret.DeletionTimestamp != nil:
		return reject("is deleted and awaiting removal")
	case secret.Type != bootstrapapi.SecretTypeBootstrapToken || secret.Data == nil:
		return reject("has invalid type, expected " + string(bootstrapapi.SecretTypeBootstrapToken))
	case subtle.ConstantTimeCompare([]byte(bootstrapsecretutil.GetData(secret, bootstrapapi.BootstrapTokenSecretKey)), []byte(secretPart)) != 1:
		return reject("has invalid value for key " + bootstrapapi.BootstrapTokenSecretKey)
	case bootstrapsecretutil.GetData(secret, bootstrapapi.BootstrapTokenIDKey) != id:
		return reject("has invalid value for key " + bootstrapapi.BootstrapTokenIDKey)
	case bootstrapsecretutil.HasExpired(secret, a.now()):
		return reject("has expired")
	case bootstrapsecretutil.GetData(secret, bootstrapapi.BootstrapTokenUsageAuthentication) != "true":
		return reject("not marked " + bootstrapapi.BootstrapTokenUsageAuthentication + "=true")
	}
	groups, err := bootstrapsecretutil.GetGroups(secret)
	if err != nil {
		return reject("has invalid value for key " + bootstrapapi.BootstrapTokenExtraGroupsKey + ": " + err.Error())
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: bootstrapapi.BootstrapUserPrefix + id, Groups: groups}}, true, nil
}
