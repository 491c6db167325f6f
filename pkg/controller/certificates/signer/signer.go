// Package signer signs approved CertificateSigningRequests with the
// cluster CA, as upstream's csrsigning controllers, for the signers
// kubernetes.io/kube-apiserver-client, kubernetes.io/kube-apiserver-client-kubelet,
// kubernetes.io/kubelet-serving and kubernetes.io/legacy-unknown. Requests
// that do not meet a signer's rules (a kubelet serving certificate must
// name the node, etc.) get the Failed condition (SignerValidationFailure).
// Certificates last --cluster-signing-duration (or the shorter
// spec.expirationSeconds, at least 10 minutes), are backdated 5 minutes,
// and never outlive the CA. The CA files are re-read when they change.
package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	certificatesinformers "k8s.io/client-go/informers/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/keyutil"
	certapi "k8s.io/kubernetes/pkg/apis/certificates"

	"github.com/skiff-project/skiff/pkg/controller/certificates"
)

// DefaultDuration is upstream's --cluster-signing-duration.
const DefaultDuration = 365 * 24 * time.Hour

// Signers are the signer names served, with their controller names.
var Signers = map[string]string{
	certificatesv1.KubeAPIServerClientSignerName:        "csrsigning-kube-apiserver-client",
	certificatesv1.KubeAPIServerClientKubeletSignerName: "csrsigning-kubelet-client",
	certificatesv1.KubeletServingSignerName:             "csrsigning-kubelet-serving",
	certificatesv1beta1.LegacyUnknownSignerName:         "csrsigning-legacy-unknown",
}

// Signer signs the CSRs of one signer name.
type Signer struct {
	client     kubernetes.Interface
	signerName string
	ttl        time.Duration
	ca         *caProvider
	now        func() time.Time
}

// Controller runs the signer and the reloading of its CA files.
type Controller struct {
	csrs   *certificates.Controller
	loader *dynamiccertificates.DynamicCertKeyPairContent
}

// NewController returns the signing controller of signerName, with the CA
// in caFile/caKeyFile.
func NewController(client kubernetes.Interface, csrInformer certificatesinformers.CertificateSigningRequestInformer, signerName, caFile, caKeyFile string, ttl time.Duration) (*Controller, error) {
	s, loader, err := NewSigner(client, signerName, caFile, caKeyFile, ttl)
	if err != nil {
		return nil, err
	}
	csrs, err := certificates.NewController(Signers[signerName], csrInformer, s.Handle)
	if err != nil {
		return nil, err
	}
	return &Controller{csrs: csrs, loader: loader}, nil
}

// Run signs until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Go(func() { c.loader.Run(ctx, 1) })
	wg.Go(func() { c.csrs.Run(ctx, workers) })
	wg.Wait()
}

// NewSigner returns a signer and the loader that keeps its CA current.
func NewSigner(client kubernetes.Interface, signerName, caFile, caKeyFile string, ttl time.Duration) (*Signer, *dynamiccertificates.DynamicCertKeyPairContent, error) {
	if _, ok := Signers[signerName]; !ok {
		return nil, nil, fmt.Errorf("unrecognized signerName: %q", signerName)
	}
	loader, err := dynamiccertificates.NewDynamicServingContentFromFiles("csr-controller", caFile, caKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("error reading CA cert file %q: %w", caFile, err)
	}
	return &Signer{client: client, signerName: signerName, ttl: ttl, ca: &caProvider{content: loader}, now: time.Now}, loader, nil
}

// Handle signs an approved, not failed CSR of this signer.
func (s *Signer) Handle(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	if !certificates.IsApproved(csr) || certificates.HasTrueCondition(csr, certificatesv1.CertificateFailed) {
		return nil
	}
	if csr.Spec.SignerName != s.signerName {
		return nil
	}
	req, err := certapi.ParseCSR(csr.Spec.Request)
	if err != nil {
		return fmt.Errorf("unable to parse csr %q: %w", csr.Name, err)
	}
	if err := validate(s.signerName, req, csr.Spec.Usages); err != nil {
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "SignerValidationFailure",
			Message: err.Error(), LastUpdateTime: metav1.Now(),
		})
		if _, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("error adding failure condition for csr: %w", err)
		}
		return nil
	}
	cert, err := s.Sign(req, csr.Spec.Usages, csr.Spec.ExpirationSeconds)
	if err != nil {
		return fmt.Errorf("error auto signing csr: %w", err)
	}
	csr.Status.Certificate = cert
	if _, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("error updating signature for csr: %w", err)
	}
	return nil
}

