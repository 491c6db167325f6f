package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFocusFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "quick.txt")
	list := "# comment\n[sig-a] X should work [Conformance]\n\n[sig-b] Y (with parens) [Conformance]\n"
	if err := os.WriteFile(p, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	re, n, err := focusFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("n = %d, want 2", n)
	}
	rx := regexp.MustCompile(re)
	// ginkgo matches "<suite description> <spec text>".
	for s, want := range map[string]bool{
		"Kubernetes e2e suite [sig-a] X should work [Conformance]":          true,
		"Kubernetes e2e suite [sig-b] Y (with parens) [Conformance]":        true,
		"Kubernetes e2e suite [sig-a] X should work [Conformance] [Serial]": false,
		"Kubernetes e2e suite [sig-a] X should work well [Conformance]":     false,
		"Kubernetes e2e suite [sig-c] Z [Conformance]":                      false,
	} {
		if got := rx.MatchString(s); got != want {
			t.Errorf("%q: match %v, want %v", s, got, want)
		}
	}
}

func TestQuickListIsConformance(t *testing.T) {
	re, n, err := focusFromFile("../../testdata/quick.txt")
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Errorf("quick list has %d tests; expected the api-only subset (>50)", n)
	}
	regexp.MustCompile(re)
}

func TestPreflightWithoutKubeconfig(t *testing.T) {
	if _, err := preflight("", 0, os.Stderr); err == nil {
		t.Fatal("want an error without KUBECONFIG")
	}
	if _, err := preflight(filepath.Join(t.TempDir(), "missing"), 0, os.Stderr); err == nil {
		t.Fatal("want an error for a missing kubeconfig")
	}
}

// A kubeconfig whose server is down must fail at once, not hang.
func TestPreflightStoppedServer(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: x}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := preflight(kc, 5*time.Second, os.Stderr)
	if err == nil {
		t.Fatal("want an error for a stopped server")
	}
	if !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("error %q should say the server is not reachable", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("preflight took %s", d)
	}
}
