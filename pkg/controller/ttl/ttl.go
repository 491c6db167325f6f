// Package ttl is upstream's ttl controller: it annotates every node with
// node.alpha.kubernetes.io/ttl, the seconds a kubelet may cache Secrets and
// ConfigMaps for its pods, growing with the cluster's size so that big
// clusters put less watch and get load on the API server.
package ttl

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// boundary is a cluster-size band and its TTL. The bands overlap so that a
// cluster hovering at a limit does not flip every node back and forth.
type boundary struct {
	sizeMin, sizeMax, ttlSeconds int
}

// boundaries are upstream's.
var boundaries = []boundary{
	{sizeMin: 0, sizeMax: 100, ttlSeconds: 0},
	{sizeMin: 90, sizeMax: 500, ttlSeconds: 15},
	{sizeMin: 450, sizeMax: 1000, ttlSeconds: 30},
	{sizeMin: 900, sizeMax: 2000, ttlSeconds: 60},
	{sizeMin: 1800, sizeMax: math.MaxInt32, ttlSeconds: 300},
}

// Controller is the ttl controller; its queue holds node names.
type Controller struct {
	client     kubernetes.Interface
	nodeLister corelisters.NodeLister
	synced     cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]

	mu        sync.Mutex
	nodeCount int
	step      int // index in boundaries
}

// NewController returns the ttl controller.
func NewController(client kubernetes.Interface, nodes coreinformers.NodeInformer) (*Controller, error) {
	c := &Controller{client: client, nodeLister: nodes.Lister(), queue: controller.NewQueue("ttl")}
	reg, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			node, ok := obj.(*corev1.Node)
			if !ok {
				return
			}
			c.count(+1)
			c.queue.Add(node.Name)
		},
		// A node whose annotation was changed or that joined before the
		// band moved is corrected at its next update.
		UpdateFunc: func(_, cur interface{}) {
			if node, ok := cur.(*corev1.Node); ok {
				c.queue.Add(node.Name)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if _, ok := controller.ObjectFromTombstone(obj).(*corev1.Node); ok {
				c.count(-1)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

// count moves the node count by delta and the band with it.
func (c *Controller) count(delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeCount += delta
	for c.step+1 < len(boundaries) && c.nodeCount > boundaries[c.step].sizeMax {
		c.step++
	}
	for c.step > 0 && c.nodeCount < boundaries[c.step].sizeMin {
		c.step--
	}
}

// desiredTTL is the TTL of the current band, in seconds.
func (c *Controller) desiredTTL() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return boundaries[c.step].ttlSeconds
}

// Run annotates nodes until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWorkers(ctx, "ttl", c.queue, workers, c.sync, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := c.desiredTTL()
	if cur, err := strconv.Atoi(node.Annotations[corev1.ObjectTTLAnnotationKey]); err == nil && cur == want {
		return nil
	}
	patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"annotations": map[string]string{corev1.ObjectTTLAnnotationKey: strconv.Itoa(want)}}})
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set ttl annotation of node %s: %w", name, err)
	}
	klog.FromContext(ctx).V(2).Info("Changed node ttl annotation", "node", klog.KRef("", name), "ttlSeconds", want)
	return nil
}
