// Package cleaner deletes finished CertificateSigningRequests, as
// upstream's csrcleaner: issued or denied or failed ones an hour after
// that, pending or approved-but-unissued ones after a day, and any whose
// certificate expired. It sweeps hourly.
package cleaner

import (
	"context"
	"crypto/x509"
	"encoding/pem"
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
	pollingInterval    = time.Hour
	approvedExpiration = time.Hour
	deniedExpiration   = time.Hour
	pendingExpiration  = 24 * time.Hour
)

// Controller is the CSR cleaner.
type Controller struct {
	client kubernetes.Interface
	lister certificateslisters.CertificateSigningRequestLister
	synced cache.InformerSynced
	now    func() time.Time
}

// NewController returns the CSR cleaner.
func NewController(client kubernetes.Interface, csrInformer certificatesinformers.CertificateSigningRequestInformer) *Controller {
	return &Controller{client: client, lister: csrInformer.Lister(), synced: csrInformer.Informer().HasSynced, now: time.Now}
}

// Run sweeps hourly until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced) {
		return
	}
	wait.UntilWithContext(ctx, c.sweep, pollingInterval)
}

func (c *Controller) sweep(ctx context.Context) {
	csrs, err := c.lister.List(labels.Everything())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Unable to list CSRs")
		return
	}
	for _, csr := range csrs {
		if reason := c.expired(csr); reason != "" {
			klog.FromContext(ctx).Info("Cleaning CSR", "csr", csr.Name, "reason", reason)
			if err := c.client.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				klog.FromContext(ctx).Error(err, "Error while attempting to clean CSR", "csr", csr.Name)
			}
		}
	}
}

// expired says why a CSR should go, or "".
func (c *Controller) expired(csr *certificatesv1.CertificateSigningRequest) string {
	older := func(t metav1.Time, d time.Duration) bool { return !t.IsZero() && c.now().Sub(t.Time) > d }
	issued := len(csr.Status.Certificate) > 0
	if len(csr.Status.Conditions) == 0 && older(csr.CreationTimestamp, pendingExpiration) {
		return "pending for more than a day"
	}
	for _, cond := range csr.Status.Conditions {
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			if issued && older(cond.LastUpdateTime, approvedExpiration) {
				return "issued more than an hour ago"
			}
			if !issued && older(cond.LastUpdateTime, pendingExpiration) {
				return "approved but unissued for more than a day"
			}
			if issued && c.certificateExpired(csr) {
				return "certificate expired"
			}
		case certificatesv1.CertificateDenied:
			if older(cond.LastUpdateTime, deniedExpiration) {
				return "denied more than an hour ago"
			}
		case certificatesv1.CertificateFailed:
			if older(cond.LastUpdateTime, deniedExpiration) {
				return "failed more than an hour ago"
			}
		}
	}
	return ""
}

func (c *Controller) certificateExpired(csr *certificatesv1.CertificateSigningRequest) bool {
	block, _ := pem.Decode(csr.Status.Certificate)
	if block == nil {
		return false
	}
	certs, err := x509.ParseCertificates(block.Bytes)
	if err != nil || len(certs) == 0 {
		return false
	}
	return c.now().After(certs[0].NotAfter)
}
