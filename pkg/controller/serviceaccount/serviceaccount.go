// Package serviceaccount keeps the "default" ServiceAccount in every active
// namespace: it creates it when a namespace appears and again whenever it is
// deleted.
package serviceaccount

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// DefaultServiceAccounts are the accounts every namespace gets, as upstream.
func DefaultServiceAccounts() []string { return []string{"default"} }

// Controller ensures the named ServiceAccounts exist in every active
// namespace. The queue holds namespace names.
type Controller struct {
	client   kubernetes.Interface
	accounts []string

	saLister corelisters.ServiceAccountLister
	nsLister corelisters.NamespaceLister
	synced   []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a controller that keeps accounts in every active
// namespace.
func NewController(client kubernetes.Interface, saInformer coreinformers.ServiceAccountInformer, nsInformer coreinformers.NamespaceInformer, accounts []string) (*Controller, error) {
	c := &Controller{
		client:   client,
		accounts: accounts,
		saLister: saInformer.Lister(),
		nsLister: nsInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"},
		),
	}
	saHandler, err := saInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if sa := serviceAccountFrom(obj); sa != nil {
				c.queue.Add(sa.Namespace)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch service accounts: %w", err)
	}
	nsHandler, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.queue.Add(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, obj interface{}) { c.queue.Add(obj.(*corev1.Namespace).Name) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	c.synced = []cache.InformerSynced{saHandler.HasSynced, nsHandler.HasSynced}
	return c, nil
}

func serviceAccountFrom(obj interface{}) *corev1.ServiceAccount {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	sa, _ := obj.(*corev1.ServiceAccount)
	return sa
}

// Run processes namespaces with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting service account controller")
	var wg sync.WaitGroup
	defer func() {
		logger.Info("Shutting down service account controller")
		c.queue.ShutDown()
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, c.worker, time.Second) })
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncHandler(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing service accounts failed", "namespace", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// syncHandler creates the missing accounts of one namespace.
func (c *Controller) syncHandler(ctx context.Context, namespace string) error {
	ns, err := c.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	// A terminating namespace rejects creates; nothing to do there.
	if ns.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	var errs []error
	for _, name := range c.accounts {
		_, err := c.saLister.ServiceAccounts(namespace).Get(name)
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get service account %s/%s: %w", namespace, name, err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		_, err = c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			continue
		}
		errs = append(errs, fmt.Errorf("create service account %s/%s: %w", namespace, name, err))
	}
	return utilerrors.NewAggregate(errs)
}
