package simulator

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Simulator runs the simulated nodes.
type Simulator struct {
	opts       *Options
	client     kubernetes.Interface
	taints     []v1.Taint
	nodes      []*simNode
	nodeByName map[string]*simNode
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	queue      workqueue.TypedRateLimitingInterface[string]
}

func labelsEverything() labels.Selector { return labels.Everything() }

// New prepares a simulator (no API calls yet).
func New(opts *Options, client kubernetes.Interface) (*Simulator, error) {
	if errs := opts.validateNodes(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid options: %v", errs)
	}
	taints, err := opts.parseTaints()
	if err != nil {
		return nil, err
	}
	s := &Simulator{opts: opts, client: client, taints: taints, nodeByName: map[string]*simNode{}}
	for i := 0; i < opts.Count; i++ {
		podNet, err := nthSubnet(opts.PodCIDR, i)
		if err != nil {
			return nil, fmt.Errorf("--pod-cidr is too small for %d nodes: %w", opts.Count, err)
		}
		ip, err := nthIP(opts.NodeIPRange, i)
		if err != nil {
			return nil, fmt.Errorf("--node-ip-range is too small for %d nodes: %w", opts.Count, err)
		}
		n := &simNode{name: fmt.Sprintf("%s%d", opts.NamePrefix, i), ip: ip, podNet: podNet, ips: map[types.UID]net.IP{}, used: map[string]bool{}}
		s.nodes = append(s.nodes, n)
		s.nodeByName[n.name] = n
	}
	return s, nil
}

// Run registers the nodes and simulates them until ctx ends.
func Run(ctx context.Context, opts *Options) error {
	if errs := opts.Validate(); len(errs) > 0 {
		return fmt.Errorf("invalid options: %v", errs)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %q: %w", opts.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	client, err := kubernetes.NewForConfig(restclient.AddUserAgent(cfg, "skiff-simulated-kubelet"))
	if err != nil {
		return err
	}
	s, err := New(opts, client)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Run registers the nodes and simulates them until ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(s.client, 0)
	podInformer := factory.InformerFor(&v1.Pod{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		inf := coreinformers.NewFilteredPodInformer(c, metav1.NamespaceAll, resync, cache.Indexers{},
			func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" })
		_ = inf.SetTransform(func(obj any) (any, error) {
			if p, ok := obj.(*v1.Pod); ok {
				p.ManagedFields = nil
			}
			return obj, nil
		})
		return inf
	})
	s.podLister = corelisters.NewPodLister(podInformer.GetIndexer())
	s.nodeLister = factory.Core().V1().Nodes().Lister()
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "simulated-pods"})
	defer s.queue.ShutDown()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.enqueuePod,
		UpdateFunc: func(_, obj any) { s.enqueuePod(obj) },
		DeleteFunc: s.deletePod,
	}); err != nil {
		return err
	}

	if err := s.ensureLeaseNamespace(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := s.registerNodes(ctx); err != nil {
		return err
	}
	klog.InfoS("Simulated nodes registered", "count", len(s.nodes), "took", time.Since(start).Round(time.Millisecond))

	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for t, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", t)
		}
	}
	s.adoptPods()
	for i := 0; i < s.opts.Workers; i++ {
		go s.runWorker(ctx)
	}
	s.heartbeat(ctx)
	if s.opts.DeleteNodesOnExit {
		s.deleteNodes()
	}
	return nil
}

func (s *Simulator) ensureLeaseNamespace(ctx context.Context) error {
	_, err := s.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: NodeLeaseNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", NodeLeaseNamespace, err)
	}
	return nil
}

// registerNodes creates the nodes and their Leases in parallel, retrying
// each until it succeeds or ctx ends.
func (s *Simulator) registerNodes(ctx context.Context) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opts.Workers)
	for i, n := range s.nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, n *simNode) {
			defer func() { <-sem; wg.Done() }()
			_ = wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 10 * time.Second},
				func(ctx context.Context) (bool, error) {
					if err := s.registerNode(ctx, i, n); err != nil {
						klog.V(2).InfoS("Registering simulated node failed; retrying", "node", n.name, "err", err)
						return false, nil
					}
					return true, nil
				})
		}(i, n)
	}
	wg.Wait()
	return ctx.Err()
}

func (s *Simulator) deleteNodes() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opts.Workers)
	for _, n := range s.nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func(n *simNode) {
			defer func() { <-sem; wg.Done() }()
			_ = s.client.CoreV1().Nodes().Delete(ctx, n.name, metav1.DeleteOptions{})
			_ = s.client.CoordinationV1().Leases(NodeLeaseNamespace).Delete(ctx, n.name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}(n)
	}
	wg.Wait()
}
