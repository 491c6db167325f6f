// Package certificates holds what the CertificateSigningRequest
// controllers (approver, signer, cleaner) share: a queue of CSR names fed
// by the CSR informer and the reading of CSR conditions.
package certificates

import (
	"context"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	certificatesinformers "k8s.io/client-go/informers/certificates/v1"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Handler acts on a CSR that has no certificate yet (a copy it may edit).
type Handler func(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error

// IgnorableError is a failure worth retrying but not worth logging as an
// error (a CSR recognized but not authorized).
type IgnorableError string

func (e IgnorableError) Error() string { return string(e) }

// Controller runs a Handler over CSRs.
type Controller struct {
	name    string
	lister  certificateslisters.CertificateSigningRequestLister
	synced  cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
	handler Handler
}

// NewController returns a controller that calls handler for every CSR
// added or changed.
func NewController(name string, csrInformer certificatesinformers.CertificateSigningRequestInformer, handler Handler) (*Controller, error) {
	c := &Controller{
		name:    name,
		lister:  csrInformer.Lister(),
		synced:  csrInformer.Informer().HasSynced,
		queue:   controller.NewQueue(name),
		handler: handler,
	}
	enqueue := func(obj interface{}) {
		if csr, ok := controller.ObjectFromTombstone(obj).(*certificatesv1.CertificateSigningRequest); ok {
			c.queue.Add(csr.Name)
		}
	}
	if _, err := csrInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch certificate signing requests: %w", err)
	}
	return c, nil
}

// Run handles CSRs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for c.processNext(ctx) {
			}
		}, time.Second)
	}
	<-ctx.Done()
}

// processNext syncs one CSR: failures are retried with back-off, the
// ignorable ones without an error in the log.
func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	err := c.sync(ctx, name)
	var ignorable IgnorableError
	switch {
	case err == nil:
		c.queue.Forget(name)
	case errors.As(err, &ignorable):
		klog.FromContext(ctx).V(4).Info("Sync of CSR failed", "csr", name, "err", err)
		c.queue.AddRateLimited(name)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Sync of CSR failed", "csr", name)
		c.queue.AddRateLimited(name)
	}
	return true
}

func (c *Controller) sync(ctx context.Context, name string) error {
	csr, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(csr.Status.Certificate) > 0 {
		return nil // issued: nothing left to do
	}
	return c.handler(ctx, csr.DeepCopy())
}

// ApprovalState reports whether a CSR is approved or denied.
func ApprovalState(status *certificatesv1.CertificateSigningRequestStatus) (approved, denied bool) {
	for _, c := range status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		}
	}
	return approved, denied
}

// HasTrueCondition reports whether a CSR has condition t with status True
// (or no status, as in older objects).
func HasTrueCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t && (c.Status == "" || c.Status == corev1.ConditionTrue) {
			return true
		}
	}
	return false
}

// IsApproved: approved and not denied.
func IsApproved(csr *certificatesv1.CertificateSigningRequest) bool {
	approved, denied := ApprovalState(&csr.Status)
	return approved && !denied
}
