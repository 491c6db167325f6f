package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/registry/scheduling/priorityclass"
)

// systemNamespaces exist in every cluster, as upstream creates them.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// bootstrapper creates and keeps the objects every cluster starts with.
type bootstrapper struct {
	client kubernetes.Interface
	// serviceIP is the kubernetes Service's ClusterIP (first of the range);
	// endpoint is where that Service's traffic goes (this server).
	serviceIP    net.IP
	endpointIP   net.IP
	endpointPort int32
	// clientCA and frontProxyCA are published for extension API servers.
	clientCAFile, frontProxyCAFile string
}

// run creates the system namespaces and the authentication configmap, then
// keeps the kubernetes Service and its endpoints in place until ctx ends.
// The first round must succeed before the server reports ready.
func (b *bootstrapper) run(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := b.ensureNamespaces(ctx); err != nil {
			klog.InfoS("Bootstrap: waiting to create system namespaces", "err", err)
			return false, nil
		}
		if err := b.ensureAuthenticationConfigMap(ctx); err != nil {
			klog.InfoS("Bootstrap: waiting to publish extension-apiserver-authentication", "err", err)
			return false, nil
		}
		if err := b.ensurePriorityClasses(ctx); err != nil {
			klog.InfoS("Bootstrap: waiting to create system priority classes", "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("bootstrap objects: %w", err)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := b.ensureKubernetesService(ctx); err != nil {
			klog.ErrorS(err, "Cannot reconcile the kubernetes Service")
		}
	}, 10*time.Second)
	return nil
}

func (b *bootstrapper) ensureNamespaces(ctx context.Context) error {
	for _, name := range systemNamespaces {
		_, err := b.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	return nil
}

// ensurePriorityClasses creates system-node-critical and
// system-cluster-critical, which no one else may create.
func (b *bootstrapper) ensurePriorityClasses(ctx context.Context) error {
	for _, pc := range priorityclass.SystemPriorityClasses() {
		_, err := b.client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}

// ensureAuthenticationConfigMap publishes kube-system/extension-apiserver-authentication:
// the CAs and request headers that aggregated API servers trust.
func (b *bootstrapper) ensureAuthenticationConfigMap(ctx context.Context) error {
	clientCA, err := os.ReadFile(b.clientCAFile)
	if err != nil {
		return err
	}
	frontProxyCA, err := os.ReadFile(b.frontProxyCAFile)
	if err != nil {
		return err
	}
	jsonList := func(v ...string) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	want := map[string]string{
		"client-ca-file":                     string(clientCA),
		"requestheader-client-ca-file":       string(frontProxyCA),
		"requestheader-allowed-names":        jsonList("front-proxy-client"),
		"requestheader-username-headers":     jsonList("X-Remote-User"),
		"requestheader-uid-headers":          jsonList("X-Remote-Uid"),
		"requestheader-group-headers":        jsonList("X-Remote-Group"),
		"requestheader-extra-headers-prefix": jsonList("X-Remote-Extra-"),
	}
	cms := b.client.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	cm, err := cms.Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "extension-apiserver-authentication", Namespace: metav1.NamespaceSystem},
			Data:       want,
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil || reflect.DeepEqual(cm.Data, want) {
		return err
	}
	cm.Data = want
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

// ensureKubernetesService keeps default/kubernetes (ClusterIP = first IP of
// the service range, port 443 "https") and its Endpoints and EndpointSlice
// pointing at this server, as upstream's apiserver does.
func (b *bootstrapper) ensureKubernetesService(ctx context.Context) error {
	services := b.client.CoreV1().Services(metav1.NamespaceDefault)
	if _, err := services.Get(ctx, "kubernetes", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		singleStack := corev1.IPFamilyPolicySingleStack
		_, err = services.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{
				Name:   "kubernetes",
				Labels: map[string]string{"provider": "kubernetes", "component": "apiserver"},
			},
			Spec: corev1.ServiceSpec{
				Type:            corev1.ServiceTypeClusterIP,
				ClusterIP:       b.serviceIP.String(),
				IPFamilyPolicy:  &singleStack,
				SessionAffinity: corev1.ServiceAffinityNone,
				Ports: []corev1.ServicePort{{
					Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(b.endpointPort),
				}},
			},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service: %w", err)
		}
	} else if err != nil {
		return err
	}
	if err := b.ensureEndpoints(ctx); err != nil {
		return err
	}
	return b.ensureEndpointSlice(ctx)
}

func (b *bootstrapper) ensureEndpoints(ctx context.Context) error {
	want := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: b.endpointIP.String()}},
		Ports:     []corev1.EndpointPort{{Name: "https", Port: b.endpointPort, Protocol: corev1.ProtocolTCP}},
	}}
	client := b.client.CoreV1().Endpoints(metav1.NamespaceDefault)
	ep, err := client.Get(ctx, "kubernetes", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{
				Name: "kubernetes",
				// The endpoints controller must leave these alone.
				Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"},
			},
			Subsets: want,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err != nil || reflect.DeepEqual(ep.Subsets, want) {
		return err
	}
	ep.Subsets = want
	_, err = client.Update(ctx, ep, metav1.UpdateOptions{})
	return err
}

func (b *bootstrapper) ensureEndpointSlice(ctx context.Context) error {
	ready := true
	name, protocol, port := "https", corev1.ProtocolTCP, b.endpointPort
	want := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:   "kubernetes",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{b.endpointIP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &name, Protocol: &protocol, Port: &port}},
	}
	if b.endpointIP.To4() == nil {
		want.AddressType = discoveryv1.AddressTypeIPv6
	}
	client := b.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	cur, err := client.Get(ctx, "kubernetes", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, &want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if reflect.DeepEqual(cur.Endpoints, want.Endpoints) && reflect.DeepEqual(cur.Ports, want.Ports) &&
		reflect.DeepEqual(cur.Labels, want.Labels) && cur.AddressType == want.AddressType {
		return nil
	}
	cur.Labels, cur.AddressType, cur.Endpoints, cur.Ports = want.Labels, want.AddressType, want.Endpoints, want.Ports
	_, err = client.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}
