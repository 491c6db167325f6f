package rootcacertpublisher

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB...test...\n-----END CERTIFICATE-----\n"

func newPublisher(t *testing.T, client *fake.Clientset, namespaces []*corev1.Namespace, configMaps ...*corev1.ConfigMap) *Publisher {
	t.Helper()
	factory := informers.NewSharedInformerFactory(client, 0)
	p, err := NewController(client, factory.Core().V1().ConfigMaps(), factory.Core().V1().Namespaces(), []byte(testCA))
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		_ = factory.Core().V1().Namespaces().Informer().GetIndexer().Add(ns)
	}
	for _, cm := range configMaps {
		_ = factory.Core().V1().ConfigMaps().Informer().GetIndexer().Add(cm)
	}
	return p
}

func active(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
}

func TestSyncCreatesConfigMap(t *testing.T) {
	client := fake.NewClientset()
	p := newPublisher(t, client, []*corev1.Namespace{active("app")})
	if err := p.syncHandler(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps("app").Get(context.Background(), ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["ca.crt"] != testCA || len(cm.Data) != 1 {
		t.Errorf("data = %v, want only ca.crt with the CA", cm.Data)
	}
	if cm.Annotations[DescriptionAnnotation] != Description {
		t.Errorf("annotations = %v, want upstream's description", cm.Annotations)
	}
}

func TestSyncRepairsChangedConfigMapKeepingOtherAnnotations(t *testing.T) {
	tampered := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "app", Annotations: map[string]string{"team": "blue"}, Labels: map[string]string{"a": "b"}},
		Data:       map[string]string{"ca.crt": "not a CA", "extra": "x"},
	}
	client := fake.NewClientset(tampered)
	p := newPublisher(t, client, []*corev1.Namespace{active("app")}, tampered)
	if err := p.syncHandler(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps("app").Get(context.Background(), ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["ca.crt"] != testCA || len(cm.Data) != 1 {
		t.Errorf("data = %v, want only ca.crt with the CA", cm.Data)
	}
	if cm.Annotations["team"] != "blue" || cm.Annotations[DescriptionAnnotation] != Description || cm.Labels["a"] != "b" {
		t.Errorf("metadata = %v %v, want the user's annotation and label kept and the description added", cm.Annotations, cm.Labels)
	}
}

func TestSyncDoesNothingWhenCorrectOrInactive(t *testing.T) {
	correct := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "app", Annotations: map[string]string{DescriptionAnnotation: Description}},
		Data:       map[string]string{"ca.crt": testCA},
	}
	client := fake.NewClientset()
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "going"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	p := newPublisher(t, client, []*corev1.Namespace{active("app"), terminating}, correct)
	for _, ns := range []string{"app", "going", "missing"} {
		if err := p.syncHandler(context.Background(), ns); err != nil {
			t.Fatalf("sync %s: %v", ns, err)
		}
	}
	if actions := client.Actions(); len(actions) != 0 {
		t.Errorf("requests = %v, want none", actions)
	}
}

func TestNewControllerRejectsEmptyCA(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	if _, err := NewController(client, factory.Core().V1().ConfigMaps(), factory.Core().V1().Namespaces(), nil); err == nil {
		t.Errorf("NewController accepted an empty CA")
	}
}

func TestRunRepublishesDeletedConfigMap(t *testing.T) {
	client := fake.NewClientset(active("app"))
	factory := informers.NewSharedInformerFactory(client, 0)
	p, err := NewController(client, factory.Core().V1().ConfigMaps(), factory.Core().V1().Namespaces(), []byte(testCA))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go p.Run(ctx, 1)
	published := func(ctx context.Context) (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("app").Get(ctx, ConfigMapName, metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == testCA, nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, published); err != nil {
		t.Fatalf("not published: %v", err)
	}
	if err := client.CoreV1().ConfigMaps("app").Delete(ctx, ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, published); err != nil {
		t.Fatalf("not republished after deletion: %v", err)
	}
}
