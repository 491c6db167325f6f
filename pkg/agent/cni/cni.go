// Package cni writes the node's CNI network: a bridge with host-local IPAM
// over the node's pod CIDR, hostPort mapping, and (added by containerd
// itself) loopback.
package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Network describes the node's pod network.
type Network struct {
	// Name of the CNI network.
	Name string
	// Bridge is the Linux bridge the pods' veths join.
	Bridge string
	// PodCIDR is the node's pod subnet.
	PodCIDR string
	// DataDir keeps host-local's IP allocations.
	DataDir string
}

// Conflist returns the CNI configuration list.
func (n Network) Conflist() ([]byte, error) {
	if _, _, err := net.ParseCIDR(n.PodCIDR); err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", n.PodCIDR, err)
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      n.Bridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": n.DataDir,
					"ranges":  [][]map[string]string{{{"subnet": n.PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// Write puts the conflist into dir (containerd's CNI conf_dir), replacing
// any other configuration there: containerd loads only one.
func (n Network) Write(dir string) error {
	data, err := n.Conflist()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "10-"+n.Name+".conflist")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
