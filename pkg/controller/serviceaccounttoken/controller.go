// Package serviceaccounttoken is upstream's service-account tokens
// controller: a Secret of type kubernetes.io/service-account-token that a
// user creates for a service account gets a long-lived (legacy) token, the
// cluster CA and the namespace; such Secrets are deleted when their service
// account goes. Nothing creates them automatically any more, as upstream.
package serviceaccounttoken

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
)

// Controller fills and cleans up service-account token Secrets.
type Controller struct {
	client  kubernetes.Interface
	signer  *serviceaccount.Generator
	rootCA  []byte
	secrets corev1listers.SecretLister
	sas     corev1listers.ServiceAccountLister
	synced  []cache.InformerSynced

	secretQueue workqueue.TypedRateLimitingInterface[secretKey]
	saQueue     workqueue.TypedRateLimitingInterface[saKey]
}

// secretKey names a token Secret and the service account it is for.
type secretKey struct {
	namespace, name string
	uid             types.UID
	saName          string
	saUID           types.UID
}

// saKey names a deleted service account.
type saKey struct {
	namespace, name string
	uid             types.UID
}

// NewSecretInformer watches only service-account token Secrets, as
// upstream does, so that the controller does not cache every Secret.
func NewSecretInformer(client kubernetes.Interface, resync time.Duration) coreinformers.SecretInformer {
	return informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String()
	})).Core().V1().Secrets()
}

// NewController signs legacy tokens with signer (issuer
// kubernetes/serviceaccount) and publishes rootCA as ca.crt.
func NewController(sas coreinformers.ServiceAccountInformer, secrets coreinformers.SecretInformer, client kubernetes.Interface, signer *serviceaccount.Generator, rootCA []byte) (*Controller, error) {
	c := &Controller{
		client:  client,
		signer:  signer,
		rootCA:  rootCA,
		secrets: secrets.Lister(),
		sas:     sas.Lister(),
		synced:  []cache.InformerSynced{sas.Informer().HasSynced, secrets.Informer().HasSynced},
		secretQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[secretKey](),
			workqueue.TypedRateLimitingQueueConfig[secretKey]{Name: "serviceaccount_tokens_secret"}),
		saQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[saKey](),
			workqueue.TypedRateLimitingQueueConfig[saKey]{Name: "serviceaccount_tokens_service"}),
	}
	if _, err := sas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.enqueueDeletedServiceAccount}); err != nil {
		return nil, err
	}
	enqueue := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok && s.Type == corev1.SecretTypeServiceAccountToken {
			c.secretQueue.Add(secretKey{namespace: s.Namespace, name: s.Name, uid: s.UID,
				saName: s.Annotations[corev1.ServiceAccountNameKey], saUID: types.UID(s.Annotations[corev1.ServiceAccountUIDKey])})
		}
	}
	_, err := secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) enqueueDeletedServiceAccount(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if sa, ok := obj.(*corev1.ServiceAccount); ok {
		c.saQueue.Add(saKey{namespace: sa.Namespace, name: sa.Name, uid: sa.UID})
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	logger := klog.FromContext(ctx)
	logger.Info("Starting service account tokens controller")
	var wg sync.WaitGroup
	defer func() {
		c.secretQueue.ShutDown()
		c.saQueue.ShutDown()
		wg.Wait()
		logger.Info("Shutting down service account tokens controller")
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return
	}
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) { processAll(ctx, c.secretQueue, c.syncSecret) }, 0)
		})
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) { processAll(ctx, c.saQueue, c.syncDeletedServiceAccount) }, 0)
		})
	}
	<-ctx.Done()
}

// maxRetries bounds retries of one key, as upstream's controller.
const maxRetries = 10

