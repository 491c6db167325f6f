package pod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
	translator "k8s.io/apiserver/pkg/util/proxy"
	v1podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	netutils "k8s.io/utils/net"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// The streaming subresources reach the kubelet of the pod's node on
// upstream's kubelet paths (/containerLogs, /exec, /attach, /portForward),
// and pods/proxy reaches the pod's IP. Failures to reach them are 503s
// naming the target, not upstream's 500s.

// getter reads pods.
type getter interface {
	Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error)
}

func getPod(ctx context.Context, pods getter, name string) (*corev1.Pod, error) {
	obj, err := pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("unexpected object for pod %s: %T", name, obj)
	}
	return pod, nil
}

// containerFor returns the container a request means: the named one, which
// must exist (init and ephemeral containers count), or the only one. The
// kubectl.kubernetes.io/default-container annotation is kubectl's business:
// kubectl puts the name in the request, upstream's server ignores it.
func containerFor(container string, pod *corev1.Pod) (string, error) {
	if container != "" {
		if !slices.Contains(containerNames(pod), container) {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
		}
		return container, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, containerNames(pod)))
	}
}

// containerNames lists init, regular and ephemeral containers, in that order.
func containerNames(pod *corev1.Pod) []string {
	var names []string
	v1podutil.VisitContainers(&pod.Spec, v1podutil.AllFeatureEnabledContainers(), func(c *corev1.Container, _ v1podutil.ContainerType) bool {
		names = append(names, c.Name)
		return true
	})
	return names
}

// unreachable turns a failure to reach target into a 503; API errors pass.
func unreachable(err error, target string) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach %s: %v", target, err))
}

// proxyErrorResponder answers the proxy's errors through the API's
// responder, as 503s for unreachable backends.
type proxyErrorResponder struct {
	responder rest.Responder
	target    string
}

func (r proxyErrorResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	r.responder.Error(unreachable(err, r.target))
}

func newProxyHandler(location *url.URL, transport http.RoundTripper, wrapTransport, upgradeRequired bool, responder rest.Responder, target string) *proxy.UpgradeAwareHandler {
	return proxy.NewUpgradeAwareHandler(location, transport, wrapTransport, upgradeRequired, proxyErrorResponder{responder: responder, target: target})
}

func kubeletTarget(c *kubeletConnection) string {
	return fmt.Sprintf("the kubelet of node %q at %s", c.node, net.JoinHostPort(c.host, c.port))
}

// LogREST is pods/log: the container's log, streamed from the kubelet.
type LogREST struct {
	store   getter
	kubelet *kubeletLocator
}

var (
	_ rest.GetterWithOptions = &LogREST{}
	_ rest.StorageMetadata   = &LogREST{}
)

// New returns a pod: the log has no kind of its own.
func (r *LogREST) New() runtime.Object { return &corev1.Pod{} }

// Destroy does nothing: the pods store owns the storage.
func (r *LogREST) Destroy() {}

// ProducesMIMETypes is text/plain, which the default list lacks.
func (r *LogREST) ProducesMIMETypes(verb string) []string { return []string{"text/plain"} }

// ProducesObject is a string.
func (r *LogREST) ProducesObject(verb string) interface{} { return "" }

// NewGetOptions returns empty PodLogOptions.
func (r *LogREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}

// OverrideMetricsVerb counts log reads as CONNECT, as upstream.
func (r *LogREST) OverrideMetricsVerb(verb string) string {
	if verb == "GET" {
		return "CONNECT"
	}
	return verb
}

// Get streams the log. An unscheduled pod has no log yet: the stream is
// empty, as upstream.
func (r *LogREST) Get(ctx context.Context, name string, opts runtime.Object) (runtime.Object, error) {
	logOpts, ok := opts.(*corev1.PodLogOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	splitStreams := enabled(featurePodLogsQuerySplitStreams)
	if splitStreams && logOpts.Stream == nil {
		all := corev1.LogStreamAll
		logOpts.Stream = &all
	}
	errs := generic.Validate(logOpts, func(o *api.PodLogOptions) field.ErrorList {
		return corevalidation.ValidatePodLogOptions(o, splitStreams)
	})
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(api.Kind("PodLogOptions"), name, errs)
	}
	location, conn, err := r.logLocation(ctx, name, logOpts, splitStreams)
	if err != nil {
		return nil, err
	}
	s := &logStreamer{LocationStreamer: genericrest.LocationStreamer{
		Location:        location,
		ContentType:     "text/plain",
		Flush:           logOpts.Follow,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(corev1.Resource("pods/log"), name),
		RedirectChecker: genericrest.PreventRedirects,
	}}
	if conn != nil {
		s.Transport = conn.transport
		s.target = kubeletTarget(conn)
	}
	return s, nil
}

