// Package progress receives the updates that e2e.test posts to
// --progress-report-url (test/e2e/reporters.ProgressReporter) and turns them
// into one line per finished test: "[ 12/462] 1 failed | PASSED <name>".
//
// Each post carries the reporter's counters and its last message
// ("PASSED <name>" / "FAILED <name>"). Posts are sent from goroutines, so
// they can arrive out of order, and under `ginkgo --nodes N` every process has
// its own counters; the tracker therefore counts distinct test names from the
// messages and takes the total from the largest "total" seen.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Update is the JSON body e2e.test posts.
type Update struct {
	Msg       string   `json:"msg"`
	Total     int      `json:"total"`
	Completed int      `json:"completed"`
	Skipped   int      `json:"skipped"`
	Failed    int      `json:"failed"`
	Failures  []string `json:"failures"`
}

// Tracker accumulates updates and prints progress lines.
type Tracker struct {
	mu       sync.Mutex
	out      io.Writer
	start    time.Time
	total    int
	passed   map[string]bool
	failed   map[string]bool
	failList []string
	last     time.Time
}

// NewTracker prints to out.
func NewTracker(out io.Writer) *Tracker {
	now := time.Now()
	return &Tracker{out: out, start: now, last: now, passed: map[string]bool{}, failed: map[string]bool{}}
}

// Add records one update and prints a line when it finished a test.
func (t *Tracker) Add(u Update) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u.Total > t.total {
		t.total = u.Total
	}
	verb, name, ok := strings.Cut(u.Msg, " ")
	if !ok {
		if u.Msg != "" {
			fmt.Fprintf(t.out, "[%s] %s\n", t.countsLocked(), u.Msg)
		}
		return
	}
	switch verb {
	case "PASSED":
		if t.passed[name] {
			return
		}
		t.passed[name] = true
	case "FAILED":
		if t.failed[name] {
			return
		}
		t.failed[name] = true
		t.failList = append(t.failList, name)
	default:
		fmt.Fprintf(t.out, "[%s] %s\n", t.countsLocked(), u.Msg)
		return
	}
	t.last = time.Now()
	fmt.Fprintf(t.out, "[%s] %s %s\n", t.countsLocked(), verb, name)
}

func (t *Tracker) countsLocked() string {
	done := len(t.passed) + len(t.failed)
	total := "?"
	if t.total > 0 {
		total = fmt.Sprint(t.total)
	}
	return fmt.Sprintf("%*d/%s done, %d failed, %s", len(total), done, total, len(t.failed), elapsed(time.Since(t.start)))
}

// Tick prints a "still running" line if nothing finished for a while, so a
// long test does not look like a hang.
func (t *Tracker) Tick(quiet time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.last) >= quiet {
		fmt.Fprintf(t.out, "[%s] still running (no test finished for %s)\n", t.countsLocked(), elapsed(time.Since(t.last)))
		t.last = time.Now()
	}
}

// Counts returns (done, failed, total); total is 0 until e2e.test reported it.
func (t *Tracker) Counts() (done, failed, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.passed) + len(t.failed), len(t.failed), t.total
}

// Failures returns the names of the failed tests in the order they failed.
func (t *Tracker) Failures() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.failList...)
}

// ServeHTTP accepts POSTed updates.
func (t *Tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST progress updates here", http.StatusMethodNotAllowed)
		return
	}
	var u Update
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&u); err != nil {
		http.Error(w, fmt.Sprintf("bad progress update: %v", err), http.StatusBadRequest)
		return
	}
	t.Add(u)
	w.WriteHeader(http.StatusNoContent)
}

func elapsed(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
