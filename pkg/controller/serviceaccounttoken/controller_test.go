package serviceaccounttoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
)

type getter struct{ client *fake.Clientset }

func (g getter) GetServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return g.client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
}
func (g getter) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return g.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}
func (g getter) GetSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return g.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}
func (g getter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return g.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func TestFillsAndDeletesTokenSecrets(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := serviceaccount.NewGenerator(serviceaccount.LegacyIssuer, key)
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "builder", UID: "sa-uid"}}
	wanted := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "builder-token", ResourceVersion: "1",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "builder"}}, Type: corev1.SecretTypeServiceAccountToken}
	orphan := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orphan-token", UID: "o-uid", ResourceVersion: "1",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "ghost"}}, Type: corev1.SecretTypeServiceAccountToken}
	client := fake.NewClientset(sa, wanted, orphan)
	f := informers.NewSharedInformerFactory(client, 0)
	for _, o := range []runtime.Object{wanted, orphan} {
		_ = f.Core().V1().Secrets().Informer().GetIndexer().Add(o)
	}
	_ = f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(sa)
	c, err := NewController(f.Core().V1().ServiceAccounts(), f.Core().V1().Secrets(), client, signer, []byte("CA"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if _, err := c.syncSecret(ctx, secretKey{namespace: "ns", name: "builder-token", saName: "builder"}); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Secrets("ns").Get(ctx, "builder-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["ca.crt"]) != "CA" || string(got.Data["namespace"]) != "ns" || len(got.Data["token"]) == 0 || got.Annotations[corev1.ServiceAccountUIDKey] != "sa-uid" {
		t.Fatalf("secret after sync: data keys %v annotations %v", keys(got.Data), got.Annotations)
	}
	// The token is a legacy token the API server accepts while the secret holds it.
	pub, _ := serviceaccount.NewPublicKey(key)
	auth := serviceaccount.NewLegacyAuthenticator([]serviceaccount.PublicKey{pub}, authenticator.Audiences{"https://issuer"}, getter{client}, nil)
	resp, ok, err := auth.AuthenticateToken(ctx, string(got.Data["token"]))
	if err != nil || !ok || resp.User.GetName() != "system:serviceaccount:ns:builder" {
		t.Errorf("token: ok=%v err=%v resp=%v", ok, err, resp)
	}

	if _, err := c.syncSecret(ctx, secretKey{namespace: "ns", name: "orphan-token", uid: "o-uid", saName: "ghost"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Secrets("ns").Get(ctx, "orphan-token", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("token of a missing service account not deleted: %v", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
