// Package approver auto-approves kubelet client certificates, as
// upstream's csrapproving controller: a CSR for the
// kubernetes.io/kube-apiserver-client-kubelet signer whose request is a
// valid kubelet client certificate (O=system:nodes, CN=system:node:<name>,
// client auth usages) is approved when a SubjectAccessReview allows its
// requester to create certificatesigningrequests/selfnodeclient (renewing
// its own certificate) or /nodeclient (a bootstrap token creating one).
package approver

import (
	"context"
	"crypto/x509"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	certificatesinformers "k8s.io/client-go/informers/certificates/v1"
	"k8s.io/client-go/kubernetes"
	certapi "k8s.io/kubernetes/pkg/apis/certificates"

	"github.com/skiff-project/skiff/pkg/controller/certificates"
)

type recognizer struct {
	recognize  func(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) bool
	permission authorizationv1.ResourceAttributes
	message    string
}

var recognizers = []recognizer{
	{
		recognize:  isSelfNodeClientCert,
		permission: authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create", Subresource: "selfnodeclient", Version: "*"},
		message:    "Auto approving self kubelet client certificate after SubjectAccessReview.",
	},
	{
		recognize:  isNodeClientCert,
		permission: authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create", Subresource: "nodeclient", Version: "*"},
		message:    "Auto approving kubelet client certificate after SubjectAccessReview.",
	},
}

// Approver approves recognized CSRs.
type Approver struct {
	client kubernetes.Interface
}

// NewController returns the approving controller.
func NewController(client kubernetes.Interface, csrInformer certificatesinformers.CertificateSigningRequestInformer) (*certificates.Controller, error) {
	a := &Approver{client: client}
	return certificates.NewController("csrapproving", csrInformer, a.Handle)
}

// Handle approves a CSR if a recognizer matches and authorizes it.
func (a *Approver) Handle(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	if len(csr.Status.Certificate) != 0 {
		return nil
	}
	if approved, denied := certificates.ApprovalState(&csr.Status); approved || denied {
		return nil
	}
	req, err := certapi.ParseCSR(csr.Spec.Request)
	if err != nil {
		return fmt.Errorf("unable to parse csr %q: %w", csr.Name, err)
	}
	var tried []string
	for _, r := range recognizers {
		if !r.recognize(csr, req) {
			continue
		}
		tried = append(tried, r.permission.Subresource)
		allowed, err := a.authorize(ctx, csr, r.permission)
		if err != nil {
			return err
		}
		if !allowed {
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved", Message: r.message,
		})
		if _, err := a.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("error updating approval for csr: %w", err)
		}
		return nil
	}
	if len(tried) != 0 {
		return certificates.IgnorableError(fmt.Sprintf("recognized csr %q as %v but subject access review was not approved", csr.Name, tried))
	}
	return nil
}

// authorize asks whether the CSR's requester may do attrs.
func (a *Approver) authorize(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, attrs authorizationv1.ResourceAttributes) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range csr.Spec.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: csr.Spec.Username, UID: csr.Spec.UID, Groups: csr.Spec.Groups, Extra: extra, ResourceAttributes: &attrs,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subject access review for csr %q: %w", csr.Name, err)
	}
	return sar.Status.Allowed, nil
}

func usages(csr *certificatesv1.CertificateSigningRequest) sets.String {
	s := sets.NewString()
	for _, u := range csr.Spec.Usages {
		s.Insert(string(u))
	}
	return s
}

func isNodeClientCert(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) bool {
	return csr.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName && certapi.IsKubeletClientCSR(req, usages(csr))
}

func isSelfNodeClientCert(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) bool {
	return csr.Spec.Username == req.Subject.CommonName && isNodeClientCert(csr, req)
}
