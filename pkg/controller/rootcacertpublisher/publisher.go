// Package rootcacertpublisher publishes the cluster CA as the ConfigMap
// kube-root-ca.crt (key ca.crt) in every namespace, so that pods can verify
// the API server, and puts it back whenever it is changed or deleted.
package rootcacertpublisher

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

const (
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// DataKey holds the PEM bundle.
	DataKey = "ca.crt"
	// DescriptionAnnotation and Description are upstream's, word for word.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Publisher keeps kube-root-ca.crt in every namespace. The queue holds
// namespace names.
type Publisher struct {
	client kubernetes.Interface
	rootCA []byte

	cmLister corelisters.ConfigMapLister
	nsLister corelisters.NamespaceLister
	synced   []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a publisher of rootCA (PEM).
func NewController(client kubernetes.Interface, cmInformer coreinformers.ConfigMapInformer, nsInformer coreinformers.NamespaceInformer, rootCA []byte) (*Publisher, error) {
	if len(rootCA) == 0 {
		return nil, fmt.Errorf("root CA bundle is empty")
	}
	p := &Publisher{
		client:   client,
		rootCA:   rootCA,
		cmLister: cmInformer.Lister(),
		nsLister: nsInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "root_ca_cert_publisher"},
		),
	}
	cmHandler, err := cmInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) { p.configMapChanged(obj) },
		DeleteFunc: p.configMapChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("watch config maps: %w", err)
	}
	nsHandler, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { p.queue.Add(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, obj interface{}) {
			if ns := obj.(*corev1.Namespace); ns.Status.Phase == corev1.NamespaceActive {
				p.queue.Add(ns.Name)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	p.synced = []cache.InformerSynced{cmHandler.HasSynced, nsHandler.HasSynced}
	return p, nil
}

func (p *Publisher) configMapChanged(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || cm.Name != ConfigMapName {
		return
	}
	p.queue.Add(cm.Namespace)
}

// Run processes namespaces with the given number of workers until ctx ends.
func (p *Publisher) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting root CA cert publisher controller")
	var wg sync.WaitGroup
	defer func() {
		logger.Info("Shutting down root CA cert publisher controller")
		p.queue.ShutDown()
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, p.synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, p.worker, time.Second) })
	}
	<-ctx.Done()
}

func (p *Publisher) worker(ctx context.Context) {
	for p.processNext(ctx) {
	}
}

func (p *Publisher) processNext(ctx context.Context) bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)
	if err := p.syncHandler(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Publishing the root CA failed", "namespace", key)
		p.queue.AddRateLimited(key)
		return true
	}
	p.queue.Forget(key)
	return true
}

// syncHandler creates or corrects kube-root-ca.crt in one namespace.
func (p *Publisher) syncHandler(ctx context.Context, namespace string) error {
	ns, err := p.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	want := map[string]string{DataKey: string(p.rootCA)}
	cm, err := p.cmLister.ConfigMaps(namespace).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		_, err = p.client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:        ConfigMapName,
				Annotations: map[string]string{DescriptionAnnotation: Description},
			},
			Data: want,
		}, metav1.CreateOptions{})
		// The namespace went away or started terminating: nothing to keep.
		if apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create %s/%s: %w", namespace, ConfigMapName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", namespace, ConfigMapName, err)
	}
	// Only the data and the description are ours; other annotations and
	// labels a user added stay.
	if maps.Equal(cm.Data, want) && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = want
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	if _, err := p.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update %s/%s: %w", namespace, ConfigMapName, err)
	}
	return nil
}
