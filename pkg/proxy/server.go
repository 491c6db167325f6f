package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	"github.com/skiff-project/skiff/pkg/proxy/iptables"
)

// Labels that take a Service (and its EndpointSlices) away from this
// proxy, as upstream: another proxy serves it, or it is headless.
const (
	labelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	labelHeadless         = v1.IsHeadlessService
)

// Cleanup removes the proxy's rules for every IP family iptables-nft
// exists for.
func Cleanup() error {
	var errs []error
	for _, family := range []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol} {
		ipt, err := iptables.NewRunner(family)
		if err != nil {
			if family == v1.IPv6Protocol {
				continue // no ip6tables: nothing of ours there
			}
			errs = append(errs, err)
			continue
		}
		if err := iptables.Cleanup(ipt); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", family, err))
		}
	}
	return errors.Join(errs...)
}

// Run runs the proxy until ctx ends (or cleans up and returns when
// o.Cleanup is set).
func Run(ctx context.Context, o *Options) error {
	if o.Cleanup {
		return Cleanup()
	}
	if errs := o.Validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	client := o.Client
	if client == nil {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return fmt.Errorf("load kubeconfig %q: %w", o.Kubeconfig, err)
		}
		if client, err = kubernetes.NewForConfig(restclient.AddUserAgent(cfg, "skiff-proxy")); err != nil {
			return fmt.Errorf("create client: %w", err)
		}
	}
	nodeName, err := o.NodeName()
	if err != nil {
		return err
	}
	nodeIPs := o.NodeIPs
	if len(nodeIPs) == 0 {
		nodeIPs = nodeAddresses(ctx, client, nodeName)
	}

	cidrs := map[v1.IPFamily]string{}
	for _, c := range splitList(o.ClusterCIDR) {
		ip, _, _ := net.ParseCIDR(c)
		cidrs[familyOf(ip)] = c
	}
	families := []v1.IPFamily{v1.IPv4Protocol}
	if _, ok := cidrs[v1.IPv6Protocol]; ok {
		families = append(families, v1.IPv6Protocol)
	}
	var proxiers []*iptables.Proxier
	for _, family := range families {
		ipt, err := iptables.NewRunner(family)
		if err != nil {
			return err
		}
		var nodeIP net.IP
		for _, s := range nodeIPs {
			if ip := netutils.ParseIPSloppy(s); ip != nil && familyOf(ip) == family {
				nodeIP = ip
				break
			}
		}
		p, err := iptables.New(iptables.Config{
			Family:             family,
			NodeName:           nodeName,
			NodeIP:             nodeIP,
			ClusterCIDR:        cidrs[family],
			MasqueradeBit:      o.MasqueradeBit,
			MasqueradeAll:      o.MasqueradeAll,
			LocalhostNodePorts: o.LocalhostNodePorts,
			NodePortAddresses:  o.NodePortAddresses,
			MinSyncPeriod:      o.MinSyncPeriod,
			SyncPeriod:         o.SyncPeriod,
		}, ipt)
		if err != nil {
			return fmt.Errorf("%s proxier: %w", family, err)
		}
		proxiers = append(proxiers, p)
	}
	klog.InfoS("Starting the service proxy", "mode", "iptables", "node", nodeName, "nodeIPs", nodeIPs, "families", families)

	h := newHealth(o.SyncPeriod)
	for _, p := range proxiers {
		p.SetSyncObserver(h.observe)
	}
	if o.HealthzBindAddress != "" {
		go h.serve(ctx, o.HealthzBindAddress)
	}

	notForUs, _ := labels.NewRequirement(labelServiceProxyName, selection.DoesNotExist, nil)
	notHeadless, _ := labels.NewRequirement(labelHeadless, selection.DoesNotExist, nil)
	selector := labels.NewSelector().Add(*notForUs, *notHeadless).String()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = selector }))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", nodeName).String()
		}))

	services := factory.Core().V1().Services().Informer()
	slices := factory.Discovery().V1().EndpointSlices().Informer()
	nodes := nodeFactory.Core().V1().Nodes().Informer()
	if _, err := services.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { onService(proxiers, obj, false) },
		UpdateFunc: func(_, obj any) { onService(proxiers, obj, false) },
		DeleteFunc: func(obj any) { onService(proxiers, obj, true) },
	}); err != nil {
		return err
	}
	if _, err := slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { onSlice(proxiers, obj, false) },
		UpdateFunc: func(_, obj any) { onSlice(proxiers, obj, false) },
		DeleteFunc: func(obj any) { onSlice(proxiers, obj, true) },
	}); err != nil {
		return err
	}
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { onNode(proxiers, obj) },
		UpdateFunc: func(_, obj any) { onNode(proxiers, obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer nodeFactory.Shutdown()

	var wg sync.WaitGroup
	for _, p := range proxiers {
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(ctx) }()
	}
	if !cache.WaitForCacheSync(ctx.Done(), services.HasSynced, slices.HasSynced) {
		wg.Wait()
		return ctx.Err()
	}
	for _, p := range proxiers {
		p.OnServicesSynced()
		p.OnEndpointSlicesSynced()
	}
	wg.Wait()
	return nil
}

