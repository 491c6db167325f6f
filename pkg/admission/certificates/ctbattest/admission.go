// Package ctbattest is upstream's ClusterTrustBundleAttest admission
// plugin: creating or changing a ClusterTrustBundle that names a signer
// needs the "attest" verb on that signer (certificates.k8s.io/signers), so
// only who may speak for a signer publishes trust anchors under its name.
package ctbattest

import (
	"context"
	"fmt"
	"io"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"

	"github.com/skiff-project/skiff/pkg/admission/certificates"
)

// PluginName is the plugin's name in --enable-admission-plugins.
const PluginName = "ClusterTrustBundleAttest"

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the ClusterTrustBundleAttest admission plugin.
type Plugin struct {
	certificates.SignerPlugin
}

var (
	_ admission.ValidationInterface            = &Plugin{}
	_ initializer.WantsUnconditionalAuthorizer = &Plugin{}
)

// New returns the plugin.
func New() *Plugin {
	return &Plugin{certificates.NewSignerPlugin(PluginName, admission.Create, admission.Update)}
}

// Validate checks the requester may attest for the bundle's signer.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != certificatesv1.Resource("clustertrustbundles") || a.GetSubresource() != "" {
		return nil
	}
	bundle, ok := a.GetObject().(*certificatesv1.ClusterTrustBundle)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("expected type ClusterTrustBundle, got: %T", a.GetObject()))
	}
	if bundle.Spec.SignerName == "" {
		return nil
	}
	// The garbage collector changing owners or finalizers attests nothing.
	if a.GetOperation() == admission.Update && onlyGCFieldsChanged(bundle, a.GetOldObject()) {
		return nil
	}
	if !p.Authorized(ctx, a.GetUserInfo(), "attest", bundle.Spec.SignerName) {
		return admission.NewForbidden(a, fmt.Errorf("user not permitted to attest for signerName %q", bundle.Spec.SignerName))
	}
	return nil
}

// onlyGCFieldsChanged: the update changes nothing but ownerReferences and
// finalizers (upstream's IsOnlyMutatingGCFields).
func onlyGCFieldsChanged(bundle *certificatesv1.ClusterTrustBundle, oldObj interface{}) bool {
	old, ok := oldObj.(*certificatesv1.ClusterTrustBundle)
	if !ok {
		return false
	}
	old = old.DeepCopy()
	old.OwnerReferences = bundle.OwnerReferences
	old.Finalizers = bundle.Finalizers
	return equality.Semantic.DeepEqual(old, bundle)
}
