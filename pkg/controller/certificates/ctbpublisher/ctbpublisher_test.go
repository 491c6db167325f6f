package ctbpublisher

import (
	"context"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

const caPEM = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\n-----END CERTIFICATE-----\n"

func TestBundleName(t *testing.T) {
	// Upstream's format: signer with colons, then 24 hex characters.
	got := BundleName(SignerName, []byte("x"))
	want := "kubernetes.io:kube-apiserver-serving:2d711642b726b04401627ca9"
	if got != want {
		t.Errorf("BundleName = %q, want %q", got, want)
	}
}

func TestPublishes(t *testing.T) {
	name := BundleName(SignerName, []byte(caPEM))
	for title, existing := range map[string][]*certificatesv1.ClusterTrustBundle{
		"none yet": nil,
		"an old CA's bundle is replaced": {{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes.io:kube-apiserver-serving:0123456789abcdef01234567"},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: SignerName, TrustBundle: "old"}}},
		"an edited bundle is restored": {{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: SignerName, TrustBundle: "edited"}}},
	} {
		t.Run(title, func(t *testing.T) {
			client := fake.NewClientset()
			for _, b := range existing {
				if _, err := client.CertificatesV1().ClusterTrustBundles().Create(context.Background(), b, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			c, err := NewController(client, []byte(caPEM), 0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go c.informer.RunWithContext(ctx)
			cache.WaitForCacheSync(ctx.Done(), c.synced)
			if err := c.sync(ctx, queueKey); err != nil {
				t.Fatal(err)
			}
			list, err := client.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 || list.Items[0].Name != name || list.Items[0].Spec.TrustBundle != caPEM || list.Items[0].Spec.SignerName != SignerName {
				t.Errorf("bundles = %+v, want only %s with the CA", list.Items, name)
			}
		})
	}
}
