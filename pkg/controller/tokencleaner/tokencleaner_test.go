package tokencleaner

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
)

func TestDeletesExpiredTokens(t *testing.T) {
	mk := func(name string, expires time.Time) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem}, Type: bootstrapapi.SecretTypeBootstrapToken,
			Data: map[string][]byte{bootstrapapi.BootstrapTokenExpirationKey: []byte(expires.Format(time.RFC3339))}}
	}
	old, live := mk("bootstrap-token-old000", time.Now().Add(-time.Minute)), mk("bootstrap-token-live00", time.Now().Add(time.Hour))
	client := fake.NewClientset(old, live)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Secrets())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{old, live} {
		_ = factory.Core().V1().Secrets().Informer().GetIndexer().Add(s)
		if err := c.sync(context.Background(), s.Namespace+"/"+s.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Get(context.Background(), old.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("expired token kept: %v", err)
	}
	if _, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Get(context.Background(), live.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("live token deleted: %v", err)
	}
	if c.queue.Len() != 0 {
		// The live token is rechecked later (AddAfter), not now.
		t.Errorf("queue length %d", c.queue.Len())
	}
}
