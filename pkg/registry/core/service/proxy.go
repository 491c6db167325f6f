package service

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/registry/rest"
)

// ProxyREST is services/proxy: requests to
// /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path} go
// to a ready endpoint of the Service.
type ProxyREST struct {
	redirector rest.Redirector
	transport  http.RoundTripper
}

var _ rest.Connecter = &ProxyREST{}

var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// New returns the proxy's options object.
func (r *ProxyREST) New() runtime.Object { return &corev1.ServiceProxyOptions{} }

// Destroy does nothing: the proxy has no storage.
func (r *ProxyREST) Destroy() {}

// ConnectMethods are the HTTP methods the proxy passes on.
func (r *ProxyREST) ConnectMethods() []string { return proxyMethods }

// NewConnectOptions returns the options object; the rest of the URL is its
// path.
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.ServiceProxyOptions{}, true, "path"
}

// Connect returns a handler proxying to an endpoint of the Service.
func (r *ProxyREST) Connect(ctx context.Context, id string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	proxyOpts, ok := opts.(*corev1.ServiceProxyOptions)
	if !ok {
		return nil, fmt.Errorf("invalid options object: %#v", opts)
	}
	location, transport, err := r.redirector.ResourceLocation(ctx, id)
	if err != nil {
		return nil, err
	}
	location.Path = utilnet.JoinPreservingTrailingSlash(location.Path, proxyOpts.Path)
	return proxy.NewUpgradeAwareHandler(location, transport, true, false, proxy.NewErrorResponder(responder)), nil
}
