package apiserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/skiff-project/skiff/pkg/pki"
)

// Identity is a skiff component's user in the cluster: its client
// certificate carries upstream's user name and groups, and RBAC's bootstrap
// bindings give it upstream's role.
type Identity struct {
	// File is the kubeconfig's name in the data dir; Cert the certificate's
	// base name in the tls dir.
	File, Cert string
	User       string
	Groups     []string
}

// ComponentIdentities are the identities `skiff server` writes kubeconfigs
// for: the controller-manager, scheduler, kube-proxy and this machine's
// kubelet (system:node:<node name>).
func ComponentIdentities(nodeName string) []Identity {
	return []Identity{
		{File: "controller-manager.kubeconfig", Cert: "controller-manager", User: user.KubeControllerManager},
		{File: "scheduler.kubeconfig", Cert: "scheduler", User: user.KubeScheduler},
		{File: "kube-proxy.kubeconfig", Cert: "kube-proxy", User: user.KubeProxy},
		{File: "kubelet.kubeconfig", Cert: "kubelet", User: "system:node:" + nodeName, Groups: []string{user.NodesGroup}},
	}
}

// NodeName is this machine's node name: its hostname, lower-cased, as the
// kubelet registers it.
func NodeName() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("node name: %w", err)
	}
	return strings.ToLower(h), nil
}

// ControllerManagerKubeconfigPath is the controller-manager's kubeconfig.
func (o *Options) ControllerManagerKubeconfigPath() string {
	return filepath.Join(o.DataDir, "controller-manager.kubeconfig")
}

// SchedulerKubeconfigPath is the scheduler's kubeconfig.
func (o *Options) SchedulerKubeconfigPath() string {
	return filepath.Join(o.DataDir, "scheduler.kubeconfig")
}

// KubeProxyKubeconfigPath is kube-proxy's kubeconfig.
func (o *Options) KubeProxyKubeconfigPath() string {
	return filepath.Join(o.DataDir, "kube-proxy.kubeconfig")
}

// KubeletKubeconfigPath is this machine's kubelet's kubeconfig.
func (o *Options) KubeletKubeconfigPath() string {
	return filepath.Join(o.DataDir, "kubelet.kubeconfig")
}

// ensureComponentKubeconfigs issues (or reuses) each component's client
// certificate and writes its kubeconfig, so that no component needs the
// admin certificate.
func ensureComponentKubeconfigs(o *Options, ca *pki.CA) error {
	node, err := NodeName()
	if err != nil {
		return err
	}
	for _, id := range ComponentIdentities(node) {
		cert, key, err := ca.EnsureCert(o.tlsDir(), id.Cert, pki.CertSpec{CommonName: id.User, Organization: id.Groups})
		if err != nil {
			return fmt.Errorf("client certificate of %s: %w", id.User, err)
		}
		if err := pki.WriteKubeconfig(filepath.Join(o.DataDir, id.File), o.localURL(), ca.CertPath, cert, key, id.User); err != nil {
			return fmt.Errorf("write %s: %w", id.File, err)
		}
	}
	return nil
}
