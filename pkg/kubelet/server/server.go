// Package server is the kubelet's HTTPS API on port 10250: container logs,
// exec, attach and port-forward (proxied to the runtime's CRI streaming
// server, so SPDY and WebSocket both pass through), /healthz, /metrics,
// /metrics/cadvisor, /stats/summary and /pods. Requests are authenticated
// (client certificates of the cluster CA, bearer tokens by TokenReview)
// and authorized by SubjectAccessReview, with upstream's mapping of paths
// to node subresources.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// Host is what the server needs from the kubelet.
type Host interface {
	NodeName() string
	GetPod(namespace, name string) (*v1.Pod, bool)
	Pods() []*v1.Pod
	Runtime() internalapi.RuntimeService
	// Container finds a pod's container in the runtime: the latest one,
	// or the previous terminated one.
	Container(ctx context.Context, pod *v1.Pod, name string, previous bool) (id, logPath string, err error)
	// SandboxID is the pod's ready sandbox.
	SandboxID(ctx context.Context, pod *v1.Pod) (string, error)
	// Stats is the /stats/summary document.
	Stats(ctx context.Context) (any, error)
	// CadvisorMetrics writes container metrics in Prometheus text format.
	CadvisorMetrics(ctx context.Context, w http.ResponseWriter)
	// ResourceMetrics writes /metrics/resource (what metrics-server reads).
	ResourceMetrics(ctx context.Context, w http.ResponseWriter)
	// Metrics serves the kubelet's own metrics.
	Metrics() http.Handler
}

// Config is how the server listens and whom it trusts.
type Config struct {
	Address  string
	Port     int
	CertFile string
	KeyFile  string
	// ClientCAFile verifies client certificates.
	ClientCAFile string
	Client       kubernetes.Interface
}

// Server is the kubelet's HTTPS server.
type Server struct {
	host  Host
	cfg   Config
	authn authenticator.Request
	authz authorizer.Authorizer
}

// New builds the server with delegated authentication and authorization.
func New(host Host, cfg Config) (*Server, error) {
	s := &Server{host: host, cfg: cfg}
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authnCfg := authenticatorfactory.DelegatingAuthenticatorConfig{
		TokenAccessReviewClient:  cfg.Client.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
		CacheTTL:                 2 * time.Minute,
	}
	if cfg.ClientCAFile != "" {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("load kubelet client CA: %w", err)
		}
		authnCfg.ClientCertificateCAContentProvider = ca
	}
	authn, _, err := authnCfg.New()
	if err != nil {
		return nil, fmt.Errorf("kubelet authentication: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: cfg.Client.AuthorizationV1(),
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("kubelet authorization: %w", err)
	}
	s.authn, s.authz = authn, authz
	return s, nil
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("load kubelet serving certificate: %w", err)
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort(s.cfg.Address, fmt.Sprint(s.cfg.Port)),
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequestClientCert,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"}, // upgrades (SPDY, WebSocket) need HTTP/1.1
		},
		ErrorLog: nil,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	klog.FromContext(ctx).Info("Kubelet server listening", "address", srv.Addr)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Handler is the authenticated, authorized mux.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/metrics", s.host.Metrics())
	mux.HandleFunc("/metrics/cadvisor", func(w http.ResponseWriter, r *http.Request) { s.host.CadvisorMetrics(r.Context(), w) })
	mux.HandleFunc("/metrics/resource", func(w http.ResponseWriter, r *http.Request) { s.host.ResourceMetrics(r.Context(), w) })
	mux.HandleFunc("/stats/summary", s.stats)
	mux.HandleFunc("/pods", s.pods)
	mux.HandleFunc("/containerLogs/", s.containerLogs)
	mux.HandleFunc("/exec/", s.exec)
	mux.HandleFunc("/attach/", s.attach)
	mux.HandleFunc("/portForward/", s.portForward)
	return s.withAuth(mux)
}

