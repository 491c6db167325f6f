package volume

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func testCertPEM(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestClusterTrustBundleProjection(t *testing.T) {
	a, b := testCertPEM(t, "a"), testCertPEM(t, "b")
	bundle := func(name, signer string, labels map[string]string, certs ...string) *certificatesv1.ClusterTrustBundle {
		ctb := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		ctb.Spec.SignerName = signer
		for _, c := range certs {
			ctb.Spec.TrustBundle += c
		}
		return ctb
	}
	client := fake.NewClientset(
		bundle("by-name", "", nil, a),
		bundle("example.com:signer:one", "example.com/signer", map[string]string{"team": "x"}, a, b),
		bundle("example.com:signer:two", "example.com/signer", map[string]string{"team": "y"}, a),
	)
	sc := &setupContext{ctx: context.Background(), m: NewManager(Config{Client: client}), pod: &v1.Pod{}}
	tests := []struct {
		name    string
		src     v1.ClusterTrustBundleProjection
		want    []string // certificates in the file, any order
		wantErr bool
	}{
		{name: "by name", src: v1.ClusterTrustBundleProjection{Name: ptr.To("by-name")}, want: []string{a}},
		{name: "missing name", src: v1.ClusterTrustBundleProjection{Name: ptr.To("nope")}, wantErr: true},
		{name: "missing name, optional", src: v1.ClusterTrustBundleProjection{Name: ptr.To("nope"), Optional: ptr.To(true)}, want: nil},
		{name: "signer, empty selector: all, deduplicated", src: v1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/signer"), LabelSelector: &metav1.LabelSelector{}}, want: []string{a, b}},
		{name: "signer and labels", src: v1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/signer"), LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "y"}}}, want: []string{a}},
		{name: "signer, nil selector matches nothing", src: v1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/signer")}, wantErr: true},
		{name: "signer, nil selector, optional", src: v1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/signer"), Optional: ptr.To(true)}, want: nil},
		{name: "neither name nor signer", src: v1.ClusterTrustBundleProjection{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := sc.clusterTrustBundleFile(&tt.src, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got int
			rest := f.Data
			for {
				var block *pem.Block
				if block, rest = pem.Decode(rest); block == nil {
					break
				}
				got++
			}
			if got != len(tt.want) {
				t.Fatalf("file has %d certificates, want %d:\n%s", got, len(tt.want), f.Data)
			}
			for _, w := range tt.want {
				if !bytes.Contains(f.Data, []byte(w)) {
					t.Errorf("file lacks a certificate")
				}
			}
		})
	}
}
