// Package podcertificaterequest serves certificates.k8s.io/v1
// PodCertificateRequests with their status subresource.
package podcertificaterequest

import (
	"context"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/apis/certificates"
	certvalidation "k8s.io/kubernetes/pkg/apis/certificates/validation"
	"k8s.io/utils/clock"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// pcrStrategy governs the main resource: the status is written only
// through /status, and updates must name the resourceVersion they replace.
type pcrStrategy struct {
	generic.Strategy
}

var strategy = pcrStrategy{generic.NewStrategy(true)}

func (pcrStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("certificates.k8s.io/v1")
}

func (pcrStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (pcrStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*certificatesv1.PodCertificateRequest).Status = certificatesv1.PodCertificateRequestStatus{}
}

func (pcrStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*certificatesv1.PodCertificateRequest).Status = old.(*certificatesv1.PodCertificateRequest).Status
}

func (pcrStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, certvalidation.ValidatePodCertificateRequestCreate)
}

func (pcrStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, certvalidation.ValidatePodCertificateRequestUpdate)
}

// pcrStatusStrategy governs /status, which signers write. A status change
// needs the "sign" permission on the request's signer.
type pcrStatusStrategy struct {
	pcrStrategy
	authorizer authorizer.UnconditionalAuthorizer
	clock      clock.PassiveClock
}

func newStatusStrategy(authz authorizer.UnconditionalAuthorizer, clk clock.PassiveClock) pcrStatusStrategy {
	return pcrStatusStrategy{pcrStrategy: strategy, authorizer: authz, clock: clk}
}

// GetResetFields: /status owns neither metadata nor spec.
func (pcrStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"certificates.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("metadata"),
			fieldpath.MakePathOrDie("spec"),
		),
	}
}

func (pcrStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	req, oldReq := obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest)
	req.Spec = oldReq.Spec
	metav1.ResetObjectMetaForStatus(&req.ObjectMeta, &oldReq.ObjectMeta)
}

func (s pcrStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	errs := generic.ValidateUpdate(obj, old, func(req, oldReq *certificates.PodCertificateRequest) field.ErrorList {
		return certvalidation.ValidatePodCertificateRequestStatusUpdate(req, oldReq, s.clock)
	})
	if len(errs) != 0 {
		return errs
	}
	req, oldReq := obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest)
	if equality.Semantic.DeepEqual(oldReq.Status, req.Status) {
		return nil
	}
	signerPath := field.NewPath("spec", "signerName")
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return field.ErrorList{field.InternalError(signerPath, fmt.Errorf("cannot determine calling user to perform \"sign\" check"))}
	}
	if !authorizedForSigner(ctx, s.authorizer, u, "sign", oldReq.Spec.SignerName) {
		klog.V(4).InfoS("User may not sign PodCertificateRequest", "user", u.GetName(), "request", klog.KObj(oldReq), "signerName", oldReq.Spec.SignerName)
		return field.ErrorList{field.Forbidden(signerPath, fmt.Sprintf("User %q is not permitted to \"sign\" for signer %q", u.GetName(), oldReq.Spec.SignerName))}
	}
	return nil
}

// authorizedForSigner reports whether u may perform verb on the synthetic
// certificates.k8s.io "signers" resource named signerName, or on all signers
// of its domain ("example.com/*").
func authorizedForSigner(ctx context.Context, authz authorizer.UnconditionalAuthorizer, u user.Info, verb, signerName string) bool {
	domain, _, _ := strings.Cut(signerName, "/")
	for _, name := range []string{signerName, domain + "/*"} {
		attrs := authorizer.AttributesRecord{
			User:            u,
			Verb:            verb,
			Name:            name,
			APIGroup:        certificatesv1.GroupName,
			APIVersion:      "*",
			Resource:        "signers",
			ResourceRequest: true,
		}
		decision, reason, err := authz.Authorize(ctx, attrs)
		if err != nil {
			klog.V(3).InfoS("Cannot authorize signer", "verb", verb, "signer", name, "reason", reason, "err", err)
			continue
		}
		if decision == authorizer.DecisionAllow {
			return true
		}
	}
	return false
}

// getAttrs adds spec.signerName, spec.podName and spec.nodeName to the
// selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	req, ok := obj.(*certificatesv1.PodCertificateRequest)
	if !ok {
		return nil, nil, fmt.Errorf("not a podcertificaterequest: %T", obj)
	}
	return req.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&req.ObjectMeta, true), fields.Set{
		"spec.signerName": req.Spec.SignerName,
		"spec.podName":    req.Spec.PodName,
		"spec.nodeName":   string(req.Spec.NodeName),
	}), nil
}
