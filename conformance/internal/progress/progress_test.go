package progress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTrackerCountsDistinctNames(t *testing.T) {
	var out strings.Builder
	tr := NewTracker(&out)
	tr.Add(Update{Msg: "Test Suite starting"})
	tr.Add(Update{Total: 3})
	tr.Add(Update{Msg: "PASSED [sig-a] one", Total: 3, Completed: 1})
	// Duplicates (retries of an async post, or another ginkgo process
	// re-sending its last message) do not count twice.
	tr.Add(Update{Msg: "PASSED [sig-a] one", Total: 3, Completed: 1})
	tr.Add(Update{Msg: "FAILED [sig-b] two", Total: 3, Failed: 1})
	done, failed, total := tr.Counts()
	if done != 2 || failed != 1 || total != 3 {
		t.Fatalf("counts %d/%d failed %d, want 2/3 failed 1", done, total, failed)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines (start, passed, failed), got %q", out.String())
	}
	if !strings.HasPrefix(lines[1], "[1/3 done, 0 failed, ") || !strings.HasSuffix(lines[1], "PASSED [sig-a] one") {
		t.Errorf("line %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "[2/3 done, 1 failed, ") {
		t.Errorf("line %q", lines[2])
	}
	if f := tr.Failures(); len(f) != 1 || f[0] != "[sig-b] two" {
		t.Errorf("failures %v", f)
	}
}

func TestServeHTTP(t *testing.T) {
	var out strings.Builder
	tr := NewTracker(&out)
	srv := httptest.NewServer(tr)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/progress", "application/json",
		strings.NewReader(`{"msg":"FAILED [sig-x] y","total":462,"completed":0,"skipped":0,"failed":1,"failures":["[sig-x] y"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if done, failed, total := tr.Counts(); done != 1 || failed != 1 || total != 462 {
		t.Fatalf("counts %d %d %d", done, failed, total)
	}
	resp, err = http.Post(srv.URL, "application/json", strings.NewReader(`not json`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad body: status %d, want 400", resp.StatusCode)
	}
}
