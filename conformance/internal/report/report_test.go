package report

import (
	"strings"
	"testing"
)

func load(t *testing.T) Summary {
	t.Helper()
	res, err := ReadJUnitFile("testdata/junit-sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	base, err := ReadBaseline("testdata/baseline-sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cls, err := ReadClasses("testdata/classes-sample.tsv")
	if err != nil {
		t.Fatal(err)
	}
	return Summarize(res, base, cls)
}

func TestReadJUnit(t *testing.T) {
	res, err := ReadJUnitFile("testdata/junit-sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 8 {
		t.Fatalf("got %d results, want 8", len(res))
	}
	want := map[string]Outcome{
		"[sig-api-machinery] server version should find the server version [Conformance]":                                     Passed,
		"[sig-api-machinery] Watchers should observe add, update, and delete watch notifications on configmaps [Conformance]": Failed,
		"[sig-node] Pods should be submitted and removed [Conformance] [NodeConformance]":                                     NotRun,
		"[sig-network] DNS should provide DNS for the cluster [Conformance]":                                                  Skipped,
	}
	for _, r := range res {
		if w, ok := want[r.Name]; ok {
			if r.Outcome != w {
				t.Errorf("%s: outcome %s, want %s", r.Name, r.Outcome, w)
			}
			if r.Leaf != "It" {
				t.Errorf("%s: leaf %q, want It", r.Name, r.Leaf)
			}
			delete(want, r.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("not found in JUnit: %v", want)
	}
	if res[0].Leaf != "SynchronizedBeforeSuite" || res[0].Name != "" {
		t.Errorf("first case: leaf %q name %q, want SynchronizedBeforeSuite and empty name", res[0].Leaf, res[0].Name)
	}
}

func TestSummarize(t *testing.T) {
	s := load(t)
	if s.Baseline != 5 {
		t.Errorf("baseline %d, want 5", s.Baseline)
	}
	c := s.Conformance
	if c.Passed != 1 || c.Failed != 1 || c.Skipped != 1 || c.NotRun != 2 || c.Total != 5 {
		t.Errorf("conformance counts %+v, want 1 passed, 1 failed, 1 skipped, 2 not run of 5", c)
	}
	if got := s.BySIG["sig-api-machinery"]; got.Passed != 1 || got.Failed != 1 || got.Total != 2 {
		t.Errorf("sig-api-machinery %+v", got)
	}
	if got := s.BySIG["sig-storage"]; got.NotRun != 1 || got.Total != 1 {
		t.Errorf("sig-storage %+v: a baseline test missing from the JUnit is not run", got)
	}
	if got := s.ByClass["api-only"]; got.Passed != 1 || got.Failed != 1 {
		t.Errorf("api-only %+v", got)
	}
	if got := s.ByClass["unclassified"]; got.Total != 1 {
		t.Errorf("unclassified %+v, want the storage test", got)
	}
	if s.Other.Passed != 1 || s.Other.Failed != 1 {
		t.Errorf("other %+v, want 1 passed 1 failed", s.Other)
	}
	if len(s.Failures) != 2 {
		t.Fatalf("failures %+v, want 2", s.Failures)
	}
	f := s.Failures[0]
	if !f.Conformance || f.FirstLine != "failed to create configmap: the server could not find the requested resource" {
		t.Errorf("first failure %+v", f)
	}
	if s.Failures[1].Conformance || s.Failures[1].FirstLine != "A suite timeout occurred" {
		t.Errorf("second failure %+v", s.Failures[1])
	}
	if len(s.SuiteErrors) != 1 || s.SuiteErrors[0].FirstLine != "namespace cleanup failed" {
		t.Errorf("suite errors %+v", s.SuiteErrors)
	}
}

func TestWrite(t *testing.T) {
	var b strings.Builder
	if err := load(t).Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Conformance v1.37: 5 tests in the official list; ran 3: 1 passed, 1 failed, 1 skipped; 2 not run",
		"Other specs (not in the official list): ran 2: 1 passed, 1 failed, 0 skipped",
		"  sig-api-machinery      2      1      1       0       0",
		"FAIL [api-only] [sig-api-machinery] Watchers should observe add, update, and delete watch notifications on configmaps [Conformance]: failed to create configmap",
		"FAIL [not-conformance] [sig-apps] Deployment should not be a conformance test: A suite timeout occurred",
		"ERROR [SynchronizedAfterSuite] : namespace cleanup failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteSetupFailure(t *testing.T) {
	s := Summarize([]Result{{Name: "", Leaf: "SynchronizedBeforeSuite", Outcome: Failed, FirstLine: "the server could not find the requested resource"}}, nil, nil)
	var b strings.Builder
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "SUITE SETUP FAILED, so no test ran: [SynchronizedBeforeSuite] : the server could not find the requested resource\n") {
		t.Errorf("summary does not start with the setup failure:\n%s", b.String())
	}
}

func TestSIGOf(t *testing.T) {
	for in, want := range map[string]string{
		"[sig-node] Pods x":           "sig-node",
		"[sig-api-machinery] y [z]":   "sig-api-machinery",
		"no sig here [Conformance]":   "other",
		"[Feature:X] [sig-node] late": "other",
	} {
		if got := SIGOf(in); got != want {
			t.Errorf("SIGOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// The checked-in baseline and classification must describe the same 462 tests.
func TestCheckedInBaselineMatchesClasses(t *testing.T) {
	base, err := ReadBaseline("../../testdata/conformance-1.37.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cls, err := ReadClasses("../../testdata/conformance-1.37.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if len(base) != 462 || len(cls) != 462 {
		t.Fatalf("baseline %d tests, classes %d; want 462 each", len(base), len(cls))
	}
	for _, b := range base {
		if _, ok := cls[b.Codename]; !ok {
			t.Errorf("no class for %q", b.Codename)
		}
	}
}

// A real report (e2e.test v1.37.2 against an API server that does not serve
// nodes yet): the suite setup failed and no spec is listed at all.
func TestRealSetupFailureReport(t *testing.T) {
	res, err := ReadJUnitFile("testdata/junit-setup-failure.xml")
	if err != nil {
		t.Fatal(err)
	}
	base, err := ReadBaseline("../../testdata/conformance-1.37.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(res, base, nil)
	if s.Conformance.Ran() != 0 || s.Conformance.NotRun != 462 {
		t.Errorf("counts %+v, want 462 not run", s.Conformance)
	}
	if len(s.SuiteErrors) != 1 || s.SuiteErrors[0].FirstLine != "the server could not find the requested resource" {
		t.Errorf("suite errors %+v", s.SuiteErrors)
	}
}
