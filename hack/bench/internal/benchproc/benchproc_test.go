package benchproc

import (
	"strings"
	"testing"
	"time"
)

func TestStartWaitUsageStop(t *testing.T) {
	dir := t.TempDir()
	p, err := Start("/bin/sh", dir, "sleeper", "-c", "echo Ready to go; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitForLog("ready TO go", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if u := p.Usage(); u.RSS <= 0 || u.Peak < u.RSS {
		t.Errorf("usage = %+v, want an RSS and a peak at least as large", u)
	}
	start := time.Now()
	p.Stop()
	if time.Since(start) > 10*time.Second {
		t.Errorf("Stop took %v; SIGTERM should end sleep at once", time.Since(start))
	}
}

func TestWaitForLogReportsExit(t *testing.T) {
	p, err := Start("/bin/sh", t.TempDir(), "quitter", "-c", "echo bye; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitForLog("never said", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "bye") {
		t.Errorf("err = %v, want the exit and the log's tail", err)
	}
}
