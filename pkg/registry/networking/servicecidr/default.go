package servicecidr

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1apply "k8s.io/client-go/applyconfigurations/networking/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	"k8s.io/klog/v2"
)

const (
	// DefaultName is the ServiceCIDR made from --service-cluster-ip-range.
	DefaultName = "kubernetes"
	// DefaultHookName is the post-start hook that keeps it.
	DefaultHookName = "start-kubernetes-service-cidr-controller"
	// defaultFieldManager is upstream's manager of the default's status.
	defaultFieldManager = "kubernetes-service-cidr-controller"
	// defaultSyncInterval is how often the default is checked (and
	// recreated if deleted), as upstream.
	defaultSyncInterval = 10 * time.Second
)

// DefaultController keeps the default ServiceCIDR "kubernetes" as upstream's
// kube-apiserver does: it creates it from the service IP ranges when
// missing, and sets its Ready condition when it matches them. It never
// changes the CIDRs of an existing one (only a single- to dual-stack
// upgrade), and leaves a ServiceCIDR being deleted to the controller manager.
type DefaultController struct {
	client networkingv1client.ServiceCIDRsGetter
	cidrs  []string
	// reported* silence repeated logs about the same problem.
	reportedMismatch, reportedNotReady bool
}

// NewDefaultController returns the controller of the default ServiceCIDR for
// ranges (the primary first).
func NewDefaultController(client networkingv1client.ServiceCIDRsGetter, ranges ...*net.IPNet) *DefaultController {
	c := &DefaultController{client: client}
	for _, r := range ranges {
		if r != nil {
			c.cidrs = append(c.cidrs, r.String())
		}
	}
	return c
}

// Start creates the default ServiceCIDR (retrying until it exists or ctx
// ends) and then keeps it in the background until ctx ends.
func (c *DefaultController) Start(ctx context.Context) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Sync(ctx); err != nil {
			klog.V(2).InfoS("Default ServiceCIDR not ready yet", "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("create the default ServiceCIDR: %w", err)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.Sync(ctx); err != nil {
			klog.ErrorS(err, "Cannot sync the default ServiceCIDR")
		}
	}, defaultSyncInterval)
	return nil
}

// Sync makes one pass: create the default ServiceCIDR if missing, upgrade
// it to dual-stack if the ranges say so, set it Ready.
func (c *DefaultController) Sync(ctx context.Context) error {
	if len(c.cidrs) == 0 {
		return fmt.Errorf("no service IP range configured")
	}
	sc, err := c.client.ServiceCIDRs().Get(ctx, DefaultName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		klog.InfoS("Creating the default ServiceCIDR", "cidrs", c.cidrs)
		sc, err = c.client.ServiceCIDRs().Create(ctx, &networkingv1.ServiceCIDR{
			ObjectMeta: metav1.ObjectMeta{Name: DefaultName},
			Spec:       networkingv1.ServiceCIDRSpec{CIDRs: c.cidrs},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // someone else made it; next pass checks it
		}
		if err != nil {
			return fmt.Errorf("create ServiceCIDR %s: %w", DefaultName, err)
		}
	case err != nil:
		return fmt.Errorf("get ServiceCIDR %s: %w", DefaultName, err)
	case len(c.cidrs) == 2 && len(sc.Spec.CIDRs) == 1 && sc.Spec.CIDRs[0] == c.cidrs[0]:
		klog.InfoS("Updating the default ServiceCIDR from single-stack to dual-stack", "from", sc.Spec.CIDRs, "to", c.cidrs)
		sc = sc.DeepCopy()
		sc.Spec.CIDRs = c.cidrs
		if _, err := c.client.ServiceCIDRs().Update(ctx, sc, metav1.UpdateOptions{}); err != nil {
			klog.ErrorS(err, "The default ServiceCIDR cannot be upgraded to dual-stack", "cidrs", c.cidrs)
		}
		return nil
	}
	return c.syncStatus(ctx, sc)
}

func (c *DefaultController) syncStatus(ctx context.Context, sc *networkingv1.ServiceCIDR) error {
	if !sc.DeletionTimestamp.IsZero() {
		return nil
	}
	if !slices.Equal(c.cidrs, sc.Spec.CIDRs) {
		if !c.reportedMismatch {
			klog.InfoS("The default ServiceCIDR does not match the service IP range flags", "serviceCIDR", sc.Spec.CIDRs, "flags", c.cidrs)
			c.reportedMismatch = true
		}
		return nil
	}
	ready := apimeta.FindStatusCondition(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady)
	switch {
	case ready != nil && ready.Status == metav1.ConditionFalse:
		// Someone else decided; an administrator must look.
		if !c.reportedNotReady {
			klog.InfoS("The default ServiceCIDR is not Ready although it matches the flags", "reason", ready.Reason, "message", ready.Message)
			c.reportedNotReady = true
		}
		return nil
	case ready != nil && ready.Status == metav1.ConditionTrue:
		return nil
	}
	status := networkingv1apply.ServiceCIDRStatus().WithConditions(metav1apply.Condition().
		WithType(networkingv1.ServiceCIDRConditionReady).
		WithStatus(metav1.ConditionTrue).
		WithMessage("Kubernetes default Service CIDR is ready").
		WithLastTransitionTime(metav1.Now()))
	_, err := c.client.ServiceCIDRs().ApplyStatus(ctx, networkingv1apply.ServiceCIDR(DefaultName).WithStatus(status),
		metav1.ApplyOptions{FieldManager: defaultFieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("set the default ServiceCIDR Ready: %w", err)
	}
	return nil
}