func processAll[K comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[K], sync func(context.Context, K) (bool, error)) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		retry, err := sync(ctx, key)
		if err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Syncing service account token", "key", key)
		}
		if retry && q.NumRequeues(key) < maxRetries {
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

func (c *Controller) syncDeletedServiceAccount(ctx context.Context, key saKey) (bool, error) {
	sa, err := c.serviceAccount(ctx, key.namespace, key.name, key.uid, false)
	if err != nil || sa != nil {
		return err != nil, err
	}
	secrets, err := c.secrets.Secrets(key.namespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	retry := false
	var errs []error
	for _, s := range secrets {
		if s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] != key.name {
			continue
		}
		if uid := s.Annotations[corev1.ServiceAccountUIDKey]; uid != "" && key.uid != "" && types.UID(uid) != key.uid {
			continue
		}
		if r, err := c.deleteSecret(ctx, s.Namespace, s.Name, s.UID); err != nil {
			errs = append(errs, err)
			retry = retry || r
		}
	}
	if len(errs) > 0 {
		return retry, fmt.Errorf("delete tokens of service account %s/%s: %v", key.namespace, key.name, errs)
	}
	return false, nil
}

func (c *Controller) syncSecret(ctx context.Context, key secretKey) (bool, error) {
	secret, err := c.secrets.Secrets(key.namespace).Get(key.name)
	if apierrors.IsNotFound(err) || (err == nil && key.uid != "" && secret.UID != key.uid) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	sa, err := c.serviceAccount(ctx, key.namespace, key.saName, key.saUID, true)
	switch {
	case err != nil:
		return true, err
	case sa == nil:
		// The service account is gone (or was never there): so goes its token.
		klog.FromContext(ctx).V(4).Info("Service account does not exist, deleting token", "secret", klog.KRef(key.namespace, key.name))
		return c.deleteSecret(ctx, key.namespace, key.name, key.uid)
	}
	return c.fill(ctx, sa, secret)
}

// serviceAccount returns the named service account (nil when missing or
// when its UID is not uid), asking the API on a cache miss if live.
func (c *Controller) serviceAccount(ctx context.Context, ns, name string, uid types.UID, live bool) (*corev1.ServiceAccount, error) {
	if name == "" {
		return nil, nil
	}
	sa, err := c.sas.ServiceAccounts(ns).Get(name)
	if apierrors.IsNotFound(err) && live {
		sa, err = c.client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if uid != "" && sa.UID != uid {
		return nil, nil
	}
	return sa, nil
}

func (c *Controller) deleteSecret(ctx context.Context, ns, name string, uid types.UID) (bool, error) {
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.client.CoreV1().Secrets(ns).Delete(ctx, name, opts)
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return false, nil
	}
	return true, err
}

// needs reports what the secret lacks: the current CA, its namespace, a
// token.
func (c *Controller) needs(s *corev1.Secret) (ca, namespace, token bool) {
	return len(c.rootCA) > 0 && !bytes.Equal(s.Data[corev1.ServiceAccountRootCAKey], c.rootCA),
		len(s.Data[corev1.ServiceAccountNamespaceKey]) == 0,
		len(s.Data[corev1.ServiceAccountTokenKey]) == 0
}

// fill writes what the secret lacks, to the live copy if the cache is
// current (a stale cache is resynced by the update event to come).
func (c *Controller) fill(ctx context.Context, sa *corev1.ServiceAccount, cached *corev1.Secret) (bool, error) {
	if ca, ns, tok := c.needs(cached); !ca && !ns && !tok {
		return false, nil
	}
	secrets := c.client.CoreV1().Secrets(cached.Namespace)
	live, err := secrets.Get(ctx, cached.Name, metav1.GetOptions{})
	if err != nil {
		return !apierrors.IsNotFound(err), err
	}
	if live.ResourceVersion != cached.ResourceVersion {
		return false, nil
	}
	needsCA, needsNamespace, needsToken := c.needs(live)
	if live.Annotations == nil {
		live.Annotations = map[string]string{}
	}
	if live.Data == nil {
		live.Data = map[string][]byte{}
	}
	if needsCA {
		live.Data[corev1.ServiceAccountRootCAKey] = c.rootCA
	}
	if needsNamespace {
		live.Data[corev1.ServiceAccountNamespaceKey] = []byte(live.Namespace)
	}
	if needsToken {
		claims, private := serviceaccount.LegacyClaims(sa, live)
		token, err := c.signer.GenerateToken(claims, private)
		if err != nil {
			return false, fmt.Errorf("sign token for %s/%s: %w", live.Namespace, live.Name, err)
		}
		live.Data[corev1.ServiceAccountTokenKey] = []byte(token)
	}
	live.Annotations[corev1.ServiceAccountNameKey] = sa.Name
	live.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	_, err = secrets.Update(ctx, live, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return false, nil
	}
	return err != nil, err
}
