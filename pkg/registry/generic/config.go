package generic

import (
	"net"
	"net/http"
	"time"

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
