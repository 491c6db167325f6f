package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the bench started; every one is stopped by its PID.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

var (
	runningMu sync.Mutex
	running   = map[*proc]bool{}
)

func startProc(dir, name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a ^C to the bench reaches it through stopAll,
	// after the bench has reported.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	runningMu.Lock()
	running[p] = true
	runningMu.Unlock()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and SIGKILL after 30 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	runningMu.Lock()
	delete(running, p)
	runningMu.Unlock()
}

func stopAll() {
	runningMu.Lock()
	var ps []*proc
	for p := range running {
		ps = append(ps, p)
	}
	runningMu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// tail is the end of the process's log, for errors.
func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// usage is a process's CPU time and memory from /proc.
type usage struct {
	cpu       time.Duration
	rss, peak int64 // bytes
}

func (u usage) add(o usage) usage {
	return usage{cpu: u.cpu + o.cpu, rss: u.rss + o.rss, peak: u.peak + o.peak}
}

func (p *proc) usage() usage {
	var u usage
	pid := p.cmd.Process.Pid
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The fields after the command name, which may contain spaces.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		if len(f) > 12 {
			utime, _ := strconv.ParseInt(f[11], 10, 64)
			stime, _ := strconv.ParseInt(f[12], 10, 64)
			u.cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
		}
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(status)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				u.rss = kb * 1024
			case "VmHWM:":
				u.peak = kb * 1024
			}
		}
	}
	return u
}

func usageOf(ps []*proc) usage {
	var u usage
	for _, p := range ps {
		u = u.add(p.usage())
	}
	return u
}

var insecure = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Proxy: nil, DisableKeepAlives: true},
}

// waitHTTP polls url every 10 ms until it answers 200 with a body that
// contains want, and returns how long that took from since.
func waitHTTP(ctx context.Context, p *proc, url, want string, since time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if p.exited() {
			return 0, fmt.Errorf("%s exited before %s answered:\n%s", p.name, url, p.tail())
		}
		resp, err := insecure.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
				return time.Since(since), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: %s not ready after %s:\n%s", p.name, url, timeout, p.tail())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
