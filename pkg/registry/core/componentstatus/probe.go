package componentstatus

import (
	"context"
	"crypto/tls"

	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
)

// Result is a probe's verdict.
type Result int

const (
	Unknown Result = iota
	Success
	Failure
)

const (
	// probeTimeout is upstream's.
	probeTimeout = 20 * time.Second
	// maxBody is how much of a /healthz answer is kept, as upstream's
	// HTTP prober.
	maxBody = 10 * 1024
	// Upstream's default secure ports of the controller manager and the
	// scheduler, which it probes on the local host.
	controllerManagerPort = 10257
	schedulerPort         = 10259
)

// Prober checks one component.
type Prober interface {
	// Probe returns the verdict, the output to show, and an error when the
	// probe itself could not run.
	Probe(ctx context.Context) (Result, string, error)
}

// HTTPProber GETs a health URL: 2xx is healthy (the body is the message),
// other answers and connection errors are unhealthy, as upstream's HTTP
// prober (which follows redirects and does not verify certificates).
type HTTPProber struct {
	URL    string
	Client *http.Client
}

func (p *HTTPProber) Probe(ctx context.Context) (Result, string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return Unknown, "", fmt.Errorf("failed to construct probe request: %w", err)
	}
	req.Header.Set("Accept", "*/*")
	res, err := p.Client.Do(req)
	if err != nil {
		return Failure, err.Error(), nil
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return Failure, "", err
	}
	switch {
	case res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusMultipleChoices:
		return Success, string(body), nil
	case res.StatusCode >= http.StatusMultipleChoices && res.StatusCode < http.StatusBadRequest:
		// Upstream reports redirects it stopped at as a warning, which
		// ComponentStatus shows as Unknown.
		return Unknown, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body)), nil
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// EtcdProber checks etcd through the storage's client configuration.
type EtcdProber struct {
	Config storagebackend.Config
}

func (p *EtcdProber) Probe(ctx context.Context) (Result, string, error) {
	prober, err := factory.CreateProber(p.Config)
	if err != nil {
		return Failure, "", err
	}
	defer prober.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := prober.Probe(ctx); err != nil {
		return Failure, "", err
	}
	return Success, "ok", nil
}

// DefaultServers are upstream's components: the controller manager and the
// scheduler on this host's default ports, and etcd as the storage reaches
// it.
func DefaultServers(etcd storagebackend.Config) func() map[string]Prober {
	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
	local := func(port int) string {
		return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/healthz"
	}
	return func() map[string]Prober {
		return map[string]Prober{
			"controller-manager": &HTTPProber{URL: local(controllerManagerPort), Client: client},
			"scheduler":          &HTTPProber{URL: local(schedulerPort), Client: client},
			"etcd-0":             &EtcdProber{Config: etcd},
		}
	}
}
