package volume

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podCertificates keeps, per pod projection, the private key the kubelet
// made and the certificate chain its PodCertificateRequest was issued, as
// upstream's pod certificate manager: the key never leaves the node; a new
// request is made once the certificate reaches its beginRefreshAt.
type podCertificates struct {
	mu    sync.Mutex
	creds map[string]*podCredential
}

type podCredential struct {
	key        []byte // PEM, PKCS#8
	chain      []byte // PEM certificates
	refreshAt  time.Time
	pending    string // name of the request waiting to be issued
	pendingKey []byte
}

func newPodCertificates() *podCertificates {
	return &podCertificates{creds: map[string]*podCredential{}}
}

func (c *podCertificates) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.creds {
		if strings.HasPrefix(k, string(uid)+"/") {
			delete(c.creds, k)
		}
	}
}

// podCertificateFiles is a projected podCertificate source: the key and
// chain, as a credential bundle and/or separate files. Until the signer
// issues the certificate the volume set-up fails, and the pod waits.
func (sc *setupContext) podCertificateFiles(volume string, index int, src *v1.PodCertificateProjection, defaultMode *int32) (map[string]file, error) {
	key, chain, err := sc.podCredential(fmt.Sprintf("%s/%s/%d", sc.pod.UID, volume, index), src)
	if err != nil {
		return nil, err
	}
	mode := modeOf(defaultMode, 0o644)
	if fsGroup(sc.pod) != nil {
		mode = 0o600
	}
	files := map[string]file{}
	if src.CredentialBundlePath != "" {
		files[src.CredentialBundlePath] = file{Data: append(append([]byte{}, key...), chain...), Mode: mode}
	}
	if src.KeyPath != "" {
		files[src.KeyPath] = file{Data: key, Mode: mode}
	}
	if src.CertificateChainPath != "" {
		files[src.CertificateChainPath] = file{Data: chain, Mode: mode}
	}
	return files, nil
}

func (sc *setupContext) podCredential(id string, src *v1.PodCertificateProjection) ([]byte, []byte, error) {
	certs := sc.m.podCerts
	certs.mu.Lock()
	cred := certs.creds[id]
	if cred == nil {
		cred = &podCredential{}
		certs.creds[id] = cred
	}
	certs.mu.Unlock()
	now := time.Now()
	if cred.chain != nil && now.Before(cred.refreshAt) {
		return cred.key, cred.chain, nil
	}
	requests := sc.m.cfg.Client.CertificatesV1().PodCertificateRequests(sc.pod.Namespace)
	if cred.pending != "" {
		pcr, err := requests.Get(sc.ctx, cred.pending, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cred.pending = ""
		case err != nil:
			return nil, nil, fmt.Errorf("get PodCertificateRequest %s: %w", cred.pending, err)
		default:
			for _, t := range []string{certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed} {
				if c := meta.FindStatusCondition(pcr.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
					cred.pending = ""
					return nil, nil, fmt.Errorf("PodCertificateRequest %s: %s: %s", pcr.Name, c.Reason, c.Message)
				}
			}
			if pcr.Status.CertificateChain == "" {
				if cred.chain != nil {
					return cred.key, cred.chain, nil // the old one still serves
				}
				return nil, nil, &WaitingError{fmt.Sprintf("waiting for PodCertificateRequest %s to be issued by %s", pcr.Name, src.SignerName)}
			}
			cred.key, cred.chain, cred.pending = cred.pendingKey, cleanChain([]byte(pcr.Status.CertificateChain)), ""
			cred.refreshAt = now.Add(time.Hour)
			if pcr.Status.BeginRefreshAt != nil {
				cred.refreshAt = pcr.Status.BeginRefreshAt.Time
			}
			return cred.key, cred.chain, nil
		}
	}
	keyPEM, pcr, err := sc.createPodCertificateRequest(src)
	if err != nil {
		return nil, nil, err
	}
	cred.pending, cred.pendingKey = pcr.Name, keyPEM
	if cred.chain != nil {
		return cred.key, cred.chain, nil
	}
	return nil, nil, &WaitingError{fmt.Sprintf("waiting for PodCertificateRequest %s to be issued by %s", pcr.Name, src.SignerName)}
}

func (sc *setupContext) createPodCertificateRequest(src *v1.PodCertificateProjection) ([]byte, *certificatesv1.PodCertificateRequest, error) {
	client := sc.m.cfg.Client
	sa, err := client.CoreV1().ServiceAccounts(sc.pod.Namespace).Get(sc.ctx, sc.pod.Spec.ServiceAccountName, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("get service account %s: %w", sc.pod.Spec.ServiceAccountName, err)
	}
	node, err := client.CoreV1().Nodes().Get(sc.ctx, sc.m.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("get node %s: %w", sc.m.cfg.NodeName, err)
	}
	key, err := generatePodKey(src.KeyType)
	if err != nil {
		return nil, nil, err
	}
	stub, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("stub PKCS#10 request: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal private key: %w", err)
	}
	pcr := &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       sc.pod.Namespace,
			GenerateName:    "req-",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: sc.pod.Name, UID: sc.pod.UID}},
		},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName:                src.SignerName,
			PodName:                   sc.pod.Name,
			PodUID:                    sc.pod.UID,
			ServiceAccountName:        sa.Name,
			ServiceAccountUID:         sa.UID,
			NodeName:                  types.NodeName(node.Name),
			NodeUID:                   node.UID,
			MaxExpirationSeconds:      src.MaxExpirationSeconds,
			StubPKCS10Request:         stub,
			UnverifiedUserAnnotations: src.UserAnnotations,
		},
	}
	pcr, err = client.CertificatesV1().PodCertificateRequests(sc.pod.Namespace).Create(sc.ctx, pcr, metav1.CreateOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("create PodCertificateRequest for signer %s: %w", src.SignerName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pcr, nil
}

// generatePodKey makes a key of one of the types a PodCertificateRequest
// accepts.
func generatePodKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "RSA3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "RSA4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ECDSAP256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECDSAP384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECDSAP521":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ED25519":
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	return nil, fmt.Errorf("unknown key type %q", keyType)
}

// cleanChain keeps only the certificates of a PEM chain, without headers
// or text between blocks.
func cleanChain(in []byte) []byte {
	var out bytes.Buffer
	for {
		var b *pem.Block
		if b, in = pem.Decode(in); b == nil {
			return out.Bytes()
		}
		out.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes}))
	}
}