// validate applies the signer's rules to the request.
func validate(signerName string, req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	set := sets.NewString()
	for _, u := range usages {
		set.Insert(string(u))
	}
	switch signerName {
	case certificatesv1.KubeletServingSignerName:
		return certapi.ValidateKubeletServingCSR(req, set)
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		return certapi.ValidateKubeletClientCSR(req, set)
	case certificatesv1.KubeAPIServerClientSignerName:
		hasClientAuth := false
		for _, u := range usages {
			switch u {
			case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
			case certificatesv1.UsageClientAuth:
				hasClientAuth = true
			default:
				return fmt.Errorf("invalid usage for client certificate: %s", u)
			}
		}
		if !hasClientAuth {
			return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
		}
	}
	return nil
}

// Backdating and the TTL below which it is not subtracted (upstream's).
const (
	backdate = 5 * time.Minute
	short    = 8 * time.Hour
	minTTL   = 10 * time.Minute
)

// duration is the certificate lifetime for a requested expirationSeconds.
func (s *Signer) duration(expirationSeconds *int32) time.Duration {
	if expirationSeconds == nil {
		return s.ttl
	}
	d := time.Duration(*expirationSeconds) * time.Second
	return min(max(d, minTTL), s.ttl)
}

var serialNumberLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// Sign issues the certificate (PEM) for req.
func (s *Signer) Sign(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage, expirationSeconds *int32) ([]byte, error) {
	caCert, caKey, err := s.ca.current()
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("unable to verify certificate request signature: %w", err)
	}
	serial, err := rand.Int(rand.Reader, serialNumberLimit)
	if err != nil {
		return nil, fmt.Errorf("unable to generate a serial number for %s: %w", req.Subject.CommonName, err)
	}
	keyUsage, extUsages, err := keyUsages(usages)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ttl := s.duration(expirationSeconds)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		EmailAddresses:        req.EmailAddresses,
		URIs:                  req.URIs,
		PublicKeyAlgorithm:    req.PublicKeyAlgorithm,
		PublicKey:             req.PublicKey,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extUsages,
		BasicConstraintsValid: true,
		NotBefore:             now.Add(-backdate),
	}
	if ttl < short {
		tmpl.NotAfter = now.Add(ttl)
	} else {
		tmpl.NotAfter = now.Add(ttl - backdate)
	}
	if !tmpl.NotAfter.Before(caCert.NotAfter) {
		tmpl.NotAfter = caCert.NotAfter
	}
	if !now.Before(caCert.NotAfter) {
		return nil, fmt.Errorf("refusing to sign a certificate that expired in the past: NotAfter=%v", caCert.NotAfter)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, req.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("failed to sign certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

var keyUsageOf = map[certificatesv1.KeyUsage]x509.KeyUsage{
	certificatesv1.UsageSigning:           x509.KeyUsageDigitalSignature,
	certificatesv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
	certificatesv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
	certificatesv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
	certificatesv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
	certificatesv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
	certificatesv1.UsageCertSign:          x509.KeyUsageCertSign,
	certificatesv1.UsageCRLSign:           x509.KeyUsageCRLSign,
	certificatesv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
	certificatesv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
}

var extKeyUsageOf = map[certificatesv1.KeyUsage]x509.ExtKeyUsage{
	certificatesv1.UsageAny:             x509.ExtKeyUsageAny,
	certificatesv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
	certificatesv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
	certificatesv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
	certificatesv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
	certificatesv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
	certificatesv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
	certificatesv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
	certificatesv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	certificatesv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// keyUsages maps CSR usages to x509 key usages and sorted extended key
// usages.
func keyUsages(usages []certificatesv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var ku x509.KeyUsage
	ext := map[x509.ExtKeyUsage]bool{}
	var unknown []certificatesv1.KeyUsage
	for _, u := range usages {
		if v, ok := keyUsageOf[u]; ok {
			ku |= v
		} else if v, ok := extKeyUsageOf[u]; ok {
			ext[v] = true
		} else {
			unknown = append(unknown, u)
		}
	}
	if len(unknown) > 0 {
		return 0, nil, fmt.Errorf("unrecognized usage values: %q", unknown)
	}
	var sorted []x509.ExtKeyUsage
	for e := range ext {
		sorted = append(sorted, e)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return ku, sorted, nil
}

// caProvider parses the CA when the loader's content changes.
type caProvider struct {
	content *dynamiccertificates.DynamicCertKeyPairContent
	mu      sync.Mutex
	raw     []byte
	cert    *x509.Certificate
	key     crypto.Signer
}

func (p *caProvider) current() (*x509.Certificate, crypto.Signer, error) {
	certPEM, keyPEM := p.content.CurrentCertKeyContent()
	p.mu.Lock()
	defer p.mu.Unlock()
	raw := append(append([]byte{}, certPEM...), keyPEM...)
	if p.cert != nil && bytes.Equal(raw, p.raw) {
		return p.cert, p.key, nil
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("no CA certificate in PEM data")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("CA key is not a signer")
	}
	p.raw, p.cert, p.key = raw, cert, signer
	return cert, signer, nil
}
