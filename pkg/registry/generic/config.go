package generic

import (
	"context"
	"net"
	"net/http"
	"time"

	"gopkg.in/go-jose/go-jose.v2/jwt"
	rbacv1 "k8s.io/api/rbac/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	restclient "k8s.io/client-go/rest"
)

// StorageConfig is what the API groups' storage is built from. Each group
// uses the fields it needs.
type StorageConfig struct {
	// RESTOptionsGetter gives each resource its etcd storage.
	RESTOptionsGetter apigeneric.RESTOptionsGetter

	// EventTTL is how long core and events.k8s.io events live.
	EventTTL time.Duration

	// ServiceIPRange is the primary Service ClusterIP range
	// (--service-cluster-ip-range); NodePortRange the NodePort range.
	ServiceIPRange *net.IPNet
	NodePortRange  utilnet.PortRange

	// LoopbackClientConfig reaches this API server itself, as system:masters.
	LoopbackClientConfig *restclient.Config

	// Authenticator and Authorizer answer TokenReview and the access reviews.
	Authenticator authenticator.Request
	Authorizer    authorizer.Authorizer
	// APIAudiences are the audiences a TokenReview checks when it names none.
	APIAudiences authenticator.Audiences
	// RuleResolver lists a user's rules for SelfSubjectRulesReview. Without
	// one the review answers incomplete, as upstream does for authorizers
	// that cannot list rules.
	RuleResolver authorizer.RuleResolver

	// ProxyTransport dials nodes, pods and services for the proxy, log,
	// exec, attach and portforward subresources.
	ProxyTransport http.RoundTripper

	// KubeletClientConfig is how pods' log, exec, attach and portforward
	// subresources reach the kubelet of the pod's node.
	KubeletClientConfig KubeletClientConfig

	// ServiceAccountTokens issues the tokens of the serviceaccounts/token
	// subresource (TokenRequest); without it the subresource is not served.
	ServiceAccountTokens *ServiceAccountTokenConfig
	// RBACRoleResolver checks RBAC writes for privilege escalation (with
	// Authorizer for the "escalate" and "bind" verbs); without it writes
	// are not checked.
	RBACRoleResolver RBACRoleResolver
}

// ServiceAccountTokenConfig is how TokenRequests are answered.
type ServiceAccountTokenConfig struct {
	// Generator signs tokens as the service-account issuer.
	Generator TokenGenerator
	// MaxExpiration caps requested lifetimes (0: no cap).
	MaxExpiration time.Duration
	// ExtendExpiration lets pod-bound tokens requested for the kubelet's
	// default (1h7s) live a year, flagged stale after the hour, as
	// upstream's --service-account-extend-token-expiration.
	ExtendExpiration bool
}

// TokenGenerator signs JWT claims (public claims win over private ones).
type TokenGenerator interface {
	GenerateToken(claims *jwt.Claims, private any) (string, error)
}

// RBACRoleResolver is what the escalation check needs from RBAC.
type RBACRoleResolver interface {
	// ConfirmNoEscalation fails unless the requesting user's rules in the
	// request's namespace cover rules.
	ConfirmNoEscalation(ctx context.Context, rules []rbacv1.PolicyRule) error
	// GetRoleReferenceRules returns the rules of the role a binding in
	// namespace ("" for cluster bindings) refers to.
	GetRoleReferenceRules(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error)
}

// KubeletClientConfig is how the API server connects to kubelets.
type KubeletClientConfig struct {
	// Port is the kubelet port used when a node does not report
	// status.daemonEndpoints.kubeletEndpoint.port (upstream's default is
	// 10250).
	Port int
	// Transport dials kubelets over HTTPS.
	Transport http.RoundTripper
}

// GroupStorage is the storage of one API group: version -> resource path
// ("deployments", "deployments/status") -> storage.
type GroupStorage map[string]map[string]rest.Storage

// VersionStorage is the storage of one group version by resource path.
type VersionStorage = map[string]rest.Storage
