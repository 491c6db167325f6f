package bootstrapsigner

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
)

func token(id, secret string, signing bool, expires time.Time) *corev1.Secret {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:     []byte(id),
		bootstrapapi.BootstrapTokenSecretKey: []byte(secret),
	}
	if signing {
		data[bootstrapapi.BootstrapTokenUsageSigningKey] = []byte("true")
	}
	if !expires.IsZero() {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(expires.Format(time.RFC3339))
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.BootstrapTokenSecretPrefix + id, Namespace: metav1.NamespaceSystem},
		Type: bootstrapapi.SecretTypeBootstrapToken, Data: data}
}

func TestSignsClusterInfo(t *testing.T) {
	kubeconfig := "apiVersion: v1\nkind: Config\nclusters: []\n"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.ConfigMapClusterInfo, Namespace: metav1.NamespacePublic},
		Data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig, bootstrapapi.JWSSignatureKeyPrefix + "old000": "stale"}}
	objs := []runtime.Object{cm,
		token("abcdef", "0123456789abcdef", true, time.Time{}),
		token("nosign", "0123456789abcdef", false, time.Time{}),
		token("expird", "0123456789abcdef", true, time.Now().Add(-time.Hour)),
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().ConfigMaps(), factory.Core().V1().Secrets())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.ConfigMap:
			_ = factory.Core().V1().ConfigMaps().Informer().GetIndexer().Add(v)
		case *corev1.Secret:
			_ = factory.Core().V1().Secrets().Informer().GetIndexer().Add(v)
		}
	}
	if err := c.sign(context.Background(), queueKey); err != nil {
		t.Fatal(err)
	}
	got, _ := client.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(context.Background(), bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	sig, ok := got.Data[bootstrapapi.JWSSignatureKeyPrefix+"abcdef"]
	if !ok || !jws.DetachedTokenIsValid(sig, kubeconfig, "abcdef", "0123456789abcdef") {
		t.Errorf("signature %q missing or invalid", sig)
	}
	for _, k := range []string{"old000", "nosign", "expird"} {
		if _, ok := got.Data[bootstrapapi.JWSSignatureKeyPrefix+k]; ok {
			t.Errorf("signature of %s present", k)
		}
	}
}
