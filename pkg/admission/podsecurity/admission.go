// Package podsecurity is the PodSecurity admission plugin: the Pod Security
// Standards (privileged, baseline, restricted) enforced, audited and warned
// about per namespace through the pod-security.kubernetes.io/* labels. The
// evaluation is the k8s.io/pod-security-admission library's, as in
// kube-apiserver; this package adapts it to skiff's admission chain, whose
// objects are already the v1 types the library reads.
package podsecurity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	psadmission "k8s.io/pod-security-admission/admission"
	psconfig "k8s.io/pod-security-admission/admission/api/load"
	psapi "k8s.io/pod-security-admission/api"
	psmetrics "k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"
)

// PluginName is upstream's.
const PluginName = "PodSecurity"

// Register registers the plugin; its configuration (a
// PodSecurityConfiguration in the admission configuration file) is
// optional: without one every namespace defaults to privileged.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(config io.Reader) (admission.Interface, error) { return New(config) })
}

// Plugin is the PodSecurity admission plugin.
type Plugin struct {
	*admission.Handler
	client          kubernetes.Interface
	namespaceLister corelisters.NamespaceLister
	podLister       corelisters.PodLister
	delegate        *psadmission.Admission
}

var (
	_ admission.ValidationInterface                = &Plugin{}
	_ initializer.WantsExternalKubeInformerFactory = &Plugin{}
	_ initializer.WantsExternalKubeClientSet       = &Plugin{}
)

// The library's metrics go to the process-wide legacy registry, where a
// collector may be registered only once however many servers a process
// builds (tests build several).
var (
	recorder     *psmetrics.PrometheusRecorder
	recorderOnce sync.Once
)

func metricsRecorder() psmetrics.Recorder {
	recorderOnce.Do(func() {
		recorder = psmetrics.NewPrometheusRecorder(psapi.GetAPIVersion())
		recorder.MustRegister(legacyregistry.MustRegister)
	})
	return recorder
}

// New returns the plugin configured from config (nil: the defaults).
func New(config io.Reader) (*Plugin, error) {
	cfg, err := psconfig.LoadFromReader(config)
	if err != nil {
		return nil, fmt.Errorf("%s configuration: %w", PluginName, err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s checks: %w", PluginName, err)
	}
	return &Plugin{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		delegate: &psadmission.Admission{
			Configuration:    cfg,
			Evaluator:        evaluator,
			Metrics:          metricsRecorder(),
			PodSpecExtractor: psadmission.DefaultPodSpecExtractor{},
		},
	}, nil
}

// SetExternalKubeInformerFactory implements initializer.WantsExternalKubeInformerFactory.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	namespaces := f.Core().V1().Namespaces()
	p.namespaceLister = namespaces.Lister()
	// Pods are listed only to warn, when a namespace's enforce level is
	// raised, about the running pods that would violate it.
	p.podLister = f.Core().V1().Pods().Lister()
	p.SetReadyFunc(namespaces.Informer().HasSynced)
}

// SetExternalKubeClientSet implements initializer.WantsExternalKubeClientSet.
func (p *Plugin) SetExternalKubeClientSet(client kubernetes.Interface) { p.client = client }

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.namespaceLister == nil || p.client == nil {
		return fmt.Errorf("%s needs an informer factory and a client", PluginName)
	}
	p.delegate.NamespaceGetter = psadmission.NamespaceGetterFromListerAndClient(p.namespaceLister, p.client)
	p.delegate.PodLister = psadmission.PodListerFromInformer(p.podLister)
	if err := p.delegate.CompleteConfiguration(); err != nil {
		return fmt.Errorf("%s configuration: %w", PluginName, err)
	}
	if err := p.delegate.ValidateConfiguration(); err != nil {
		return fmt.Errorf("%s invalid: %w", PluginName, err)
	}
	return nil
}

// Validate implements admission.ValidationInterface: pods, namespaces (a
// label change reports the pods that would violate the new level) and the
// workload resources with pod templates (warnings and audit only).
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	gr := a.GetResource().GroupResource()
	if gr != (schema.GroupResource{Resource: "pods"}) && gr != (schema.GroupResource{Resource: "namespaces"}) &&
		!p.delegate.PodSpecExtractor.HasPodSpec(gr) {
		return nil
	}
	result := p.delegate.Validate(ctx, attributes{a})
	for _, w := range result.Warnings {
		warning.AddWarning(ctx, "", w)
	}
	for k, v := range result.AuditAnnotations {
		audit.AddAuditAnnotation(ctx, psapi.AuditAnnotationPrefix+k, v)
	}
	if result.Allowed {
		return nil
	}
	err := admission.NewForbidden(a, errors.New("Not allowed by PodSecurity")).(*apierrors.StatusError)
	if r := result.Result; r != nil {
		if r.Message != "" {
			err.ErrStatus.Message = r.Message
		}
		if r.Reason != "" {
			err.ErrStatus.Reason = r.Reason
		}
		if r.Details != nil {
			err.ErrStatus.Details = r.Details
		}
		if r.Code != 0 {
			err.ErrStatus.Code = r.Code
		}
	}
	return err
}

// attributes adapts admission.Attributes to the library's: skiff's objects
// are the v1 types already, so no conversion is needed.
type attributes struct{ admission.Attributes }

func (a attributes) GetObject() (runtime.Object, error)    { return a.Attributes.GetObject(), nil }
func (a attributes) GetOldObject() (runtime.Object, error) { return a.Attributes.GetOldObject(), nil }
func (a attributes) GetOperation() admissionv1.Operation {
	return admissionv1.Operation(a.Attributes.GetOperation())
}
func (a attributes) GetUserName() string { return a.GetUserInfo().GetName() }

var _ psapi.Attributes = attributes{}
