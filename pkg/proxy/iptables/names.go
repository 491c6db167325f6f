package iptables

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Chains with fixed names. They are upstream kube-proxy's, so tools and
// people that know a kube-proxy node find the same things here.
const (
	kubeServicesChain         = "KUBE-SERVICES"
	kubeExternalServicesChain = "KUBE-EXTERNAL-SERVICES"
	kubeNodePortsChain        = "KUBE-NODEPORTS"
	kubePostroutingChain      = "KUBE-POSTROUTING"
	kubeMarkMasqChain         = "KUBE-MARK-MASQ"
	kubeForwardChain          = "KUBE-FORWARD"
	kubeProxyFirewallChain    = "KUBE-PROXY-FIREWALL"
	kubeProxyCanaryChain      = "KUBE-PROXY-CANARY"
	// kubeletFirewallChain holds only the rule that blocks martian packets
	// to 127.0.0.0/8 once route_localnet is on; the kubelet makes the same
	// chain, so it is created but never deleted by the proxy.
	kubeletFirewallChain = "KUBE-FIREWALL"
)

const (
	tableFilter = "filter"
	tableNAT    = "nat"
)

// Prefixes of the per-service and per-endpoint chains.
const (
	serviceClusterChainPrefix  = "KUBE-SVC-"
	serviceLocalChainPrefix    = "KUBE-SVL-"
	serviceFirewallChainPrefix = "KUBE-FW-"
	serviceExternalChainPrefix = "KUBE-EXT-"
	endpointChainPrefix        = "KUBE-SEP-"
)

// chainHash is upstream's naming hash: sha256 of the text, base32, first 16
// characters, so a chain name stays within iptables' 28 characters and a
// given service port gets the same chain names as under kube-proxy.
func chainHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// servicePortChains are the names of one service port's chains; protocol is
// lower case ("tcp").
type servicePortChains struct {
	cluster, local, firewall, external string
}

func chainsFor(servicePortName, protocol string) servicePortChains {
	h := chainHash(servicePortName + protocol)
	return servicePortChains{
		cluster:  serviceClusterChainPrefix + h,
		local:    serviceLocalChainPrefix + h,
		firewall: serviceFirewallChainPrefix + h,
		external: serviceExternalChainPrefix + h,
	}
}

// endpointChainName names the KUBE-SEP chain of one endpoint ("ip:port") of
// a service port.
func endpointChainName(servicePortName, protocol, endpoint string) string {
	return endpointChainPrefix + chainHash(servicePortName+protocol+endpoint)
}

// isServiceChain reports whether a nat chain is one the proxy creates per
// service or endpoint (and so may delete when it is no longer used).
func isServiceChain(chain string) bool {
	for _, p := range []string{serviceClusterChainPrefix, serviceLocalChainPrefix, endpointChainPrefix, serviceFirewallChainPrefix, serviceExternalChainPrefix} {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}