func onService(proxiers []*iptables.Proxier, obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	svc, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	if deleted {
		svc = nil
	}
	for _, p := range proxiers {
		p.OnServiceUpdate(key, svc)
	}
}

func onSlice(proxiers []*iptables.Proxier, obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	slice, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return
	}
	for _, p := range proxiers {
		p.OnEndpointSliceUpdate(slice, deleted)
	}
}

func onNode(proxiers []*iptables.Proxier, obj any) {
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	for _, p := range proxiers {
		p.OnNodeZone(node.Labels[v1.LabelTopologyZone])
	}
}

// nodeAddresses returns the InternalIPs of this node's Node object,
// waiting a little for the kubelet to register it; none if it does not.
func nodeAddresses(ctx context.Context, client kubernetes.Interface, nodeName string) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err == nil {
			var ips []string
			for _, a := range node.Status.Addresses {
				if a.Type == v1.NodeInternalIP {
					ips = append(ips, a.Address)
				}
			}
			if len(ips) > 0 {
				return ips
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			klog.InfoS("No node IP found; NodePorts still work on every local address, loadBalancerSourceRanges will not admit this node", "node", nodeName, "err", err)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func familyOf(ip net.IP) v1.IPFamily {
	if ip.To4() != nil {
		return v1.IPv4Protocol
	}
	return v1.IPv6Protocol
}

// health answers /healthz like upstream: healthy while syncs succeed; a
// sync that has failed for longer than twice the sync period makes it
// unhealthy.
type health struct {
	mu          sync.Mutex
	period      time.Duration
	lastOK      time.Time
	failingFrom time.Time
}

func newHealth(period time.Duration) *health { return &health{period: period} }

func (h *health) observe(s iptables.SyncStats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.Err == nil {
		h.lastOK = time.Now()
		h.failingFrom = time.Time{}
	} else if h.failingFrom.IsZero() {
		h.failingFrom = time.Now()
	}
}

func (h *health) healthy() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failingFrom.IsZero() && time.Since(h.failingFrom) > 2*h.period {
		return false, fmt.Sprintf("syncs failing since %s", h.failingFrom.Format(time.RFC3339))
	}
	return true, fmt.Sprintf("last successful sync %s", h.lastOK.Format(time.RFC3339))
}

func (h *health) serve(ctx context.Context, addr string) {
	mux := http.NewServeMux()
	handler := func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := h.healthy()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, msg)
	}
	mux.HandleFunc("/healthz", handler)
	mux.HandleFunc("/livez", handler)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		klog.ErrorS(err, "Proxy health server stopped", "address", addr)
	}
}
