package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
)

// ClientGetter reads from informer caches first and falls back to the API,
// so that objects created a moment ago are found, as upstream's does.
type ClientGetter struct {
	Client          kubernetes.Interface
	ServiceAccounts corev1listers.ServiceAccountLister
	Pods            corev1listers.PodLister
	Secrets         corev1listers.SecretLister
	Nodes           corev1listers.NodeLister
}

var _ Getter = ClientGetter{}

// GetServiceAccount implements Getter.
func (g ClientGetter) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if sa, err := g.ServiceAccounts.ServiceAccounts(namespace).Get(name); err == nil {
		return sa, nil
	}
	return g.Client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
}

// GetPod implements Getter.
func (g ClientGetter) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	if pod, err := g.Pods.Pods(namespace).Get(name); err == nil {
		return pod, nil
	}
	return g.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// GetSecret implements Getter.
func (g ClientGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if s, err := g.Secrets.Secrets(namespace).Get(name); err == nil {
		return s, nil
	}
	return g.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// GetNode implements Getter.
func (g ClientGetter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	if n, err := g.Nodes.Get(name); err == nil {
		return n, nil
	}
	return g.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}
