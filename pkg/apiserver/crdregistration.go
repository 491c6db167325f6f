package apiserver

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions/apiextensions/v1"
	apiextensionslisters "k8s.io/apiextensions-apiserver/pkg/client/listers/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/controllers/autoregister"
)

// crdRegistrationController keeps one local APIService per served version of
// every CustomResourceDefinition, so that custom resources appear in
// discovery behind the aggregator (upstream's crdregistration controller).
type crdRegistrationController struct {
	crdLister    apiextensionslisters.CustomResourceDefinitionLister
	crdSynced    cache.InformerSynced
	registration autoregister.AutoAPIServiceRegistration
	// queue holds group versions to reconcile.
	queue workqueue.TypedRateLimitingInterface[schema.GroupVersion]
}

func newCRDRegistrationController(crds apiextensionsinformers.CustomResourceDefinitionInformer, registration autoregister.AutoAPIServiceRegistration) *crdRegistrationController {
	c := &crdRegistrationController{
		crdLister:    crds.Lister(),
		crdSynced:    crds.Informer().HasSynced,
		registration: registration,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[schema.GroupVersion](),
			workqueue.TypedRateLimitingQueueConfig[schema.GroupVersion]{Name: "crd_autoregistration"}),
	}
	enqueue := func(obj interface{}) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			return
		}
		for _, v := range crd.Spec.Versions {
			c.queue.Add(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name})
		}
	}
	_, _ = crds.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur interface{}) {
			// A version removed from the CRD must be reconciled too.
			enqueue(old)
			enqueue(cur)
		},
		DeleteFunc: enqueue,
	})
	return c
}

// WaitForInitialSync registers the APIServices of every existing CRD before
// the aggregator's autoregistration starts, so it does not delete them.
func (c *crdRegistrationController) WaitForInitialSync(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), c.crdSynced) {
		return
	}
	crds, err := c.crdLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("list CRDs for APIService registration: %w", err))
		return
	}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if err := c.sync(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name}); err != nil {
				utilruntime.HandleError(err)
			}
		}
	}
}

// Run processes the queue until ctx ends.
func (c *crdRegistrationController) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.crdSynced) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

func (c *crdRegistrationController) worker(ctx context.Context) {
	for {
		gv, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(gv); err != nil {
			utilruntime.HandleError(fmt.Errorf("register APIService for %s: %w", gv, err))
			c.queue.AddRateLimited(gv)
		} else {
			c.queue.Forget(gv)
		}
		c.queue.Done(gv)
	}
}

// sync registers the group version's APIService when some CRD serves it and
// removes it otherwise. CRD groups get upstream's priorities (1000/100).
func (c *crdRegistrationController) sync(gv schema.GroupVersion) error {
	name := gv.Version + "." + gv.Group
	crds, err := c.crdLister.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if crd.Spec.Group != gv.Group {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != gv.Version || !v.Served {
				continue
			}
			c.registration.AddAPIServiceToSync(&apiregistrationv1.APIService{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: apiregistrationv1.APIServiceSpec{
					Group:                gv.Group,
					Version:              gv.Version,
					GroupPriorityMinimum: 1000,
					VersionPriority:      100,
				},
			})
			return nil
		}
	}
	klog.V(2).InfoS("No CRD serves group version; removing its APIService", "apiservice", name)
	c.registration.RemoveAPIServiceToSync(name)
	return nil
}
