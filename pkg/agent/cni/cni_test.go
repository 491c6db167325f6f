package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestConflist(t *testing.T) {
	dir := t.TempDir()
	n := Network{Name: "skiff", Bridge: "skiff0", PodCIDR: "10.244.3.0/24", DataDir: "/d/networks"}
	if err := n.Write(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "10-skiff.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string
		Plugins []struct {
			Type        string
			Bridge      string
			IsGateway   bool
			HairpinMode bool
			IPAM        struct {
				Type    string
				DataDir string
				Ranges  [][]struct{ Subnet string }
			}
			Capabilities map[string]bool
		}
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Name != "skiff" || len(conf.Plugins) != 2 {
		t.Fatalf("conflist = %s", data)
	}
	br, pm := conf.Plugins[0], conf.Plugins[1]
	if br.Type != "bridge" || br.Bridge != "skiff0" || !br.IsGateway || !br.HairpinMode || br.IPAM.Type != "host-local" ||
		br.IPAM.Ranges[0][0].Subnet != "10.244.3.0/24" || br.IPAM.DataDir != "/d/networks" {
		t.Errorf("bridge plugin = %+v", br)
	}
	if pm.Type != "portmap" || !pm.Capabilities["portMappings"] {
		t.Errorf("portmap plugin = %+v", pm)
	}
	if err := (Network{Name: "x", Bridge: "b", PodCIDR: "bogus"}).Write(dir); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}
