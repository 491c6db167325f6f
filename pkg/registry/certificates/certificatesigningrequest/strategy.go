// Package certificatesigningrequest serves certificates.k8s.io/v1
// CertificateSigningRequests with their status and approval subresources.
//
// The spec is fixed at creation, and the requester's identity in it comes
// from the request, never from the client. Approval conditions change only
// through /approval, the issued certificate only through /status.
package certificatesigningrequest

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	certvalidation "k8s.io/kubernetes/pkg/apis/certificates/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// csrStrategy governs writes to the main resource: only metadata may change
// after creation.
type csrStrategy struct {
	generic.Strategy
}

var strategy = csrStrategy{generic.NewStrategy(false)}

// GetResetFields: server-side apply on the main resource owns neither spec
// (immutable) nor status.
func (csrStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"certificates.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("status"),
		),
	}
}

// PrepareForCreate records who asked for the certificate (the requesting
// user, whatever the client wrote) and starts with an empty status.
func (csrStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	csr.Spec.Username = ""
	csr.Spec.UID = ""
	csr.Spec.Groups = nil
	csr.Spec.Extra = nil
	if u, ok := genericapirequest.UserFrom(ctx); ok {
		csr.Spec.Username = u.GetName()
		csr.Spec.UID = u.GetUID()
		csr.Spec.Groups = u.GetGroups()
		if extra := u.GetExtra(); len(extra) > 0 {
			csr.Spec.Extra = make(map[string]certificatesv1.ExtraValue, len(extra))
			for k, v := range extra {
				csr.Spec.Extra[k] = v
			}
		}
	}
	csr.Status = certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{}}
}

// PrepareForUpdate keeps spec and status: the main resource changes only
// metadata.
func (csrStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	csr, oldCSR := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = oldCSR.Spec
	csr.Status = oldCSR.Status
}

func (csrStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, certvalidation.ValidateCertificateSigningRequestCreate)
}

func (csrStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, certvalidation.ValidateCertificateSigningRequestUpdate)
}

// csrStatusStrategy governs /status, through which signers write the
// certificate (and their own conditions, such as Failed).
type csrStatusStrategy struct {
	csrStrategy
}

var statusStrategy = csrStatusStrategy{strategy}

// GetResetFields: /status owns neither spec nor the conditions list, whose
// Approved and Denied entries belong to /approval.
func (csrStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"certificates.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("status", "conditions"),
		),
	}
}

// PrepareForUpdate keeps the spec and the Approved/Denied conditions as they
// are stored, so that /status cannot approve or deny.
func (csrStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	csr, oldCSR := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = oldCSR.Spec
	// If the number of Approved or Denied conditions changed, validation
	// rejects the update; otherwise each keeps its stored content.
	keepConditions(csr, oldCSR, certificatesv1.CertificateApproved)
	keepConditions(csr, oldCSR, certificatesv1.CertificateDenied)
	stampConditions(csr, oldCSR, metav1.Now())
}

func (csrStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, certvalidation.ValidateCertificateSigningRequestStatusUpdate)
}

// csrApprovalStrategy governs /approval: only the conditions change.
type csrApprovalStrategy struct {
	csrStrategy
}

var approvalStrategy = csrApprovalStrategy{strategy}

// GetResetFields: /approval owns neither spec nor the issued certificate.
func (csrApprovalStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"certificates.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("status", "certificate"),
		),
	}
}

// PrepareForUpdate takes only the conditions from the request.
func (csrApprovalStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	csr, oldCSR := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	stampConditions(csr, oldCSR, metav1.Now())
	conditions := csr.Status.Conditions
	csr.Spec = oldCSR.Spec
	csr.Status = oldCSR.Status
	csr.Status.Conditions = conditions
}

func (csrApprovalStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, certvalidation.ValidateCertificateSigningRequestApprovalUpdate)
}

// keepConditions overwrites csr's conditions of type t with the stored ones,
// in order, when both have the same number of them.
func keepConditions(csr, old *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	oldIdx, newIdx := conditionIndices(old, t), conditionIndices(csr, t)
	if len(oldIdx) != len(newIdx) {
		return
	}
	for i, o := range oldIdx {
		csr.Status.Conditions[newIdx[i]] = old.Status.Conditions[o]
	}
}

func conditionIndices(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []int {
	var out []int
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, i)
		}
	}
	return out
}

// stampConditions fills missing condition timestamps: lastUpdateTime is now;
// lastTransitionTime is kept from a stored condition of the same type and
// status, or now.
func stampConditions(csr, old *certificatesv1.CertificateSigningRequest, now metav1.Time) {
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, oc := range old.Status.Conditions {
			if oc.Type == c.Type && oc.Status == c.Status && !oc.LastTransitionTime.IsZero() {
				c.LastTransitionTime = oc.LastTransitionTime
				break
			}
		}
	}
}

// getAttrs adds spec.signerName to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil, nil, fmt.Errorf("not a certificatesigningrequest: %T", obj)
	}
	return csr.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&csr.ObjectMeta, false), fields.Set{
		"spec.signerName": csr.Spec.SignerName,
	}), nil
}
