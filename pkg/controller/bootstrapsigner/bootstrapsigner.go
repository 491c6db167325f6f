// Package bootstrapsigner signs the cluster-info ConfigMap in kube-public
// with every bootstrap token that allows signing, as upstream's
// bootstrap-signer: for each unexpired token Secret in kube-system with
// usage-bootstrap-signing=true, the ConfigMap gets
// jws-kubeconfig-<token-id>, a detached JWS of its kubeconfig keyed by the
// token, so that a joining node can trust the cluster-info it reads
// anonymously; signatures of tokens that went away are removed.
package bootstrapsigner

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
	bootstrapsecret "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// queueKey is the one item of the queue: "sign cluster-info".
const queueKey = "kube-public/cluster-info"

// Controller is the bootstrap signer.
type Controller struct {
	client       kubernetes.Interface
	cmLister     corelisters.ConfigMapLister
	secretLister corelisters.SecretLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	now          func() time.Time
}

// NewController returns the bootstrap signer.
func NewController(client kubernetes.Interface, cmInformer coreinformers.ConfigMapInformer, secretInformer coreinformers.SecretInformer) (*Controller, error) {
	c := &Controller{
		client:       client,
		cmLister:     cmInformer.Lister(),
		secretLister: secretInformer.Lister(),
		synced:       []cache.InformerSynced{cmInformer.Informer().HasSynced, secretInformer.Informer().HasSynced},
		queue:        controller.NewQueue("bootstrap_signer_queue"),
		now:          time.Now,
	}
	cmChanged := func(obj interface{}) {
		if cm, ok := controller.ObjectFromTombstone(obj).(*corev1.ConfigMap); ok &&
			cm.Namespace == metav1.NamespacePublic && cm.Name == bootstrapapi.ConfigMapClusterInfo {
			c.queue.Add(queueKey)
		}
	}
	if _, err := cmInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    cmChanged,
		UpdateFunc: func(_, cur interface{}) { cmChanged(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch config maps: %w", err)
	}
	secretChanged := func(obj interface{}) {
		if s, ok := controller.ObjectFromTombstone(obj).(*corev1.Secret); ok &&
			s.Namespace == metav1.NamespaceSystem && s.Type == bootstrapapi.SecretTypeBootstrapToken {
			c.queue.Add(queueKey)
		}
	}
	if _, err := secretInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    secretChanged,
		UpdateFunc: func(_, cur interface{}) { secretChanged(cur) },
		DeleteFunc: secretChanged,
	}); err != nil {
		return nil, fmt.Errorf("watch secrets: %w", err)
	}
	return c, nil
}

// Run signs until ctx ends; tokens expire without events, so the
// ConfigMap is also re-signed every minute.
func (c *Controller) Run(ctx context.Context) {
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.queue.Add(queueKey)
			}
		}
	}()
	controller.RunWorkers(ctx, "bootstrap_signer_queue", c.queue, 1, c.sign, c.synced...)
}

// sign makes the cluster-info signatures match the signing tokens.
func (c *Controller) sign(ctx context.Context, _ string) error {
	cm, err := c.cmLister.ConfigMaps(metav1.NamespacePublic).Get(bootstrapapi.ConfigMapClusterInfo)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	content, ok := cm.Data[bootstrapapi.KubeConfigKey]
	if !ok {
		klog.FromContext(ctx).V(3).Info("No key in ConfigMap", "key", bootstrapapi.KubeConfigKey, "configMap", klog.KObj(cm))
		return nil
	}
	updated := cm.DeepCopy()
	old := map[string]string{}
	for k, v := range updated.Data {
		if id, ok := strings.CutPrefix(k, bootstrapapi.JWSSignatureKeyPrefix); ok {
			old[id] = v
			delete(updated.Data, k)
		}
	}
	tokens, err := c.signingTokens(ctx)
	if err != nil {
		return err
	}
	changed := false
	for id, secret := range tokens {
		sig, err := jws.ComputeDetachedSignature(content, id, secret)
		if err != nil {
			return fmt.Errorf("sign cluster-info with token %s: %w", id, err)
		}
		if old[id] != sig {
			changed = true
		}
		delete(old, id)
		updated.Data[bootstrapapi.JWSSignatureKeyPrefix+id] = sig
	}
	if len(old) > 0 {
		changed = true
	}
	if !changed {
		return nil
	}
	_, err = c.client.CoreV1().ConfigMaps(metav1.NamespacePublic).Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // a newer version or none: its own event follows
	}
	return err
}

// signingTokens are the token IDs and secrets that may sign.
func (c *Controller) signingTokens(ctx context.Context) (map[string]string, error) {
	secrets, err := c.secretLister.Secrets(metav1.NamespaceSystem).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	logger := klog.FromContext(ctx)
	tokens := map[string]string{}
	for _, s := range secrets {
		if s.Type != bootstrapapi.SecretTypeBootstrapToken {
			continue
		}
		nameID, ok := bootstrapsecret.ParseName(s.Name)
		if !ok {
			logger.V(3).Info("Invalid secret name, must be of the form "+bootstrapapi.BootstrapTokenSecretPrefix+"<secret-id>", "secretName", s.Name)
			continue
		}
		id := bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenIDKey)
		secret := bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenSecretKey)
		if id == "" || id != nameID || secret == "" {
			continue
		}
		if bootstrapsecret.HasExpired(s, c.now()) || bootstrapsecret.GetData(s, bootstrapapi.BootstrapTokenUsageSigningKey) != "true" {
			continue
		}
		if _, dup := tokens[id]; dup {
			logger.V(1).Info("Duplicate bootstrap tokens found for id, ignoring on the duplicate secret", "tokenID", id, "ignoredSecret", klog.KObj(s))
			continue
		}
		tokens[id] = secret
	}
	return tokens, nil
}
