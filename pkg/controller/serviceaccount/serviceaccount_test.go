package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

// newController returns a controller whose listers hold objects (no
// informers running), for calling syncHandler directly.
func newController(t *testing.T, objects ...*corev1.Namespace) (*Controller, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().ServiceAccounts(), factory.Core().V1().Namespaces(), DefaultServiceAccounts())
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range objects {
		if err := factory.Core().V1().Namespaces().Informer().GetIndexer().Add(ns); err != nil {
			t.Fatal(err)
		}
	}
	return c, client, factory
}

func TestSyncCreatesDefaultServiceAccount(t *testing.T) {
	c, client, _ := newController(t, namespace("app", corev1.NamespaceActive))
	if err := c.syncHandler(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ServiceAccounts("app").Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("default service account: %v", err)
	}
}

func TestSyncLeavesExistingAndInactiveNamespacesAlone(t *testing.T) {
	c, client, factory := newController(t, namespace("app", corev1.NamespaceActive), namespace("going", corev1.NamespaceTerminating))
	existing := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "app"}}
	if err := factory.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(existing); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"app", "going", "missing"} {
		if err := c.syncHandler(context.Background(), ns); err != nil {
			t.Fatalf("sync %s: %v", ns, err)
		}
	}
	if actions := client.Actions(); len(actions) != 0 {
		t.Errorf("requests = %v, want none", actions)
	}
}

func TestSyncToleratesAlreadyExists(t *testing.T) {
	c, client, _ := newController(t, namespace("app", corev1.NamespaceActive))
	// The cache lags: the account exists on the server already.
	if _, err := client.CoreV1().ServiceAccounts("app").Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.syncHandler(context.Background(), "app"); err != nil {
		t.Errorf("sync = %v, want AlreadyExists ignored", err)
	}
}

func TestRunRecreatesDeletedServiceAccount(t *testing.T) {
	client := fake.NewClientset(namespace("app", corev1.NamespaceActive))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().ServiceAccounts(), factory.Core().V1().Namespaces(), DefaultServiceAccounts())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)

	exists := func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("app").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, exists); err != nil {
		t.Fatalf("default service account not created: %v", err)
	}
	if err := client.CoreV1().ServiceAccounts("app").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, exists); err != nil {
		t.Fatalf("default service account not recreated after deletion: %v", err)
	}
}
