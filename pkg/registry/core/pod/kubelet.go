package pod

import (
	"context"
	cryptotls "crypto/tls"
	"fmt"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// defaultKubeletPort is upstream's --kubelet-port default.
const defaultKubeletPort = 10250

// kubeletAddressTypes is the order in which a node's addresses are tried to
// reach its kubelet. Unlike upstream's default (Hostname first), skiff
// prefers IPs: node hostnames are not resolvable from every machine.
var kubeletAddressTypes = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName}

// nodeGetter reads nodes.
type nodeGetter interface {
	Get(ctx context.Context, name string, options metav1.GetOptions) (*corev1.Node, error)
}

// kubeletConnection is how to reach one node's kubelet.
type kubeletConnection struct {
	node      string
	scheme    string
	host      string
	port      string
	transport http.RoundTripper
	// features are the node's declared features (status.declaredFeatures).
	features []string
}

// kubeletLocator finds a node's kubelet from the Node object.
type kubeletLocator struct {
	nodes     nodeGetter
	port      int
	transport http.RoundTripper
}

func newKubeletLocator(client kubernetes.Interface, c generic.KubeletClientConfig) *kubeletLocator {
	l := &kubeletLocator{port: c.Port, transport: c.Transport}
	if client != nil {
		l.nodes = client.CoreV1().Nodes()
	}
	if l.port <= 0 {
		l.port = defaultKubeletPort
	}
	if l.transport == nil {
		// Kubelets serve self-signed certificates unless a CA is configured.
		l.transport = utilnet.SetTransportDefaults(&http.Transport{TLSClientConfig: &cryptotls.Config{InsecureSkipVerify: true}})
	}
	return l
}

// connection returns how to reach the kubelet of node. A missing node is
// upstream's 404; a node without a usable address is a 503 (upstream
// answers 500).
func (l *kubeletLocator) connection(ctx context.Context, nodeName string) (*kubeletConnection, error) {
	if l.nodes == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cannot look up node %q: the API server has no loopback client", nodeName))
	}
	node, err := l.nodes.Get(ctx, nodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, apierrors.NewNotFound(corev1.Resource("nodes"), nodeName)
	case err != nil:
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cannot look up node %q: %v", nodeName, err))
	}
	host, ok := preferredNodeAddress(node)
	if !ok {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q has no address to reach its kubelet: no preferred addresses found; known addresses: %v", nodeName, node.Status.Addresses))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = l.port
	}
	return &kubeletConnection{
		node:      nodeName,
		scheme:    "https",
		host:      host,
		port:      strconv.Itoa(port),
		transport: l.transport,
		features:  node.Status.DeclaredFeatures,
	}, nil
}

func preferredNodeAddress(node *corev1.Node) (string, bool) {
	for _, t := range kubeletAddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address, true
			}
		}
	}
	return "", false
}
