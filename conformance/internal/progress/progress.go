// Package progress follows e2e.test's ginkgo output as it is written and
// prints one line per finished test: "[ 12/462 done, 1 failed, 3m05s] PASSED <name>".
//
// (e2e.test's --progress-report-url was tried first: in v1.37.2 it posts only
// the suite's start, total and end, never a finished spec, so the runner reads
// ginkgo's own report lines instead; see Parser.)
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Update is one event: Msg is "PASSED <name>", "FAILED <name>",
// "SKIPPED <name>" or free text; Total, when > 0, is the number of specs
// that will run.
type Update struct {
	Msg   string
	Total int
}

// Tracker accumulates updates and prints progress lines.
type Tracker struct {
	mu       sync.Mutex
	out      io.Writer
	start    time.Time
	total    int
	passed   map[string]bool
	failed   map[string]bool
	skipped  map[string]bool
	failList []string
	last     time.Time
}

// NewTracker prints to out.
func NewTracker(out io.Writer) *Tracker {
	now := time.Now()
	return &Tracker{out: out, start: now, last: now, passed: map[string]bool{}, failed: map[string]bool{}, skipped: map[string]bool{}}
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
	case "SKIPPED":
		if t.skipped[name] {
			return
		}
		t.skipped[name] = true
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
	done := len(t.passed) + len(t.failed) + len(t.skipped)
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
	return len(t.passed) + len(t.failed) + len(t.skipped), len(t.failed), t.total
}

// Failures returns the names of the failed tests in the order they failed.
func (t *Tracker) Failures() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.failList...)
}

func elapsed(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
