// Package benchproc runs the processes of skiff's benchmarks: each logs to
// DIR/NAME.log, is stopped by its PID (SIGTERM, then SIGKILL after 30 s),
// and reports its CPU time and memory from /proc.
package benchproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a started process.
type Proc struct {
	Name string
	// Log is the file its stdout and stderr go to.
	Log  string
	Cmd  *exec.Cmd
	done chan struct{}
}

// Start runs bin with args, logging to dir/name.log.
func Start(bin, dir, name string, args ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, Cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

// Stop stops the process: SIGTERM, SIGKILL after 30 s.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// WaitForLog waits until the process's log holds text (case-insensitive:
// upstream's and skiff's log lines differ in case). It fails early when
// the process exits, with the log's last lines.
func (p *Proc) WaitForLog(text string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(p.Log); err == nil && strings.Contains(strings.ToLower(string(data)), strings.ToLower(text)) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before logging %q:\n%s", p.Name, text, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%q not in %s after %s:\n%s", text, p.Log, timeout, p.tail())
}

func (p *Proc) tail() string {
	data, _ := os.ReadFile(p.Log)
	lines := strings.Split(string(data), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// Usage is a process's CPU time (user+system) and memory.
type Usage struct {
	CPU       time.Duration
	RSS, Peak int64 // bytes
}

// Usage reads the process's CPU time and RSS (current and peak).
func (p *Proc) Usage() Usage {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err == nil {
		// Fields after the command name, which may contain spaces.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		u.CPU = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(status)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				if f[0] == "VmRSS:" {
					u.RSS = kb * 1024
				} else {
					u.Peak = kb * 1024
				}
			}
		}
	}
	return u
}

// MiB formats bytes as whole MiB.
func MiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
