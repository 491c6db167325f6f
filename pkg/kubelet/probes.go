package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // probes do not verify, as upstream

type probeKind string

const (
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
	probeStartup   probeKind = "Startup"
)

type probeKey struct {
	uid       types.UID
	container string
	kind      probeKind
}

// probeResult is the latest outcome of one probe for one container.
type probeResult struct {
	containerID string
	success     bool
	message     string
}

// probeManager runs probes in their own goroutines and wakes the pod
// worker when a result flips.
type probeManager struct {
	kl *Kubelet

	mu      sync.Mutex
	workers map[probeKey]*probeWorker
	store   map[probeKey]probeResult
}

type probeWorker struct {
	containerID string
	stop        context.CancelFunc
}

func newProbeManager(kl *Kubelet) *probeManager {
	return &probeManager{kl: kl, workers: map[probeKey]*probeWorker{}, store: map[probeKey]probeResult{}}
}

// sync starts probe workers for the running containers of a pod and stops
// those whose container is gone.
func (m *probeManager) sync(ctx context.Context, pod *v1.Pod, state *podRuntimeState, podIPs []string) {
	wanted := map[probeKey]struct {
		probe *v1.Probe
		c     *v1.Container
		cs    containerState
	}{}
	visit := func(c *v1.Container) {
		cs := state.latestContainer(c.Name)
		if cs == nil || cs.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			return
		}
		for kind, p := range map[probeKind]*v1.Probe{probeLiveness: c.LivenessProbe, probeReadiness: c.ReadinessProbe, probeStartup: c.StartupProbe} {
			if p != nil {
				wanted[probeKey{pod.UID, c.Name, kind}] = struct {
					probe *v1.Probe
					c     *v1.Container
					cs    containerState
				}{p, c, *cs}
			}
		}
	}
	for i := range pod.Spec.Containers {
		visit(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			visit(c)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if k.uid != pod.UID {
			continue
		}
		if want, ok := wanted[k]; !ok || want.cs.ID != w.containerID {
			w.stop()
			delete(m.workers, k)
		}
	}
	for k, want := range wanted {
		if _, ok := m.workers[k]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		m.workers[k] = &probeWorker{containerID: want.cs.ID, stop: cancel}
		go m.run(wctx, k, pod, want.c, want.probe, want.cs, podIPs)
	}
}

// removePod stops a pod's probes and forgets their results.
func (m *probeManager) removePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if k.uid == uid {
			w.stop()
			delete(m.workers, k)
		}
	}
	for k := range m.store {
		if k.uid == uid {
			delete(m.store, k)
		}
	}
}

// reset forgets a container's probe state after it was killed.
func (m *probeManager) reset(uid types.UID, container string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, kind := range []probeKind{probeLiveness, probeReadiness, probeStartup} {
		k := probeKey{uid, container, kind}
		if w, ok := m.workers[k]; ok {
			w.stop()
			delete(m.workers, k)
		}
		delete(m.store, k)
	}
}

func (m *probeManager) result(k probeKey, containerID string) (probeResult, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.store[k]
	if !ok || r.containerID != containerID {
		return probeResult{}, false
	}
	return r, true
}

// started reports whether a container passed its startup probe (or has
// none) and runs.
func (m *probeManager) started(uid types.UID, c *v1.Container, cs *containerState) bool {
	if cs == nil || cs.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return false
	}
	if c.StartupProbe == nil {
		return true
	}
	r, ok := m.result(probeKey{uid, c.Name, probeStartup}, cs.ID)
	return ok && r.success
}

// mustRestart reports a failed liveness or startup probe and the Killing
// event's message.
func (m *probeManager) mustRestart(uid types.UID, c *v1.Container, containerID string) (string, bool) {
	if r, ok := m.result(probeKey{uid, c.Name, probeLiveness}, containerID); ok && !r.success {
		return fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name), true
	}
	if r, ok := m.result(probeKey{uid, c.Name, probeStartup}, containerID); ok && !r.success {
		return fmt.Sprintf("Container %s failed startup probe, will be restarted", c.Name), true
	}
	return "", false
}

