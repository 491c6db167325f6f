package progress

import (
	"strings"
	"testing"
)

func TestTrackerCountsDistinctNames(t *testing.T) {
	var out strings.Builder
	tr := NewTracker(&out)
	tr.Add(Update{Total: 3})
	tr.Add(Update{Msg: "PASSED [sig-a] one"})
	tr.Add(Update{Msg: "PASSED [sig-a] one"}) // duplicates do not count twice
	tr.Add(Update{Msg: "FAILED [sig-b] two"})
	done, failed, total := tr.Counts()
	if done != 2 || failed != 1 || total != 3 {
		t.Fatalf("counts %d/%d failed %d, want 2/3 failed 1", done, total, failed)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", out.String())
	}
	if !strings.HasPrefix(lines[0], "[1/3 done, 0 failed, ") || !strings.HasSuffix(lines[0], "PASSED [sig-a] one") {
		t.Errorf("line %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "[2/3 done, 1 failed, ") {
		t.Errorf("line %q", lines[1])
	}
	if f := tr.Failures(); len(f) != 1 || f[0] != "[sig-b] two" {
		t.Errorf("failures %v", f)
	}
}

// Excerpts of real e2e.test v1.37.2 output (serial, --ginkgo.v --ginkgo.no-color).
const serialLog = `Running Suite: Kubernetes e2e suite - /work/skiff
=================================================
Random Seed: 1795827181 - will randomize all specs

Will run 3 of 3206 specs
------------------------------
[ReportBeforeSuite] 
k8s.io/kubernetes@v1.37.2/test/e2e/e2e_test.go:153
[ReportBeforeSuite] PASSED [0.000 seconds]
------------------------------
[SynchronizedBeforeSuite] 
k8s.io/kubernetes@v1.37.2/test/e2e/e2e.go:69
[SynchronizedBeforeSuite] PASSED [0.021 seconds]
------------------------------
[sig-api-machinery] server version should find the server version [Conformance]
k8s.io/kubernetes@v1.37.2/test/e2e/apimachinery/server_version.go:41
  STEP: Creating a kubernetes client @ 11/28/26 00:53:03.770
• [0.104 seconds]
------------------------------
[sig-api-machinery] Discovery should validate PreferredVersion for each APIGroup [Conformance]
k8s.io/kubernetes@v1.37.2/test/e2e/apimachinery/discovery.go:126
  STEP: Creating a kubernetes client @ 11/28/26 00:53:03.770
• [FAILED] [120.027 seconds]
[sig-api-machinery] Discovery [BeforeEach] should validate PreferredVersion for each APIGroup [Conformance] [sig-api-machinery, Conformance]
  [BeforeEach] set up framework | framework.go:302
  [It] k8s.io/kubernetes@v1.37.2/test/e2e/apimachinery/discovery.go:126

  [FAILED] wait for service account "default" in namespace "discovery-2376": timed out waiting for the condition
------------------------------
S
------------------------------
[sig-network] DNS should provide DNS for the cluster [Conformance]
k8s.io/kubernetes@v1.37.2/test/e2e/network/dns.go:55
S [SKIPPED] [0.001 seconds]
[sig-network] DNS [It] should provide DNS for the cluster [Conformance] [sig-network, Conformance]
------------------------------
[SynchronizedAfterSuite] 
k8s.io/kubernetes@v1.37.2/test/e2e/e2e.go:80
[SynchronizedAfterSuite] PASSED [0.006 seconds]
`

func TestParserSerialLog(t *testing.T) {
	var out strings.Builder
	tr := NewTracker(&out)
	p := NewParser(tr)
	for _, l := range strings.Split(serialLog, "\n") {
		p.Line(l)
	}
	p.Flush()
	done, failed, total := tr.Counts()
	if done != 3 || failed != 1 || total != 3 {
		t.Fatalf("counts %d/%d failed %d, want 3/3 failed 1; output:\n%s", done, total, failed, out.String())
	}
	for _, want := range []string{
		"PASSED [sig-api-machinery] server version should find the server version [Conformance]\n",
		"FAILED [sig-api-machinery] Discovery should validate PreferredVersion for each APIGroup [Conformance]\n",
		"SKIPPED [sig-network] DNS should provide DNS for the cluster [Conformance]\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// Under the ginkgo CLI (--nodes > 1) nothing streams: each spec is reported
// whole, the header first, then its name.
func TestParserParallelLog(t *testing.T) {
	log := "Will run 3 of 3206 specs\n" +
		"•\n" +
		"•\n" +
		"------------------------------\n" +
		"• [FAILED] [3.100 seconds]\n" +
		"[sig-node] Pods [It] should be updated [Conformance] [NodeConformance] [sig-node, Conformance, NodeConformance]\n" +
		"k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:1\n"
	var out strings.Builder
	tr := NewTracker(&out)
	p := NewParser(tr)
	for _, l := range strings.Split(log, "\n") {
		p.Line(l)
	}
	p.Flush()
	done, failed, total := tr.Counts()
	if done != 3 || failed != 1 || total != 3 {
		t.Fatalf("counts %d/%d failed %d; output:\n%s", done, total, failed, out.String())
	}
	if !strings.Contains(out.String(), "FAILED [sig-node] Pods should be updated [Conformance] [NodeConformance]\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestSpecName(t *testing.T) {
	for in, want := range map[string]string{
		"[sig-a] X [It] should y [Conformance] [sig-a, Conformance]": "[sig-a] X should y [Conformance]",
		"[sig-a] X should y [Conformance]":                           "[sig-a] X should y [Conformance]",
		"[sig-a] X should y [Conformance] [Conformance]":             "[sig-a] X should y [Conformance]",
		"[sig-a] X should y [Conformance] [other, Conformance]":      "[sig-a] X should y [Conformance] [other, Conformance]",
	} {
		if got := SpecName(in); got != want {
			t.Errorf("SpecName(%q) = %q, want %q", in, got, want)
		}
	}
}
