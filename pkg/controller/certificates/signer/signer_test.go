package signer

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller/certificates/internal/testcsr"
)

func approvedCSR(req []byte, signer string, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
		Spec:       certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: signer, Usages: usages},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{
			{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}},
	}
}

func newSigner(t *testing.T, signerName string, caValidity time.Duration, csr *certificatesv1.CertificateSigningRequest) (*Signer, *fake.Clientset, *x509.Certificate) {
	t.Helper()
	certFile, keyFile, ca := testcsr.CA(t, t.TempDir(), caValidity)
	client := fake.NewClientset(csr)
	s, _, err := NewSigner(client, signerName, certFile, keyFile, DefaultDuration)
	if err != nil {
		t.Fatal(err)
	}
	return s, client, ca
}

func issued(t *testing.T, client *fake.Clientset) (*certificatesv1.CertificateSigningRequest, *x509.Certificate) {
	t.Helper()
	csr, err := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "csr-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(csr.Status.Certificate) == 0 {
		return csr, nil
	}
	block, _ := pem.Decode(csr.Status.Certificate)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return csr, cert
}

func TestSignsKubeletServing(t *testing.T) {
	req := testcsr.Request(t, "system:node:node-1", []string{"system:nodes"}, []string{"node-1"}, []net.IP{net.ParseIP("10.0.0.5")})
	csr := approvedCSR(req, certificatesv1.KubeletServingSignerName, certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth)
	csr.Spec.ExpirationSeconds = ptr.To[int32](3600)
	s, client, ca := newSigner(t, certificatesv1.KubeletServingSignerName, 10*365*24*time.Hour, csr)
	if err := s.Handle(context.Background(), csr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	_, cert := issued(t, client)
	if cert == nil {
		t.Fatal("no certificate issued")
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	if cert.Subject.CommonName != "system:node:node-1" || cert.DNSNames[0] != "node-1" || !cert.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) {
		t.Errorf("certificate = %+v", cert.Subject)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || cert.IsCA {
		t.Errorf("usages = %v, isCA %v", cert.ExtKeyUsage, cert.IsCA)
	}
	// One hour, not backdated at the end (shorter than 8h), 5m at the start.
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 64*time.Minute || d > 66*time.Minute {
		t.Errorf("validity = %v", d)
	}
}

func TestValidationFailure(t *testing.T) {
	// A kubelet client certificate must be O=system:nodes.
	req := testcsr.Request(t, "system:node:node-1", []string{"evil"}, nil, nil)
	csr := approvedCSR(req, certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth)
	s, client, _ := newSigner(t, certificatesv1.KubeAPIServerClientKubeletSignerName, 365*24*time.Hour, csr)
	if err := s.Handle(context.Background(), csr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got, cert := issued(t, client)
	if cert != nil {
		t.Fatal("signed an invalid request")
	}
	var failed bool
	for _, c := range got.Status.Conditions {
		if c.Type == certificatesv1.CertificateFailed && c.Reason == "SignerValidationFailure" {
			failed = true
		}
	}
	if !failed {
		t.Errorf("conditions = %+v", got.Status.Conditions)
	}
}

func TestClientCertCappedByCA(t *testing.T) {
	req := testcsr.Request(t, "alice", []string{"devs"}, nil, nil)
	csr := approvedCSR(req, certificatesv1.KubeAPIServerClientSignerName, certificatesv1.UsageClientAuth, certificatesv1.UsageKeyEncipherment)
	s, client, ca := newSigner(t, certificatesv1.KubeAPIServerClientSignerName, 48*time.Hour, csr)
	if err := s.Handle(context.Background(), csr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	_, cert := issued(t, client)
	if cert == nil || !cert.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("certificate outlives the CA: %v vs %v", cert.NotAfter, ca.NotAfter)
	}
}

func TestIgnoresUnapprovedAndOtherSigners(t *testing.T) {
	req := testcsr.Request(t, "alice", nil, nil, nil)
	pending := approvedCSR(req, certificatesv1.KubeAPIServerClientSignerName, certificatesv1.UsageClientAuth)
	pending.Status.Conditions = nil
	s, client, _ := newSigner(t, certificatesv1.KubeAPIServerClientSignerName, 48*time.Hour, pending)
	if err := s.Handle(context.Background(), pending.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if _, cert := issued(t, client); cert != nil {
		t.Error("signed an unapproved CSR")
	}
	other := approvedCSR(req, "example.com/custom", certificatesv1.UsageClientAuth)
	if err := s.Handle(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if _, cert := issued(t, client); cert != nil {
		t.Error("signed a CSR of another signer")
	}
}
