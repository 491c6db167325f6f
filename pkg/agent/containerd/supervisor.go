package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// maxSocketPath keeps the socket under the 108-byte unix socket limit
// with room for containerd's own ".ttrpc" suffix.
const maxSocketPath = 100

// Supervisor starts containerd, restarts it when it dies and stops it by
// its pid when the context ends.
type Supervisor struct {
	cfg Config

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	ready   chan struct{}
	started int // how many times containerd was started
}

// NewSupervisor checks cfg and writes config.toml.
func NewSupervisor(cfg Config) (*Supervisor, error) {
	if len(cfg.Socket()) >= maxSocketPath {
		return nil, fmt.Errorf("containerd socket path %s is too long (%d bytes, limit %d): use a shorter data dir", cfg.Socket(), len(cfg.Socket()), maxSocketPath)
	}
	if _, err := exec.LookPath(cfg.Binary); err != nil {
		return nil, fmt.Errorf("containerd not found (%s): run hack/install-deps.sh: %w", cfg.Binary, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o711); err != nil {
		return nil, err
	}
	data, err := cfg.Render()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg.ConfigPath(), data, 0o600); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	return &Supervisor{cfg: cfg, ready: make(chan struct{})}, nil
}

// Socket is the CRI endpoint's socket path.
func (s *Supervisor) Socket() string { return s.cfg.Socket() }

// Ready is closed once containerd first answers on its socket.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// PID is the running containerd's pid, 0 if none.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Run keeps containerd running until ctx ends, then stops it (SIGTERM,
// SIGKILL after 10 s). A containerd left by a previous agent that died is
// stopped first: its shims survive and the new containerd reconnects to
// them.
func (s *Supervisor) Run(ctx context.Context) error {
	s.stopLeftover()
	backoff := 500 * time.Millisecond
	readyOnce := sync.Once{}
	for {
		start := time.Now()
		if err := s.start(); err != nil {
			return err
		}
		if err := s.waitSocket(ctx); err != nil {
			klog.ErrorS(err, "containerd did not come up", "log", s.cfg.LogPath())
		} else {
			readyOnce.Do(func() { close(s.ready) })
		}
		s.mu.Lock()
		exited := s.exited
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case <-exited:
		}
		if time.Since(start) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		klog.InfoS("containerd exited; restarting it", "after", backoff, "log", s.cfg.LogPath())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *Supervisor) start() error {
	log, err := os.OpenFile(s.cfg.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// A stale socket would make the readiness check pass too early.
	_ = os.Remove(s.cfg.Socket())
	cmd := exec.Command(s.cfg.Binary, "--config", s.cfg.ConfigPath())
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a terminal's ^C reaches the agent, which stops
	// containerd in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		log.Close()
		klog.InfoS("containerd stopped", "pid", cmd.Process.Pid, "status", err)
		close(exited)
	}()
	if err := os.WriteFile(s.cfg.PIDPath(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		klog.ErrorS(err, "Cannot write containerd pid file")
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.started++
	s.mu.Unlock()
	klog.InfoS("Started containerd", "pid", cmd.Process.Pid, "socket", s.cfg.Socket(), "config", s.cfg.ConfigPath())
	return nil
}

// waitSocket waits until the socket accepts connections (about 0.15 s).
func (s *Supervisor) waitSocket(ctx context.Context) error {
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("unix", s.cfg.Socket(), time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("containerd exited during start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("no containerd socket at %s after 30s", s.cfg.Socket())
}

// stop ends the current containerd by its pid.
func (s *Supervisor) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		klog.InfoS("containerd ignored SIGTERM for 10s; killing it", "pid", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		<-exited
	}
	_ = os.Remove(s.cfg.PIDPath())
}

// Kill sends SIGKILL to the running containerd (tests use it to check the
// restart).
func (s *Supervisor) Kill() error {
	pid := s.PID()
	if pid == 0 {
		return errors.New("containerd is not running")
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// stopLeftover stops a containerd that the pid file names if it runs
// with this config (a pid may have been reused by something else).
func (s *Supervisor) stopLeftover() {
	data, err := os.ReadFile(s.cfg.PIDPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), s.cfg.ConfigPath()) {
		return
	}
	klog.InfoS("Stopping a containerd left by an earlier agent", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if !alive(pid) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// alive is true for a running, non-zombie process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
