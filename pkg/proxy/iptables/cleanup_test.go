package iptables

import (
	"strings"
	"testing"
)

func TestCleanupRemovesEverything(t *testing.T) {
	tp := newTestProxier(t)
	overallCluster(tp)
	tp.mustSync(t)
	// Another tool's chain and jump must survive.
	if err := tp.ipt.EnsureChain("filter", "OTHER"); err != nil {
		t.Fatal(err)
	}
	if err := tp.ipt.EnsureRuleFirst("filter", "FORWARD", "-j", "OTHER"); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(tp.ipt); err != nil {
		t.Fatal(err)
	}
	for table, tbl := range tp.ipt.tables {
		for chain, rules := range tbl.chains {
			if strings.HasPrefix(chain, "KUBE-") {
				t.Errorf("chain %s/%s left", table, chain)
			}
			for _, r := range rules {
				if strings.Contains(r, "KUBE-") {
					t.Errorf("rule %q left in %s/%s", r, table, chain)
				}
			}
		}
	}
	if _, ok := tp.ipt.tables["filter"].chains["OTHER"]; !ok {
		t.Errorf("foreign chain deleted")
	}
	if r := tp.ipt.tables["filter"].chains["FORWARD"]; len(r) != 1 || r[0] != "-j OTHER" {
		t.Errorf("FORWARD = %q, want only the foreign jump", r)
	}
	// Cleaning a clean host is fine.
	if err := Cleanup(tp.ipt); err != nil {
		t.Fatalf("second cleanup: %v", err)
	}
}
