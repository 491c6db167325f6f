// Package ctbpublisher is upstream's
// kube-apiserver-serving-clustertrustbundle-publisher: it publishes the CA
// that signs the API server's serving certificate as a ClusterTrustBundle of
// the signer kubernetes.io/kube-apiserver-serving, named after the signer and
// a hash of the bundle, and deletes the signer's other bundles, so pods can
// mount the API server's CA through a clusterTrustBundle projected volume.
package ctbpublisher

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	certificatesinformers "k8s.io/client-go/informers/certificates/v1"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// SignerName is the signer whose bundle is published.
const SignerName = "kubernetes.io/kube-apiserver-serving"

// queueKey is the only key: every event means "check the signer's bundles".
const queueKey = "bundle"

// Controller is the publisher.
type Controller struct {
	client   kubernetes.Interface
	informer cache.SharedIndexInformer
	lister   certificateslisters.ClusterTrustBundleLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	caBundle string
	name     string
}

// NewController returns the publisher of caBundle (PEM). It watches only
// the signer's bundles through an informer of its own, which Run starts.
func NewController(client kubernetes.Interface, caBundle []byte, resync time.Duration) (*Controller, error) {
	informer := certificatesinformers.NewFilteredClusterTrustBundleInformer(client, resync, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.signerName", SignerName).String()
	})
	c := &Controller{
		client:   client,
		informer: informer,
		lister:   certificateslisters.NewClusterTrustBundleLister(informer.GetIndexer()),
		queue:    controller.NewQueue("clustertrustbundle-publisher"),
		caBundle: string(caBundle),
		name:     BundleName(SignerName, caBundle),
	}
	enqueue := func(interface{}) { c.queue.Add(queueKey) }
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
		DeleteFunc: enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("watch cluster trust bundles: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

// BundleName is upstream's: the signer with '/' as ':', a colon, and the
// hex of the first 12 bytes of the bundle's SHA-256.
func BundleName(signer string, bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return fmt.Sprintf("%s:%x", strings.ReplaceAll(signer, "/", ":"), sum[:12])
}

// Run publishes until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	go c.informer.RunWithContext(ctx)
	c.queue.Add(queueKey) // publish even when no bundle exists yet
	controller.RunWorkers(ctx, "clustertrustbundle-publisher", c.queue, 1, c.sync, c.synced)
}

func (c *Controller) sync(ctx context.Context, _ string) error {
	bundles := c.client.CertificatesV1().ClusterTrustBundles()
	cur, err := c.lister.Get(c.name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = bundles.Create(ctx, &certificatesv1.ClusterTrustBundle{
			ObjectMeta: metav1.ObjectMeta{Name: c.name},
			Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: SignerName, TrustBundle: c.caBundle},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil // the informer has not seen it yet
		}
	case err == nil && cur.Spec.TrustBundle != c.caBundle:
		cur = cur.DeepCopy()
		cur.Spec.TrustBundle = c.caBundle
		_, err = bundles.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("publish ClusterTrustBundle %s: %w", c.name, err)
	}
	all, err := c.lister.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range all {
		if b.Name == c.name {
			continue
		}
		if err := bundles.Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete old ClusterTrustBundle %s: %w", b.Name, err))
			continue
		}
		klog.FromContext(ctx).V(2).Info("Deleted an old ClusterTrustBundle of the signer", "bundle", b.Name, "signer", SignerName)
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
