package certificatesigningrequest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bob"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func newCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "bob", ResourceVersion: "1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEM(t),
			SignerName: "example.com/signer",
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}
}

func condition(t certificatesv1.RequestConditionType, msg string) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue, Reason: "Test", Message: msg}
}

func TestPrepareForCreateTakesIdentityFromRequest(t *testing.T) {
	requester := &user.DefaultInfo{
		Name:   "alice",
		UID:    "uid-1",
		Groups: []string{"devs", "system:authenticated"},
		Extra:  map[string][]string{"scope": {"a", "b"}},
	}
	tests := []struct {
		name string
		ctx  context.Context
		want certificatesv1.CertificateSigningRequestSpec
	}{
		{
			name: "requesting user replaces what the client wrote",
			ctx:  genericapirequest.WithUser(context.Background(), requester),
			want: certificatesv1.CertificateSigningRequestSpec{
				Username: "alice",
				UID:      "uid-1",
				Groups:   []string{"devs", "system:authenticated"},
				Extra:    map[string]certificatesv1.ExtraValue{"scope": {"a", "b"}},
			},
		},
		{
			name: "no user: identity cleared",
			ctx:  context.Background(),
			want: certificatesv1.CertificateSigningRequestSpec{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			csr := newCSR(t)
			csr.Spec.Username = "mallory"
			csr.Spec.UID = "forged"
			csr.Spec.Groups = []string{"system:masters"}
			csr.Spec.Extra = map[string]certificatesv1.ExtraValue{"forged": {"x"}}
			csr.Status.Certificate = []byte("forged")
			csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "")}

			strategy.PrepareForCreate(tc.ctx, csr)

			got := certificatesv1.CertificateSigningRequestSpec{Username: csr.Spec.Username, UID: csr.Spec.UID, Groups: csr.Spec.Groups, Extra: csr.Spec.Extra}
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("identity = %+v, want %+v", got, tc.want)
			}
			if len(csr.Status.Certificate) != 0 || len(csr.Status.Conditions) != 0 {
				t.Errorf("status not reset: %+v", csr.Status)
			}
			if errs := strategy.Validate(tc.ctx, csr); len(errs) != 0 {
				t.Errorf("valid CSR rejected: %v", errs)
			}
		})
	}
}

func TestMainResourceKeepsSpecAndStatus(t *testing.T) {
	old := newCSR(t)
	old.Spec.Username = "alice"
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "ok")}
	old.Status.Certificate = []byte("cert")

	updated := old.DeepCopy()
	updated.Labels = map[string]string{"a": "b"}
	updated.Spec.SignerName = "example.com/other"
	updated.Spec.Username = "mallory"
	updated.Status.Conditions = nil
	updated.Status.Certificate = []byte("other")

	strategy.PrepareForUpdate(context.Background(), updated, old)
	if !apiequality.Semantic.DeepEqual(updated.Spec, old.Spec) {
		t.Errorf("spec changed through the main resource: %+v", updated.Spec)
	}
	if !apiequality.Semantic.DeepEqual(updated.Status, old.Status) {
		t.Errorf("status changed through the main resource: %+v", updated.Status)
	}
	if updated.Labels["a"] != "b" {
		t.Errorf("metadata change lost")
	}
}

func TestStatusKeepsApprovalConditions(t *testing.T) {
	transition := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	old := newCSR(t)
	approved := condition(certificatesv1.CertificateApproved, "approved by admin")
	approved.LastTransitionTime = transition
	approved.LastUpdateTime = transition
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved}

	updated := old.DeepCopy()
	updated.Spec.SignerName = "example.com/other"
	updated.Status.Conditions[0].Message = "rewritten by signer"
	failed := condition(certificatesv1.CertificateFailed, "signing failed")
	updated.Status.Conditions = append(updated.Status.Conditions, failed)
	updated.Status.Certificate = []byte("x")

	statusStrategy.PrepareForUpdate(context.Background(), updated, old)

	if updated.Spec.SignerName != old.Spec.SignerName {
		t.Errorf("spec changed through /status")
	}
	if got := updated.Status.Conditions[0]; !apiequality.Semantic.DeepEqual(got, approved) {
		t.Errorf("Approved condition = %+v, want the stored one %+v", got, approved)
	}
	f := updated.Status.Conditions[1]
	if f.LastUpdateTime.IsZero() || f.LastTransitionTime.IsZero() {
		t.Errorf("new condition not stamped: %+v", f)
	}
	if string(updated.Status.Certificate) != "x" {
		t.Errorf("certificate not taken from /status")
	}
}

