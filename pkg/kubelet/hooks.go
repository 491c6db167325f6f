package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// runHook runs a lifecycle handler (exec, httpGet, sleep) for a container.
func (kl *Kubelet) runHook(ctx context.Context, pod *v1.Pod, c *v1.Container, containerID string, podIPs []string, h *v1.LifecycleHandler, grace int64) (string, error) {
	timeout := time.Duration(grace) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	switch {
	case h.Exec != nil:
		stdout, stderr, err := kl.runtime.ExecSync(ctx, containerID, h.Exec.Command, timeout)
		out := string(stdout) + string(stderr)
		if err != nil {
			return out, fmt.Errorf("exec %v: %s", h.Exec.Command, grpcMessage(err))
		}
		return out, nil
	case h.HTTPGet != nil:
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		code, body, err := httpGet(ctx, h.HTTPGet, c, first(podIPs))
		if err != nil {
			return body, err
		}
		if code < 200 || code >= 400 {
			return body, fmt.Errorf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v, message: %q", h.HTTPGet.Path, c.Name, formatPod(pod), fmt.Sprintf("HTTP status %d", code), body)
		}
		return body, nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return "", nil
	}
	return "", fmt.Errorf("cannot run handler: no exec, httpGet or sleep")
}

// resolvePort resolves a named port against the container's ports.
func resolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p, c)
}

// httpGet performs an httpGet action against the pod (or its host).
func httpGet(ctx context.Context, a *v1.HTTPGetAction, c *v1.Container, podIP string) (int, string, error) {
	port, err := resolvePort(a.Port, c)
	if err != nil {
		return 0, "", err
	}
	host := a.Host
	if host == "" {
		host = podIP
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := a.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if p, q, ok := strings.Cut(path, "?"); ok {
		u.Path, u.RawQuery = p, q
	} else {
		u.Path = path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range a.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := probeHTTPClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10*1024))
	return resp.StatusCode, string(body), nil
}

// probeHTTPClient follows no redirects to other hosts and skips TLS
// verification, as upstream's prober does.
var probeHTTPClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: insecureTLS()},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return http.ErrUseLastResponse
		}
		if req.URL.Host != via[0].URL.Host {
			return http.ErrUseLastResponse
		}
		return nil
	},
}
