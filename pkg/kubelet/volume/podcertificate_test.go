package volume

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestPodCertificateProjection: the first set-up creates a
// PodCertificateRequest with the pod's, service account's and node's
// identities and a stub CSR of the asked key type, and waits; once the
// signer issued a chain the bundle holds the key (matching the CSR) and
// the chain.
func TestPodCertificateProjection(t *testing.T) {
	client := fake.NewClientset(
		&v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", UID: "sa-uid"}},
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "node-uid"}},
	)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"}, Spec: v1.PodSpec{ServiceAccountName: "default"}}
	sc := &setupContext{ctx: context.Background(), m: NewManager(Config{Client: client, NodeName: "node-1"}), pod: pod}
	src := &v1.PodCertificateProjection{SignerName: "example.com/signer", KeyType: "ECDSAP256", CredentialBundlePath: "bundle.pem",
		UserAnnotations: map[string]string{"example.com/path": "x"}}

	if _, err := sc.podCertificateFiles("tls", 0, src, nil); err == nil || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("first set-up: err = %v, want waiting", err)
	}
	list, err := client.CertificatesV1().PodCertificateRequests("ns").List(sc.ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("requests: %v %v", list, err)
	}
	pcr := list.Items[0]
	if pcr.Spec.PodUID != "pod-uid" || pcr.Spec.ServiceAccountUID != "sa-uid" || pcr.Spec.NodeUID != "node-uid" || pcr.Spec.SignerName != "example.com/signer" ||
		pcr.Spec.UnverifiedUserAnnotations["example.com/path"] != "x" {
		t.Errorf("request spec: %+v", pcr.Spec)
	}
	csr, err := x509.ParseCertificateRequest(pcr.Spec.StubPKCS10Request)
	if err != nil || csr.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("stub CSR: %v %v", csr, err)
	}
	// The fake clientset does not generate names: give the request one.
	pcr.Name = "req-1"
	_ = client.CertificatesV1().PodCertificateRequests("ns").Delete(sc.ctx, "", metav1.DeleteOptions{})
	chain := testCertPEM(t, "pod")
	pcr.Status = certificatesv1.PodCertificateRequestStatus{CertificateChain: "leading text\n" + chain}
	if _, err := client.CertificatesV1().PodCertificateRequests("ns").Create(sc.ctx, &pcr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sc.m.podCerts.creds["pod-uid/tls/0"].pending = "req-1"

	files, err := sc.podCertificateFiles("tls", 0, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle := files["bundle.pem"].Data
	block, rest := pem.Decode(bundle)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("bundle does not start with the key:\n%s", bundle)
	}
	if !bytes.Equal(bytes.TrimSpace(rest), bytes.TrimSpace([]byte(chain))) {
		t.Errorf("chain in bundle = %q, want the issued chain without other text", rest)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(key.(crypto.Signer).Public())
	want, _ := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if !bytes.Equal(pub, want) {
		t.Error("key does not match the request's public key")
	}
}

func TestWaitingErrors(t *testing.T) {
	waiting := &WaitingError{"waiting for PodCertificateRequest r to be issued by example.com/s"}
	if !IsWaiting(fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", "v", waiting)) {
		t.Error("a wrapped WaitingError is not waiting")
	}
	if !allWaiting([]error{waiting, waiting}) || allWaiting([]error{waiting, errors.New("configmap \"x\" not found")}) {
		t.Error("allWaiting must hold only when every volume waits")
	}
}
