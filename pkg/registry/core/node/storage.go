package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// defaultKubeletPort is used when a Node does not report its kubelet port.
const defaultKubeletPort = 10250

// preferredAddressTypes is the order kubeadm configures
// (--kubelet-preferred-address-types) for reaching kubelets.
var preferredAddressTypes = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName}

// Storage holds Nodes and their subresources.
type Storage struct {
	Node   *REST
	Status *skiffgeneric.StatusREST
	Proxy  *ProxyREST
}

// REST is the storage of Nodes.
type REST struct {
	*genericregistry.Store
	transport http.RoundTripper
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.Redirector         = &REST{}
)

// NewStorage returns the storage of Nodes; transport dials the kubelets.
func NewStorage(optsGetter generic.RESTOptionsGetter, transport http.RoundTripper) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.Node{} },
		NewListFunc:               func() runtime.Object { return &corev1.NodeList{} },
		DefaultQualifiedResource:  corev1.Resource("nodes"),
		SingularQualifiedResource: corev1.Resource("node"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	r := &REST{Store: store, transport: transport}
	return &Storage{
		Node:   r,
		Status: skiffgeneric.NewStatusREST(store, statusStrategy),
		Proxy:  &ProxyREST{redirector: r},
	}, nil
}

// ShortNames are the short names kubectl accepts for nodes.
func (r *REST) ShortNames() []string { return []string{"no"} }

// ResourceLocation is where nodes/proxy sends a request: id is "name",
// "name:port" or "scheme:name:port". Without a port, or with the kubelet's,
// it is the kubelet (https, at the Node's preferred address and
// status.daemonEndpoints.kubeletEndpoint.Port).
func (r *REST) ResourceLocation(ctx context.Context, id string) (*url.URL, http.RoundTripper, error) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(id)
	if !ok {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", id))
	}
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	location, err := kubeletLocation(ctx, obj.(*corev1.Node), scheme, port)
	if err != nil {
		return nil, nil, err
	}
	return location, r.transport, nil
}

// kubeletLocation is the URL of node's kubelet, or of another port of the
// node when port is set and is not the kubelet's.
func kubeletLocation(ctx context.Context, node *corev1.Node, scheme, port string) (*url.URL, error) {
	host, err := preferredAddress(node)
	if err != nil {
		return nil, err
	}
	if err := isProxyableHost(ctx, host); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	kubeletPort := strconv.Itoa(defaultKubeletPort)
	if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p > 0 {
		kubeletPort = strconv.Itoa(int(p))
	}
	if port == "" || port == kubeletPort {
		return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, kubeletPort)}, nil
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}, nil
}

func preferredAddress(node *corev1.Node) (string, error) {
	for _, t := range preferredAddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("no preferred addresses found; known addresses: %v", node.Status.Addresses)
}

// isProxyableHost refuses hosts that resolve to loopback, link-local and
// other non-global addresses, so the proxy cannot reach the API server's
// own machine services, as upstream.
func isProxyableHost(ctx context.Context, host string) error {
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return fmt.Errorf("no addresses for hostname")
	}
	for _, a := range addrs {
		if !a.IP.IsGlobalUnicast() {
			return fmt.Errorf("address not allowed")
		}
	}
	return nil
}

// ProxyREST is nodes/proxy.
type ProxyREST struct {
	redirector rest.Redirector
}

var _ rest.Connecter = &ProxyREST{}

var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// New returns the proxy's options object.
func (r *ProxyREST) New() runtime.Object { return &corev1.NodeProxyOptions{} }

// Destroy does nothing: the proxy has no storage of its own.
func (r *ProxyREST) Destroy() {}

// ConnectMethods are the HTTP methods the proxy passes on.
func (r *ProxyREST) ConnectMethods() []string { return proxyMethods }

// NewConnectOptions returns the options object; the rest of the URL is its
// path.
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.NodeProxyOptions{}, true, "path"
}

// Connect returns a handler proxying to the Node.
func (r *ProxyREST) Connect(ctx context.Context, id string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	proxyOpts, ok := opts.(*corev1.NodeProxyOptions)
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
