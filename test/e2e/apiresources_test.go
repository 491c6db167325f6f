//go:build e2e

package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestAPIResourcesMatchUpstream diffs `kubectl api-resources -o wide` (both
// the stock kubectl and kubectl v1.37) against upstream v1.37's table.
func TestAPIResourcesMatchUpstream(t *testing.T) {
	ctx := context.Background()
	s := framework.StartServer(t)
	want, err := os.ReadFile("testdata/api-resources-1.37-wide.txt")
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(context.Context, string, ...string) (string, error){
		"kubectl":       s.Kubectl,
		"skiff kubectl": s.KubectlNew,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := run(ctx, "", "api-resources", "-o", "wide")
			if err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			if d := tableDiff(string(want), got); d != "" {
				t.Errorf("api-resources differs from upstream v1.37 (-upstream +skiff):\n%s", d)
			}
		})
	}
}

// tableDiff compares two tables row by row, ignoring column padding.
func tableDiff(want, got string) string {
	norm := func(s string) map[string]bool {
		rows := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
			rows[strings.Join(strings.Fields(line), " ")] = true
		}
		return rows
	}
	w, g := norm(want), norm(got)
	var b strings.Builder
	for row := range w {
		if !g[row] {
			b.WriteString("- " + row + "\n")
		}
	}
	for row := range g {
		if !w[row] {
			b.WriteString("+ " + row + "\n")
		}
	}
	return b.String()
}
