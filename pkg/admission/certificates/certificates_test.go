package certificates_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/skiff-project/skiff/pkg/admission/certificates/approval"
	"github.com/skiff-project/skiff/pkg/admission/certificates/ctbattest"
	"github.com/skiff-project/skiff/pkg/admission/certificates/signing"
	"github.com/skiff-project/skiff/pkg/admission/certificates/subjectrestriction"
)

// signerAuthz allows verb on the listed signer names (or wildcards).
type signerAuthz map[string]bool

func (s signerAuthz) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetResource() == "signers" && s[a.GetVerb()+" "+a.GetName()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func csr(signer string, orgs ...string) *certificatesv1.CertificateSigningRequest {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "u", Organization: orgs}}, key)
	return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: certificatesv1.CertificateSigningRequestSpec{
		SignerName: signer, Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})}}
}

func attrs(obj, old *certificatesv1.CertificateSigningRequest, sub string, op admission.Operation) admission.Attributes {
	return admission.NewAttributesRecord(obj, old, certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"), "", "c",
		certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests"), sub, op, nil, false, &user.DefaultInfo{Name: "approver"})
}

func TestApproval(t *testing.T) {
	req := csr("example.com/signer")
	p := approval.New()
	p.SetUnconditionalAuthorizer(signerAuthz{"approve example.com/*": true})
	if err := p.Validate(context.Background(), attrs(req, req, "approval", admission.Update), nil); err != nil {
		t.Errorf("wildcard approver refused: %v", err)
	}
	p.SetUnconditionalAuthorizer(signerAuthz{"approve other.io/signer": true})
	err := p.Validate(context.Background(), attrs(req, req, "approval", admission.Update), nil)
	if err == nil || !strings.Contains(err.Error(), `user not permitted to approve requests with signerName "example.com/signer"`) {
		t.Errorf("err = %v", err)
	}
}

func TestSigning(t *testing.T) {
	old := csr("example.com/signer")
	signed := old.DeepCopy()
	signed.Status.Certificate = []byte("cert")
	p := signing.New()
	p.SetUnconditionalAuthorizer(signerAuthz{})
	if err := p.Validate(context.Background(), attrs(old.DeepCopy(), old, "status", admission.Update), nil); err != nil {
		t.Errorf("status update without signing refused: %v", err)
	}
	if err := p.Validate(context.Background(), attrs(signed, old, "status", admission.Update), nil); err == nil || !strings.Contains(err.Error(), "user not permitted to sign requests") {
		t.Errorf("unauthorized signing: err = %v", err)
	}
	p.SetUnconditionalAuthorizer(signerAuthz{"sign example.com/signer": true})
	if err := p.Validate(context.Background(), attrs(signed, old, "status", admission.Update), nil); err != nil {
		t.Errorf("authorized signing refused: %v", err)
	}
}

func TestSubjectRestriction(t *testing.T) {
	p := subjectrestriction.New()
	masters := csr(certificatesv1.KubeAPIServerClientSignerName, "system:masters")
	if err := p.Validate(context.Background(), attrs(masters, nil, "", admission.Create), nil); err == nil || !strings.Contains(err.Error(), "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed") {
		t.Errorf("err = %v", err)
	}
	if err := p.Validate(context.Background(), attrs(csr(certificatesv1.KubeAPIServerClientSignerName, "devs"), nil, "", admission.Create), nil); err != nil {
		t.Errorf("ordinary group refused: %v", err)
	}
}

func TestClusterTrustBundleAttest(t *testing.T) {
	bundle := func(signer string) *certificatesv1.ClusterTrustBundle {
		return &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "b"},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: "pem"}}
	}
	ctbAttrs := func(obj, old *certificatesv1.ClusterTrustBundle, op admission.Operation) admission.Attributes {
		var oldObj runtime.Object
		if old != nil {
			oldObj = old
		}
		return admission.NewAttributesRecord(obj, oldObj, certificatesv1.SchemeGroupVersion.WithKind("ClusterTrustBundle"), "", "b",
			certificatesv1.SchemeGroupVersion.WithResource("clustertrustbundles"), "", op, nil, false, &user.DefaultInfo{Name: "publisher"})
	}
	p := ctbattest.New()
	p.SetUnconditionalAuthorizer(signerAuthz{"attest example.com/allowed": true})
	ctx := context.Background()
	if err := p.Validate(ctx, ctbAttrs(bundle(""), nil, admission.Create), nil); err != nil {
		t.Errorf("bundle without a signer refused: %v", err)
	}
	if err := p.Validate(ctx, ctbAttrs(bundle("example.com/allowed"), nil, admission.Create), nil); err != nil {
		t.Errorf("attester refused: %v", err)
	}
	err := p.Validate(ctx, ctbAttrs(bundle("example.com/other"), nil, admission.Create), nil)
	if err == nil || !strings.Contains(err.Error(), `user not permitted to attest for signerName "example.com/other"`) {
		t.Errorf("non-attester: err = %v", err)
	}
	// The garbage collector may change owners and finalizers of any bundle.
	old := bundle("example.com/other")
	gc := old.DeepCopy()
	gc.Finalizers = []string{"foregroundDeletion"}
	if err := p.Validate(ctx, ctbAttrs(gc, old, admission.Update), nil); err != nil {
		t.Errorf("GC-only update refused: %v", err)
	}
	changed := old.DeepCopy()
	changed.Spec.TrustBundle = "other pem"
	if err := p.Validate(ctx, ctbAttrs(changed, old, admission.Update), nil); err == nil {
		t.Error("non-attester changed a signer's bundle")
	}
}
