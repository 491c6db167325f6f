// Package nodeipam gives every node its pod subnets, as upstream's range
// allocator: one node-sized subnet (a /24 of 10.244.0.0/16 by default) of
// each cluster CIDR, written to spec.podCIDR and spec.podCIDRs. Subnets
// nodes already have are taken as used at start, freed when their node is
// deleted, and handed out round-robin.
package nodeipam

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Workers and attempts, upstream's.
const (
	cidrUpdateWorkers = 30
	cidrUpdateRetries = 3
)

// Controller allocates node pod CIDRs; its queue holds node names.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)
	nodeLister  corelisters.NodeLister
	synced      cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	sets        []*cidrSet

	// assigned holds nodes patched with CIDRs the node informer may not
	// show yet, so that a stale cache does not get them a second set.
	mu       sync.Mutex
	assigned map[string]bool
}

// ParseClusterCIDRs parses --cluster-cidr (comma-separated, at most one
// per IP family) and returns each with its node mask size: maskIPv4 for
// IPv4, maskIPv6 for IPv6.
func ParseClusterCIDRs(clusterCIDR string, maskIPv4, maskIPv6 int) ([]*net.IPNet, []int, error) {
	var cidrs []*net.IPNet
	var masks []int
	for _, s := range strings.Split(clusterCIDR, ",") {
		_, cidr, err := netutils.ParseCIDRSloppy(strings.TrimSpace(s))
		if err != nil {
			return nil, nil, fmt.Errorf("--cluster-cidr %q: %w", clusterCIDR, err)
		}
		cidrs = append(cidrs, cidr)
		if netutils.IsIPv6CIDR(cidr) {
			masks = append(masks, maskIPv6)
		} else {
			masks = append(masks, maskIPv4)
		}
	}
	if len(cidrs) > 2 {
		return nil, nil, fmt.Errorf("--cluster-cidr %q: at most two CIDRs (one per IP family)", clusterCIDR)
	}
	if len(cidrs) == 2 {
		if dual, err := netutils.IsDualStackCIDRs(cidrs); err != nil || !dual {
			return nil, nil, fmt.Errorf("--cluster-cidr %q: two CIDRs must be of different IP families", clusterCIDR)
		}
	}
	return cidrs, masks, nil
}

// NewController returns the allocator of node subnets of clusterCIDRs.
func NewController(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer, clusterCIDRs []*net.IPNet, nodeMasks []int) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "cidrAllocator")
	c := &Controller{
		client:      client,
		recorder:    recorder,
		startEvents: start,
		nodeLister:  nodeInformer.Lister(),
		synced:      nodeInformer.Informer().HasSynced,
		queue:       controller.NewQueue("cidrallocator_node"),
		assigned:    map[string]bool{},
	}
	for i, cidr := range clusterCIDRs {
		set, err := newCIDRSet(cidr, nodeMasks[i])
		if err != nil {
			return nil, err
		}
		c.sets = append(c.sets, set)
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.queue.Add(obj.(*corev1.Node).Name) },
		UpdateFunc: func(_, cur interface{}) { c.queue.Add(cur.(*corev1.Node).Name) },
		DeleteFunc: func(obj interface{}) {
			node, ok := controller.ObjectFromTombstone(obj).(*corev1.Node)
			if !ok {
				return
			}
			c.mu.Lock()
			delete(c.assigned, node.Name)
			c.mu.Unlock()
			if err := c.release(node); err != nil {
				utilruntime.HandleError(fmt.Errorf("release pod CIDRs of node %s: %w", node.Name, err))
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	return c, nil
}

// Run allocates until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.startEvents(ctx)
	if cache.WaitForCacheSync(ctx.Done(), c.synced) {
		c.occupyExisting(ctx)
	}
	controller.RunWorkers(ctx, "cidrallocator_node", c.queue, cidrUpdateWorkers, c.syncNode, c.synced)
}

// occupyExisting marks every node's subnets used before any allocation,
// so that no subnet is handed out twice after a restart.
func (c *Controller) occupyExisting(ctx context.Context) {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "List nodes to occupy their pod CIDRs")
		return
	}
	for _, n := range nodes {
		if err := c.occupy(n); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Node has a pod CIDR outside the cluster CIDR", "node", n.Name)
		}
	}
}

func (c *Controller) occupy(node *corev1.Node) error {
	for i, s := range node.Spec.PodCIDRs {
		_, cidr, err := netutils.ParseCIDRSloppy(s)
		if err != nil {
			return fmt.Errorf("failed to parse node %s, CIDR %s", node.Name, s)
		}
		if i >= len(c.sets) {
			return fmt.Errorf("node:%s has an allocated cidr: %v at index:%v that does not exist in cluster cidrs configuration", node.Name, s, i)
		}
		if err := c.sets[i].occupy(cidr); err != nil {
			return fmt.Errorf("failed to mark cidr[%v] at idx [%v] as occupied for node: %v: %w", cidr, i, node.Name, err)
		}
	}
	return nil
}

func (c *Controller) release(node *corev1.Node) error {
	for i, s := range node.Spec.PodCIDRs {
		_, cidr, err := netutils.ParseCIDRSloppy(s)
		if err != nil || i >= len(c.sets) {
			continue
		}
		if err := c.sets[i].release(cidr); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) syncNode(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if node.DeletionTimestamp != nil {
		return nil
	}
	c.mu.Lock()
	pending := c.assigned[name]
	if len(node.Spec.PodCIDRs) > 0 {
		delete(c.assigned, name)
	}
	c.mu.Unlock()
	if len(node.Spec.PodCIDRs) > 0 {
		return c.occupy(node)
	}
	if pending {
		return nil // our patch is not in the cache yet
	}
	var cidrs []*net.IPNet
	for i, set := range c.sets {
		cidr, err := set.allocateNext()
		if err != nil {
			for j, got := range cidrs {
				_ = c.sets[j].release(got)
			}
			c.recordStatus(node, "CIDRNotAvailable")
			return fmt.Errorf("failed to allocate cidr from cluster cidr at idx:%v: %w", i, err)
		}
		cidrs = append(cidrs, cidr)
	}
	strs := make([]string, len(cidrs))
	for i, cidr := range cidrs {
		strs[i] = cidr.String()
	}
	for i := 0; i < cidrUpdateRetries; i++ {
		if err = nodeutil.PatchNodeCIDRs(ctx, c.client, types.NodeName(node.Name), strs); err == nil {
			c.mu.Lock()
			c.assigned[name] = true
			c.mu.Unlock()
			klog.FromContext(ctx).Info("Set node PodCIDR", "node", klog.KObj(node), "podCIDRs", strs)
			return nil
		}
	}
	c.recordStatus(node, "CIDRAssignmentFailed")
	if !apierrors.IsServerTimeout(err) {
		for i, cidr := range cidrs {
			_ = c.sets[i].release(cidr)
		}
	}
	return err
}

// recordStatus posts upstream's node status change event.
func (c *Controller) recordStatus(node *corev1.Node, status string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	c.recorder.Eventf(ref, corev1.EventTypeNormal, status, "Node %s status is now: %s", node.Name, status)
}
