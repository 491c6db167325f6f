// Package validatingadmissionpolicystatus is upstream's
// validatingadmissionpolicy-status controller: it type-checks the CEL
// expressions of each ValidatingAdmissionPolicy against the schemas of the
// kinds it matches (the apiserver library's TypeChecker) and writes the
// warnings to status.typeChecking, with status.observedGeneration, so that
// `kubectl get validatingadmissionpolicy -o yaml` shows mistakes such as a
// field that does not exist before any request trips on them.
package validatingadmissionpolicystatus

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	admissionregistrationv1apply "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	admissioninformers "k8s.io/client-go/informers/admissionregistration/v1"
	"k8s.io/client-go/kubernetes"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-project/skiff/pkg/controller"
)

// controllerName is the field manager of the status, as upstream.
const controllerName = "validatingadmissionpolicy-status"

// Checker type-checks a policy (validatingpolicy.TypeChecker).
type Checker interface {
	Check(policy *admissionregistrationv1.ValidatingAdmissionPolicy) []admissionregistrationv1.ExpressionWarning
}

// Controller is the validatingadmissionpolicy-status controller; its queue
// holds policy names.
type Controller struct {
	client  kubernetes.Interface
	lister  admissionlisters.ValidatingAdmissionPolicyLister
	checker Checker
	synced  cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
}

var _ Checker = &validatingpolicy.TypeChecker{}

// NewController returns the controller.
func NewController(client kubernetes.Interface, policies admissioninformers.ValidatingAdmissionPolicyInformer, checker Checker) (*Controller, error) {
	c := &Controller{
		client:  client,
		lister:  policies.Lister(),
		checker: checker,
		queue:   controller.NewQueue(controllerName),
	}
	enqueue := func(obj interface{}) {
		if p, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy); ok {
			c.queue.Add(p.Name)
		}
	}
	reg, err := policies.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch validating admission policies: %w", err)
	}
	c.synced = reg.HasSynced
	return c, nil
}

// Run checks policies until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWorkers(ctx, controllerName, c.queue, workers, c.sync, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	policy, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if policy.Generation <= policy.Status.ObservedGeneration {
		return nil // this spec was checked already
	}
	warnings := []*admissionregistrationv1apply.ExpressionWarningApplyConfiguration{}
	for _, w := range c.checker.Check(policy) {
		warnings = append(warnings, admissionregistrationv1apply.ExpressionWarning().WithFieldRef(w.FieldRef).WithWarning(w.Warning))
	}
	apply := admissionregistrationv1apply.ValidatingAdmissionPolicy(name).WithStatus(
		admissionregistrationv1apply.ValidatingAdmissionPolicyStatus().
			WithObservedGeneration(policy.Generation).
			WithTypeChecking(admissionregistrationv1apply.TypeChecking().WithExpressionWarnings(warnings...)))
	_, err = c.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().ApplyStatus(ctx, apply,
		metav1.ApplyOptions{FieldManager: controllerName, Force: true})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("write type checking status of policy %s: %w", name, err)
	}
	return nil
}