// results returns the readiness and startup outcomes by container name
// for the pod's current containers.
func (m *probeManager) results(pod *v1.Pod, state *podRuntimeState) (ready, started map[string]bool) {
	ready, started = map[string]bool{}, map[string]bool{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.store {
		if k.uid != pod.UID {
			continue
		}
		cs := state.latestContainer(k.container)
		if cs == nil || cs.ID != r.containerID {
			continue
		}
		switch k.kind {
		case probeReadiness:
			ready[k.container] = r.success
		case probeStartup:
			started[k.container] = r.success
		}
	}
	return ready, started
}

// run probes one container until its context ends, as upstream's worker:
// initial delay, then every period; a result flips after
// successThreshold successes or failureThreshold failures. Liveness and
// readiness wait for the startup probe to succeed.
func (m *probeManager) run(ctx context.Context, k probeKey, pod *v1.Pod, c *v1.Container, p *v1.Probe, cs containerState, podIPs []string) {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success, failure := max(p.SuccessThreshold, 1), max(p.FailureThreshold, 1)
	// Initial results: readiness false, liveness and startup unknown.
	if k.kind == probeReadiness {
		m.set(k, probeResult{containerID: cs.ID, success: false}, false)
	}
	delay := time.Duration(p.InitialDelaySeconds)*time.Second - time.Since(cs.StartedAt)
	if delay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	counter := probeCounter{success: success, failure: failure}
	for {
		waitStartup := k.kind != probeStartup && c.StartupProbe != nil && !m.started(k.uid, c, &cs)
		if !waitStartup {
			ok, msg := m.probeOnce(ctx, pod, c, p, cs.ID, podIPs, timeout)
			if ctx.Err() != nil {
				return
			}
			if !ok {
				m.kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", string(k.kind), msg)
			}
			result, decided := counter.observe(ok)
			switch {
			case decided && result:
				m.set(k, probeResult{containerID: cs.ID, success: true}, true)
				if k.kind == probeStartup {
					// A started container is probed no more for startup; the
					// liveness and readiness workers start their probes.
					m.kl.workers.wake(ctx, k.uid, false)
					return
				}
			case decided && !result:
				m.set(k, probeResult{containerID: cs.ID, success: false, message: msg}, true)
				if k.kind != probeReadiness {
					return // the worker kills and restarts the container
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// probeCounter turns probe outcomes into a result: success after
// successThreshold successes in a row, failure after failureThreshold
// failures in a row.
type probeCounter struct {
	success, failure int32
	okRun, failRun   int32
}

// observe records one outcome and reports the result once a threshold is
// reached.
func (c *probeCounter) observe(ok bool) (result, decided bool) {
	if ok {
		c.okRun, c.failRun = c.okRun+1, 0
		return true, c.okRun >= c.success
	}
	c.okRun, c.failRun = 0, c.failRun+1
	return false, c.failRun >= c.failure
}

// set records a result, waking the pod worker when it changed.
func (m *probeManager) set(k probeKey, r probeResult, wake bool) {
	m.mu.Lock()
	prev, had := m.store[k]
	m.store[k] = r
	m.mu.Unlock()
	if wake && (!had || prev.success != r.success || prev.containerID != r.containerID) {
		m.kl.workers.wake(context.Background(), k.uid, false)
	}
}

// probeOnce runs one probe action.
func (m *probeManager) probeOnce(ctx context.Context, pod *v1.Pod, c *v1.Container, p *v1.Probe, containerID string, podIPs []string, timeout time.Duration) (bool, string) {
	podIP := first(podIPs)
	switch {
	case p.Exec != nil:
		stdout, stderr, err := m.kl.runtime.ExecSync(ctx, containerID, p.Exec.Command, timeout)
		if err != nil {
			// A non-zero exit reports the command's output, as upstream.
			if _, ok := err.(interface{ ExitStatus() int }); ok {
				return false, string(stdout) + string(stderr)
			}
			return false, grpcMessage(err)
		}
		return true, ""
	case p.HTTPGet != nil:
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		code, body, err := httpGet(hctx, p.HTTPGet, c, podIP)
		if err != nil {
			return false, fmt.Sprintf("Get %q: %v", probeURL(p.HTTPGet, c, podIP), err)
		}
		if code < 200 || code >= 400 {
			return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
		}
		_ = body
		return true, ""
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return false, err.Error()
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), timeout)
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), errorTail(err))
		}
		conn.Close()
		return true, ""
	case p.GRPC != nil:
		return grpcProbe(ctx, podIP, int(p.GRPC.Port), p.GRPC.Service, timeout)
	}
	return false, "probe has no handler"
}

func probeURL(a *v1.HTTPGetAction, c *v1.Container, podIP string) string {
	port, _ := resolvePort(a.Port, c)
	host := a.Host
	if host == "" {
		host = podIP
	}
	scheme := "http"
	if a.Scheme == v1.URISchemeHTTPS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), a.Path)
}

func errorTail(err error) string {
	if op, ok := err.(*net.OpError); ok && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// grpcProbe calls the gRPC health service.
func grpcProbe(ctx context.Context, ip string, port int, service *string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent("kube-probe/1.37"))
	if err != nil {
		return false, fmt.Sprintf("timeout: failed to connect service %q within %v: %v", addr, timeout, err)
	}
	defer conn.Close()
	req := &healthpb.HealthCheckRequest{}
	if service != nil {
		req.Service = *service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, req)
	if err != nil {
		return false, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return false, fmt.Sprintf("service unhealthy (responded with %q)", resp.Status.String())
	}
	return true, ""
}
