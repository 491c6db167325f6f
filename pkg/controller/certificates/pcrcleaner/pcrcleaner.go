// Package pcrcleaner deletes PodCertificateRequests 15 minutes after they
// were made, as upstream's podcertificaterequest-cleaner: a kubelet has
// read the issued certificate (or given up) long before, and each refresh
// of a pod certificate makes a new request, so without it they pile up.
package pcrcleaner

import (
	"context"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	certificatesinformers "k8s.io/client-go/informers/certificates/v1"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

const (
	// maxAge is upstream's: every request flow ends well within it.
	maxAge          = 15 * time.Minute
	pollingInterval = 5 * time.Minute
)

// Controller is the PodCertificateRequest cleaner.
type Controller struct {
	client kubernetes.Interface
	lister certificateslisters.PodCertificateRequestLister
	synced cache.InformerSynced
	now    func() time.Time
}

// NewController returns the PodCertificateRequest cleaner.
func NewController(client kubernetes.Interface, pcrs certificatesinformers.PodCertificateRequestInformer) *Controller {
	return &Controller{client: client, lister: pcrs.Lister(), synced: pcrs.Informer().HasSynced, now: time.Now}
}

// Run sweeps every five minutes until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced) {
		return
	}
	wait.UntilWithContext(ctx, c.sweep, pollingInterval)
}

func (c *Controller) sweep(ctx context.Context) {
	pcrs, err := c.lister.List(labels.Everything())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Unable to list PodCertificateRequests")
		return
	}
	for _, pcr := range pcrs {
		if c.now().Before(pcr.CreationTimestamp.Add(maxAge)) {
			continue
		}
		c.delete(ctx, pcr)
	}
}

// delete removes the request, only if it is still the object listed (a
// request re-created under the same name stays).
func (c *Controller) delete(ctx context.Context, pcr *certificatesv1.PodCertificateRequest) {
	uid := pcr.UID
	err := c.client.CertificatesV1().PodCertificateRequests(pcr.Namespace).Delete(ctx, pcr.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.FromContext(ctx).Error(err, "Cannot delete an old PodCertificateRequest", "request", klog.KObj(pcr))
		return
	}
	klog.FromContext(ctx).V(4).Info("Deleted old PodCertificateRequest", "request", klog.KObj(pcr))
}