// withAuth authenticates every request and authorizes it against the
// node subresource its path maps to.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := s.authn.AuthenticateRequest(r)
		if err != nil || !ok {
			if err != nil {
				klog.V(2).InfoS("Unable to authenticate the request", "err", err)
			}
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := s.attributes(resp.User, r)
		decision, reason, err := s.authz.Authorize(r.Context(), attrs)
		if err != nil || decision != authorizer.DecisionAllow {
			msg := fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource=%s)", attrs.GetUser().GetName(), attrs.GetVerb(), attrs.GetResource(), attrs.GetSubresource())
			if reason != "" {
				msg += ": " + reason
			}
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// attributes is upstream's NodeAuthorizerAttributesGetter: nodes/<sub>
// by path prefix, nodes/proxy for the rest; the verb from the method.
func (s *Server) attributes(u user.Info, r *http.Request) authorizer.Attributes {
	verb := "get"
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	sub := "proxy"
	switch {
	case strings.HasPrefix(r.URL.Path, "/stats"):
		sub = "stats"
	case strings.HasPrefix(r.URL.Path, "/metrics"):
		sub = "metrics"
	case strings.HasPrefix(r.URL.Path, "/logs"):
		sub = "log"
	case strings.HasPrefix(r.URL.Path, "/healthz"):
		sub = "healthz"
	case strings.HasPrefix(r.URL.Path, "/pods"):
		sub = "pods"
	}
	return authorizer.AttributesRecord{
		User:            u,
		Verb:            verb,
		Namespace:       "",
		APIGroup:        "",
		APIVersion:      "v1",
		Resource:        "nodes",
		Subresource:     sub,
		Name:            s.host.NodeName(),
		ResourceRequest: true,
		Path:            r.URL.Path,
	}
}

// pathParts splits /<kind>/<ns>/<pod>[/<uid>]/<container>.
func pathParts(path, prefix string) []string {
	return strings.Split(strings.Trim(strings.TrimPrefix(path, prefix), "/"), "/")
}

func (s *Server) pod(w http.ResponseWriter, ns, name string) (*v1.Pod, bool) {
	pod, ok := s.host.GetPod(ns, name)
	if !ok {
		http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, name), http.StatusNotFound)
	}
	return pod, ok
}

func (s *Server) pods(w http.ResponseWriter, r *http.Request) {
	list := v1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.host.Pods() {
		list.Items = append(list.Items, *p)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	summary, err := s.host.Stats(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(summary)
}

// streamFlags reads the remotecommand query flags.
func streamFlags(q url.Values) (stdin, stdout, stderr, tty bool) {
	b := func(k string) bool { v := q.Get(k); return v == "1" || v == "true" }
	return b("input") || b("stdin"), b("output") || b("stdout"), b("error") || b("stderr"), b("tty")
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	parts := pathParts(r.URL.Path, "/exec/")
	if len(parts) != 3 && len(parts) != 4 {
		http.Error(w, "expected /exec/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	pod, ok := s.pod(w, parts[0], parts[1])
	if !ok {
		return
	}
	id, _, err := s.host.Container(r.Context(), pod, parts[len(parts)-1], false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	stdin, stdout, stderr, tty := streamFlags(q)
	resp, err := s.host.Runtime().Exec(r.Context(), &runtimeapi.ExecRequest{ContainerId: id, Cmd: q["command"], Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr && !tty})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	parts := pathParts(r.URL.Path, "/attach/")
	if len(parts) != 3 && len(parts) != 4 {
		http.Error(w, "expected /attach/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	pod, ok := s.pod(w, parts[0], parts[1])
	if !ok {
		return
	}
	id, _, err := s.host.Container(r.Context(), pod, parts[len(parts)-1], false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	stdin, stdout, stderr, tty := streamFlags(r.URL.Query())
	resp, err := s.host.Runtime().Attach(r.Context(), &runtimeapi.AttachRequest{ContainerId: id, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr && !tty})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	parts := pathParts(r.URL.Path, "/portForward/")
	if len(parts) != 2 && len(parts) != 3 {
		http.Error(w, "expected /portForward/<namespace>/<pod>", http.StatusBadRequest)
		return
	}
	pod, ok := s.pod(w, parts[0], parts[1])
	if !ok {
		return
	}
	sandbox, err := s.host.SandboxID(r.Context(), pod)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := s.host.Runtime().PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sandbox})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

// proxyStream hands the upgraded connection to the runtime's streaming
// server, as upstream's kubelet does without redirects.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, target string) {
	u, err := url.Parse(target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	handler := proxy.NewUpgradeAwareHandler(u, nil, false, true, errorResponder{})
	handler.ServeHTTP(w, r)
}

type errorResponder struct{}

func (errorResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	klog.ErrorS(err, "Error while proxying a stream to the runtime")
	http.Error(w, err.Error(), http.StatusInternalServerError)
}
