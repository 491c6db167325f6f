// Package mutatingwebhookconfiguration serves admissionregistration.k8s.io/v1
// MutatingWebhookConfigurations.
package mutatingwebhookconfiguration

import (
	"context"
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/pkg/apis/admissionregistration"
	arvalidation "k8s.io/kubernetes/pkg/apis/admissionregistration/validation"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/webhookexclusion"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// webhookStrategy validates with upstream's rules and counts changes of the
// webhooks in metadata.generation. Updates must name the resourceVersion
// they replace.
type webhookStrategy struct {
	generic.Strategy
}

var strategy = webhookStrategy{generic.NewStrategy(false)}

func (webhookStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (webhookStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*admissionregistrationv1.MutatingWebhookConfiguration).Generation = 1
}

func (webhookStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	c, oldC := obj.(*admissionregistrationv1.MutatingWebhookConfiguration), old.(*admissionregistrationv1.MutatingWebhookConfiguration)
	if !reflect.DeepEqual(oldC.Webhooks, c.Webhooks) {
		c.Generation = oldC.Generation + 1
	}
}

func (webhookStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	errs := generic.Validate(obj, arvalidation.ValidateMutatingWebhookConfiguration)
	if utilfeature.DefaultFeatureGate.Enabled(features.ManifestBasedAdmissionControlConfig) {
		errs = append(errs, arvalidation.ValidateStaticSuffix(obj.(*admissionregistrationv1.MutatingWebhookConfiguration).Name, field.NewPath("metadata", "name"))...)
	}
	return errs
}

func (webhookStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, arvalidation.ValidateMutatingWebhookConfigurationUpdate)
}

func (webhookStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	var warnings []string
	if !utilfeature.DefaultFeatureGate.Enabled(features.ManifestBasedAdmissionControlConfig) {
		warnings = append(warnings, arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.MutatingWebhookConfiguration).Name)...)
	}
	return append(warnings, ruleWarnings(obj)...)
}

func (webhookStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	warnings := arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.MutatingWebhookConfiguration).Name)
	return append(warnings, ruleWarnings(obj)...)
}

// ruleWarnings warns about rules that name resources webhooks never see.
func ruleWarnings(obj runtime.Object) []string {
	if !utilfeature.DefaultFeatureGate.Enabled(features.ExcludeAdmissionWebhookVirtualResources) {
		return nil
	}
	in, err := rules.ToInternal(obj)
	if err != nil {
		return nil
	}
	c, ok := in.(*admissionregistration.MutatingWebhookConfiguration)
	if !ok {
		return nil
	}
	return arvalidation.WarningsForMutatingWebhookRules(c.Webhooks, webhookexclusion.Excluded())
}