// logLocation is the kubelet URL of the container's log; nil for a pod
// without a node.
func (r *LogREST) logLocation(ctx context.Context, name string, opts *corev1.PodLogOptions, splitStreams bool) (*url.URL, *kubeletConnection, error) {
	pod, err := getPod(ctx, r.store, name)
	if err != nil {
		return nil, nil, err
	}
	container, err := containerFor(opts.Container, pod)
	if err != nil {
		return nil, nil, err
	}
	if pod.Spec.NodeName == "" {
		return nil, nil, nil
	}
	conn, err := r.kubelet.connection(ctx, pod.Spec.NodeName)
	if err != nil {
		return nil, nil, err
	}
	return &url.URL{
		Scheme:   conn.scheme,
		Host:     net.JoinHostPort(conn.host, conn.port),
		Path:     fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container),
		RawQuery: logQuery(opts, splitStreams).Encode(),
	}, conn, nil
}

// logQuery is the kubelet's query for opts.
func logQuery(opts *corev1.PodLogOptions, splitStreams bool) url.Values {
	q := url.Values{}
	if opts.Follow {
		q.Add("follow", "true")
	}
	if opts.Previous {
		q.Add("previous", "true")
	}
	if opts.Timestamps {
		q.Add("timestamps", "true")
	}
	if opts.SinceSeconds != nil {
		q.Add("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		q.Add("sinceTime", opts.SinceTime.Format(time.RFC3339))
	}
	if opts.TailLines != nil {
		q.Add("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		q.Add("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	if splitStreams && opts.Stream != nil {
		q.Add("stream", *opts.Stream)
	}
	return q
}

// logStreamer streams from the kubelet, answering 503 when it cannot be
// reached.
type logStreamer struct {
	genericrest.LocationStreamer
	target string
}

func (s *logStreamer) InputStream(ctx context.Context, apiVersion, acceptHeader string) (io.ReadCloser, bool, string, error) {
	stream, flush, contentType, err := s.LocationStreamer.InputStream(ctx, apiVersion, acceptHeader)
	if err != nil {
		return nil, false, "", unreachable(err, s.target)
	}
	return stream, flush, contentType, nil
}

// upgradeMethods are exec's, attach's and portforward's: GET for
// websockets, POST for SPDY.
var upgradeMethods = []string{"GET", "POST"}

// streamREST is what exec, attach and portforward share.
type streamREST struct {
	store      getter
	kubelet    *kubeletLocator
	authorizer authorizer.Authorizer
}

// Destroy does nothing: the pods store owns the storage.
func (r *streamREST) Destroy() {}

// ConnectMethods are GET and POST.
func (r *streamREST) ConnectMethods() []string { return upgradeMethods }

// authorizeCreate requires the "create" verb even for websocket (GET)
// requests, so that policies written for SPDY (POST) keep holding
// (kubernetes/kubernetes#133515).
func (r *streamREST) authorizeCreate(ctx context.Context) error {
	if !enabled(featureAuthorizePodWebsocketUpgradeCreatePermission) {
		return nil
	}
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok {
		return apierrors.NewInternalError(errors.New("no request info in context"))
	}
	if info.Verb == "create" {
		return nil
	}
	if r.authorizer == nil {
		return apierrors.NewInternalError(errors.New("no authorizer available"))
	}
	attrs, err := filters.GetAuthorizerAttributes(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("build authorizer attributes: %w", err))
	}
	decision, reason, err := r.authorizer.Authorize(ctx, verbOverride{Attributes: attrs, verb: "create"})
	if err != nil {
		return err
	}
	if decision != authorizer.DecisionAllow {
		return apierrors.NewForbidden(corev1.Resource(info.Resource), info.Name, errors.New(reason))
	}
	return nil
}

type verbOverride struct {
	authorizer.Attributes
	verb string
}

func (o verbOverride) GetVerb() string { return o.verb }

// streamLocation resolves the kubelet URL /{path}/{ns}/{pod}/{container}.
func (r *streamREST) streamLocation(ctx context.Context, name, container, path string, query url.Values) (*url.URL, *kubeletConnection, error) {
	pod, err := getPod(ctx, r.store, name)
	if err != nil {
		return nil, nil, err
	}
	container, err = containerFor(container, pod)
	if err != nil {
		return nil, nil, err
	}
	conn, err := r.nodeConnection(ctx, pod)
	if err != nil {
		return nil, nil, err
	}
	return &url.URL{
		Scheme:   conn.scheme,
		Host:     net.JoinHostPort(conn.host, conn.port),
		Path:     fmt.Sprintf("/%s/%s/%s/%s", path, pod.Namespace, pod.Name, container),
		RawQuery: query.Encode(),
	}, conn, nil
}

func (r *streamREST) nodeConnection(ctx context.Context, pod *corev1.Pod) (*kubeletConnection, error) {
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	return r.kubelet.connection(ctx, pod.Spec.NodeName)
}

// streamHandler proxies to the kubelet. Websocket clients are served
// directly when the kubelet declares websocket support; otherwise their
// stream is translated into SPDY here, as upstream.
func streamHandler(location *url.URL, conn *kubeletConnection, responder rest.Responder, streams translator.Options) http.Handler {
	handler := newProxyHandler(location, conn.transport, false, true, responder, kubeletTarget(conn))
	if !enabled(featureTranslateStreamCloseWebsocketRequests) || kubeletSupportsWebsockets(conn) {
		return handler
	}
	streamTranslator := translator.NewStreamTranslatorHandler(location, conn.transport, 0, streams)
	return translator.NewTranslatingHandler(handler, reachableFirst(streamTranslator, conn, responder), wsstream.IsWebSocketRequestWithStreamCloseProtocol)
}

// kubeletDialTimeout bounds the reachability check of reachableFirst.
const kubeletDialTimeout = 10 * time.Second

// reachableFirst checks that the kubelet accepts connections before next
// upgrades the client's connection. Translating handlers dial the kubelet
// only after the upgrade and can then report a failure only inside the
// stream, as a 500; checking first gives the client a plain 503.
func reachableFirst(next http.Handler, conn *kubeletConnection, responder rest.Responder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		dialer := net.Dialer{Timeout: kubeletDialTimeout}
		c, err := dialer.DialContext(req.Context(), "tcp", net.JoinHostPort(conn.host, conn.port))
		if err != nil {
			responder.Error(unreachable(err, kubeletTarget(conn)))
			return
		}
		_ = c.Close()
		next.ServeHTTP(w, req)
	})
}

