package conformance_test

import (
	"os"
	"regexp"
	"testing"
)

var replaceRE = regexp.MustCompile(`(?m)^\s*(k8s\.io/[a-z0-9-]+) => (k8s\.io/[a-z0-9-]+) (v\S+)\s*$`)

func replaces(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range replaceRE.FindAllStringSubmatch(string(data), -1) {
		if r[1] != r[2] {
			t.Errorf("%s: %s is replaced by another module, %s", path, r[1], r[2])
		}
		m[r[1]] = r[3]
	}
	return m
}

// Every staging module the product pins must be pinned here at the same
// version, so that e2e.test is built from the libraries skiff serves.
func TestReplacesMatchProductModule(t *testing.T) {
	root, ours := replaces(t, "../go.mod"), replaces(t, "go.mod")
	if len(root) == 0 {
		t.Fatal("no replace lines in ../go.mod")
	}
	for mod, v := range root {
		if ours[mod] != v {
			t.Errorf("%s: ../go.mod replaces it at %s, conformance/go.mod at %q", mod, v, ours[mod])
		}
	}
	for mod, v := range ours {
		if v != "v0.37.2" {
			t.Errorf("%s replaced at %s, want v0.37.2", mod, v)
		}
	}
}
