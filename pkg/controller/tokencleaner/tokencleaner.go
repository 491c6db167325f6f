// Package tokencleaner deletes expired bootstrap tokens, as upstream's
// token-cleaner: a bootstrap.kubernetes.io/token Secret in kube-system is
// deleted once its expiration passes (checked again at that time).
package tokencleaner

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstrapsecret "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Controller is the token cleaner; its queue holds Secret keys.
type Controller struct {
	client       kubernetes.Interface
	secretLister corelisters.SecretLister
	synced       cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	now          func() time.Time
}

// NewController returns the token cleaner.
func NewController(client kubernetes.Interface, secretInformer coreinformers.SecretInformer) (*Controller, error) {
	c := &Controller{
		client:       client,
		secretLister: secretInformer.Lister(),
		synced:       secretInformer.Informer().HasSynced,
		queue:        controller.NewQueue("token_cleaner"),
		now:          time.Now,
	}
	enqueue := func(obj interface{}) {
		s, ok := obj.(*corev1.Secret)
		if ok && s.Namespace == metav1.NamespaceSystem && s.Type == bootstrapapi.SecretTypeBootstrapToken {
			c.queue.Add(s.Namespace + "/" + s.Name)
		}
	}
	if _, err := secretInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch secrets: %w", err)
	}
	return c, nil
}

// Run cleans until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	controller.RunWorkers(ctx, "token_cleaner", c.queue, 1, c.sync, c.synced)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	s, err := c.secretLister.Secrets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ttl, expired := bootstrapsecret.GetExpiration(s, c.now())
	if !expired {
		if ttl > 0 {
			c.queue.AddAfter(key, ttl)
		}
		return nil
	}
	klog.FromContext(ctx).V(3).Info("Deleting expired secret", "secret", klog.KObj(s))
	opts := metav1.DeleteOptions{}
	if s.UID != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &s.UID}
	}
	if err := c.client.CoreV1().Secrets(namespace).Delete(ctx, name, opts); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired bootstrap token %s: %w", key, err)
	}
	return nil
}