func kubeletSupportsWebsockets(conn *kubeletConnection) bool {
	return enabled(featureExtendWebSocketsToKubelet) && slices.Contains(conn.features, string(featureExtendWebSocketsToKubelet))
}

// streamQuery is the kubelet's query for the requested streams.
func streamQuery(stdin, stdout, stderr, tty bool) url.Values {
	q := url.Values{}
	for _, p := range []struct {
		on   bool
		name string
	}{{stdin, corev1.ExecStdinParam}, {stdout, corev1.ExecStdoutParam}, {stderr, corev1.ExecStderrParam}, {tty, corev1.ExecTTYParam}} {
		if p.on {
			q.Add(p.name, "1")
		}
	}
	return q
}

// ExecREST is pods/exec.
type ExecREST struct{ streamREST }

var _ rest.Connecter = &ExecREST{}

// New returns empty PodExecOptions.
func (r *ExecREST) New() runtime.Object { return &corev1.PodExecOptions{} }

// NewConnectOptions returns empty PodExecOptions.
func (r *ExecREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodExecOptions{}, false, ""
}

// Connect runs the command in the container through its kubelet.
func (r *ExecREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	if err := r.authorizeCreate(ctx); err != nil {
		return nil, err
	}
	execOpts, ok := opts.(*corev1.PodExecOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	location, conn, err := r.streamLocation(ctx, name, execOpts.Container, "exec", execQuery(execOpts))
	if err != nil {
		return nil, err
	}
	return streamHandler(location, conn, responder, translator.Options{
		Stdin: execOpts.Stdin, Stdout: execOpts.Stdout, Stderr: execOpts.Stderr, Tty: execOpts.TTY,
	}), nil
}

func execQuery(opts *corev1.PodExecOptions) url.Values {
	q := streamQuery(opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY)
	for _, c := range opts.Command {
		q.Add("command", c)
	}
	return q
}

// AttachREST is pods/attach.
type AttachREST struct{ streamREST }

var _ rest.Connecter = &AttachREST{}

// New returns empty PodAttachOptions.
func (r *AttachREST) New() runtime.Object { return &corev1.PodAttachOptions{} }

// NewConnectOptions returns empty PodAttachOptions.
func (r *AttachREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodAttachOptions{}, false, ""
}

// Connect attaches to the container's streams through its kubelet.
func (r *AttachREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	if err := r.authorizeCreate(ctx); err != nil {
		return nil, err
	}
	attachOpts, ok := opts.(*corev1.PodAttachOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	query := streamQuery(attachOpts.Stdin, attachOpts.Stdout, attachOpts.Stderr, attachOpts.TTY)
	location, conn, err := r.streamLocation(ctx, name, attachOpts.Container, "attach", query)
	if err != nil {
		return nil, err
	}
	return streamHandler(location, conn, responder, translator.Options{
		Stdin: attachOpts.Stdin, Stdout: attachOpts.Stdout, Stderr: attachOpts.Stderr, Tty: attachOpts.TTY,
	}), nil
}

// PortForwardREST is pods/portforward.
type PortForwardREST struct{ streamREST }

var _ rest.Connecter = &PortForwardREST{}

// New returns empty PodPortForwardOptions.
func (r *PortForwardREST) New() runtime.Object { return &corev1.PodPortForwardOptions{} }

// NewConnectOptions returns empty PodPortForwardOptions.
func (r *PortForwardREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodPortForwardOptions{}, false, ""
}

// Connect forwards ports of the pod through its kubelet. Websocket
// clients are tunnelled into SPDY here unless the kubelet speaks websockets.
func (r *PortForwardREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	if err := r.authorizeCreate(ctx); err != nil {
		return nil, err
	}
	pfOpts, ok := opts.(*corev1.PodPortForwardOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	pod, err := getPod(ctx, r.store, name)
	if err != nil {
		return nil, err
	}
	conn, err := r.nodeConnection(ctx, pod)
	if err != nil {
		return nil, err
	}
	query := url.Values{}
	if len(pfOpts.Ports) > 0 {
		ports := make([]string, len(pfOpts.Ports))
		for i, p := range pfOpts.Ports {
			ports[i] = strconv.FormatInt(int64(p), 10)
		}
		query.Add(corev1.PortHeader, strings.Join(ports, ","))
	}
	location := &url.URL{
		Scheme:   conn.scheme,
		Host:     net.JoinHostPort(conn.host, conn.port),
		Path:     fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name),
		RawQuery: query.Encode(),
	}
	handler := newProxyHandler(location, conn.transport, false, true, responder, kubeletTarget(conn))
	if !enabled(featurePortForwardWebsockets) || kubeletSupportsWebsockets(conn) {
		return handler, nil
	}
	tunnel := reachableFirst(translator.NewTunnelingHandler(handler), conn, responder)
	return translator.NewTranslatingHandler(handler, tunnel, wsstream.IsWebSocketRequestWithTunnelingProtocol), nil
}

// ProxyREST is pods/proxy: HTTP to the pod's IP.
type ProxyREST struct {
	store     getter
	transport http.RoundTripper
}

var _ rest.Connecter = &ProxyREST{}

var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// New returns empty PodProxyOptions.
func (r *ProxyREST) New() runtime.Object { return &corev1.PodProxyOptions{} }

// Destroy does nothing: the pods store owns the storage.
func (r *ProxyREST) Destroy() {}

// ConnectMethods are the proxied HTTP methods.
func (r *ProxyREST) ConnectMethods() []string { return proxyMethods }

// NewConnectOptions returns PodProxyOptions; the rest of the URL is its path.
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodProxyOptions{}, true, "path"
}

// Connect proxies to "name", "name:port" or "scheme:name:port".
func (r *ProxyREST) Connect(ctx context.Context, id string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	proxyOpts, ok := opts.(*corev1.PodProxyOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %T", opts))
	}
	location, transport, err := podLocation(ctx, r.store, r.transport, id)
	if err != nil {
		return nil, err
	}
	location.Path = utilnet.JoinPreservingTrailingSlash(location.Path, proxyOpts.Path)
	return newProxyHandler(location, transport, true, false, responder, fmt.Sprintf("pod %s at %s", id, location.Host)), nil
}

// podLocation is the URL of the pod's IP for id ("name", "name:port" or
// "scheme:name:port"); without a port, the first declared container port.
func podLocation(ctx context.Context, pods getter, transport http.RoundTripper, id string) (*url.URL, http.RoundTripper, error) {
	scheme, name, port, valid := utilnet.SplitSchemeNamePort(id)
	if !valid {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", id))
	}
	pod, err := getPod(ctx, pods, name)
	if err != nil {
		return nil, nil, err
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	}
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	if ip := netutils.ParseIPSloppy(podIP); ip == nil || !ip.IsGlobalUnicast() {
		return nil, nil, apierrors.NewBadRequest("address not allowed")
	}
	loc := &url.URL{Scheme: scheme}
	if port == "" {
		loc.Host = podIP
		if strings.Contains(podIP, ":") {
			loc.Host = "[" + podIP + "]"
		}
	} else {
		loc.Host = net.JoinHostPort(podIP, port)
	}
	return loc, transport, nil
}