func TestStatusCannotRemoveApproval(t *testing.T) {
	old := newCSR(t)
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "")}
	updated := old.DeepCopy()
	updated.Status.Conditions = nil

	statusStrategy.PrepareForUpdate(context.Background(), updated, old)
	errs := statusStrategy.ValidateUpdate(context.Background(), updated, old)
	if len(errs) != 1 || errs[0].Field != "status.conditions" || errs[0].Detail != `updates may not remove a condition of type "Approved"` {
		t.Errorf("errors = %v, want the removal of Approved refused", errs)
	}
}

func TestApprovalTakesOnlyConditions(t *testing.T) {
	now := metav1.NewTime(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	old := newCSR(t)
	old.Status.Certificate = []byte("stored")
	failedCond := condition(certificatesv1.CertificateFailed, "not yet")
	failedCond.LastTransitionTime = now
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{failedCond}

	updated := old.DeepCopy()
	updated.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
	updated.Status.Certificate = []byte("forged")
	sameStatus := failedCond
	sameStatus.LastTransitionTime = metav1.Time{}
	updated.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{sameStatus, condition(certificatesv1.CertificateApproved, "ok")}

	approvalStrategy.PrepareForUpdate(context.Background(), updated, old)

	if string(updated.Status.Certificate) != "stored" {
		t.Errorf("certificate changed through /approval: %q", updated.Status.Certificate)
	}
	if len(updated.Spec.Usages) != 1 || updated.Spec.Usages[0] != certificatesv1.UsageClientAuth {
		t.Errorf("spec changed through /approval: %v", updated.Spec.Usages)
	}
	if len(updated.Status.Conditions) != 2 || updated.Status.Conditions[1].Type != certificatesv1.CertificateApproved {
		t.Fatalf("conditions = %+v, want the request's", updated.Status.Conditions)
	}
	if !updated.Status.Conditions[0].LastTransitionTime.Equal(&now) {
		t.Errorf("unchanged condition's transition time = %v, want the stored %v", updated.Status.Conditions[0].LastTransitionTime, now)
	}
	if updated.Status.Conditions[1].LastTransitionTime.IsZero() || updated.Status.Conditions[1].LastUpdateTime.IsZero() {
		t.Errorf("new condition not stamped")
	}
	if errs := approvalStrategy.ValidateUpdate(context.Background(), updated, old); len(errs) != 0 {
		t.Errorf("approval rejected: %v", errs)
	}
}

func TestApprovedAndDeniedExclusive(t *testing.T) {
	old := newCSR(t)
	updated := old.DeepCopy()
	updated.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{
		condition(certificatesv1.CertificateApproved, ""),
		condition(certificatesv1.CertificateDenied, ""),
	}
	approvalStrategy.PrepareForUpdate(context.Background(), updated, old)
	if errs := approvalStrategy.ValidateUpdate(context.Background(), updated, old); len(errs) == 0 {
		t.Errorf("both Approved and Denied accepted")
	}
}

func TestSignerNameSelectable(t *testing.T) {
	csr := newCSR(t)
	_, set, err := getAttrs(csr)
	if err != nil {
		t.Fatal(err)
	}
	if !fields.SelectorFromSet(fields.Set{"spec.signerName": "example.com/signer"}).Matches(set) {
		t.Errorf("spec.signerName not selectable: %v", set)
	}
	if fields.SelectorFromSet(fields.Set{"spec.signerName": "other"}).Matches(set) {
		t.Errorf("selector on another signer matched")
	}
}
