// Package admission assembles skiff's admission chain: the plugins of the
// apiserver library (NamespaceLifecycle, webhooks, admission policies,
// ResourceQuota) and skiff's own versions of upstream's other plugins (one
// package each under pkg/admission), in upstream's order.
package admission

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	mutatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	validatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/validating"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"github.com/skiff-project/skiff/pkg/admission/certificates/approval"
	"github.com/skiff-project/skiff/pkg/admission/certificates/ctbattest"
	"github.com/skiff-project/skiff/pkg/admission/certificates/signing"
	"github.com/skiff-project/skiff/pkg/admission/certificates/subjectrestriction"
	"github.com/skiff-project/skiff/pkg/admission/defaultingressclass"
	"github.com/skiff-project/skiff/pkg/admission/defaultstorageclass"
	"github.com/skiff-project/skiff/pkg/admission/defaulttolerationseconds"
	"github.com/skiff-project/skiff/pkg/admission/limitranger"
	"github.com/skiff-project/skiff/pkg/admission/noderestriction"
	"github.com/skiff-project/skiff/pkg/admission/nodetaint"
	"github.com/skiff-project/skiff/pkg/admission/podsecurity"
	"github.com/skiff-project/skiff/pkg/admission/priority"
	"github.com/skiff-project/skiff/pkg/admission/pvcresize"
	"github.com/skiff-project/skiff/pkg/admission/runtimeclass"
	"github.com/skiff-project/skiff/pkg/admission/serviceaccount"
	"github.com/skiff-project/skiff/pkg/admission/storageobjectinuseprotection"
	"github.com/skiff-project/skiff/pkg/quota"
)

// OrderedPlugins are the plugins skiff has, in upstream's order
// (kube-apiserver's AllOrderedPlugins without the ones skiff lacks).
// Webhooks, policies and ResourceQuota come last, as upstream requires.
var OrderedPlugins = []string{
	lifecycle.PluginName,
	limitranger.PluginName,
	serviceaccount.PluginName,
	noderestriction.PluginName,
	nodetaint.PluginName,
	podsecurity.PluginName,
	priority.PluginName,
	defaulttolerationseconds.PluginName,
	defaultstorageclass.PluginName,
	storageobjectinuseprotection.PluginName,
	pvcresize.PluginName,
	runtimeclass.PluginName,
	approval.PluginName,
	signing.PluginName,
	ctbattest.PluginName,
	subjectrestriction.PluginName,
	defaultingressclass.PluginName,
	mutatingpolicy.PluginName,
	mutatingwebhook.PluginName,
	validatingpolicy.PluginName,
	validatingwebhook.PluginName,
	resourcequota.PluginName,
}

// DefaultOffPlugins are registered but off unless enabled. Upstream keeps
// NodeRestriction off by default; skiff turns it on, as kubeadm does,
// since its kubelets have node identities.
func DefaultOffPlugins() sets.Set[string] { return sets.New[string]() }

// RegisterAllPlugins registers skiff's plugins and ResourceQuota; the
// library's NamespaceLifecycle, webhook and policy plugins are registered
// by the library's admission options.
func RegisterAllPlugins(plugins *admission.Plugins) {
	limitranger.Register(plugins)
	serviceaccount.Register(plugins)
	noderestriction.Register(plugins)
	nodetaint.Register(plugins)
	podsecurity.Register(plugins)
	priority.Register(plugins)
	defaulttolerationseconds.Register(plugins)
	defaultstorageclass.Register(plugins)
	storageobjectinuseprotection.Register(plugins)
	pvcresize.Register(plugins)
	runtimeclass.Register(plugins)
	approval.Register(plugins)
	signing.Register(plugins)
	ctbattest.Register(plugins)
	subjectrestriction.Register(plugins)
	defaultingressclass.Register(plugins)
	resourcequota.Register(plugins)
}

// excludedResources are never sent to webhooks or admission policies:
// reviews that only read (upstream's exclusion list).
var excludedResources = []schema.GroupResource{
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
}

// Initializer hands the plugins what skiff provides beyond the library's
// generic initializer: the quota configuration and the excluded resources.
type Initializer struct {
	quota quotav1.Configuration
}

// NewInitializer returns skiff's plugin initializer.
func NewInitializer() *Initializer {
	return &Initializer{quota: quota.NewConfigurationForAdmission()}
}

// Initialize implements admission.PluginInitializer.
func (i *Initializer) Initialize(plugin admission.Interface) {
	if wants, ok := plugin.(initializer.WantsQuotaConfiguration); ok {
		wants.SetQuotaConfiguration(i.quota)
	}
	if wants, ok := plugin.(initializer.WantsExcludedAdmissionResources); ok {
		wants.SetExcludedAdmissionResources(append([]schema.GroupResource(nil), excludedResources...))
	}
}
