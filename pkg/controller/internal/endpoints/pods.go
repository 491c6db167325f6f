// Package endpoints holds the rules the endpoints, endpointslice and
// endpointslice-mirroring controllers share: which pods are endpoints of a
// Service and on which port, which Services a pod change touches, and the
// bookkeeping of the EndpointSlices a controller wrote.
package endpoints

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// IncludePod reports whether pod is an endpoint at all: it has an IP, is
// not terminal and, unless includeTerminating, is not being deleted.
func IncludePod(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// SetsHostname reports whether the pod's endpoint carries its hostname: the
// pod names the Service as its subdomain.
func SetsHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && svc.Namespace == pod.Namespace
}

// FindPort resolves a Service port's targetPort on pod: a number as is, a
// name through the ports of the pod's containers and sidecars (restartable
// init containers) with the same protocol.
func FindPort(pod *corev1.Pod, svcPort *corev1.ServicePort) (int, error) {
	target := svcPort.TargetPort
	switch target.Type {
	case intstr.Int:
		return target.IntValue(), nil
	case intstr.String:
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == target.StrVal && p.Protocol == svcPort.Protocol {
					return int(p.ContainerPort), nil
				}
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				continue
			}
			for _, p := range c.Ports {
				if p.Name == target.StrVal && p.Protocol == svcPort.Protocol {
					return int(p.ContainerPort), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no suitable port for manifest: %s", pod.UID)
}

// PodChange is what a pod event means for Services: the pod's labels now
// and, when they changed, before.
type PodChange struct {
	Namespace string
	Labels    labels.Set
	// OldLabels is set when the labels (or hostname/subdomain) changed.
	OldLabels labels.Set
	// Changed is whether something endpoints show (readiness, IPs,
	// deletion) changed besides the labels.
	Changed bool
}

// PodChangeFor returns the change an add (old nil), update or delete (cur
// nil) event makes, or nil when no Service can be affected.
func PodChangeFor(old, cur interface{}) *PodChange {
	oldPod, curPod := podOf(old), podOf(cur)
	switch {
	case oldPod == nil && curPod == nil:
		return nil
	case oldPod == nil:
		return &PodChange{Namespace: curPod.Namespace, Labels: curPod.Labels}
	case curPod == nil:
		return &PodChange{Namespace: oldPod.Namespace, Labels: oldPod.Labels}
	}
	if curPod.ResourceVersion == oldPod.ResourceVersion {
		return nil // a resync
	}
	changed, labelsChanged := endpointsChanged(oldPod, curPod)
	switch {
	case !changed && !labelsChanged:
		return nil
	case !labelsChanged:
		return &PodChange{Namespace: curPod.Namespace, Labels: curPod.Labels}
	}
	oldLabels := labels.Set(oldPod.Labels)
	if oldLabels == nil {
		oldLabels = labels.Set{} // non-nil: the labels did change
	}
	return &PodChange{Namespace: curPod.Namespace, Labels: curPod.Labels, OldLabels: oldLabels, Changed: changed}
}

func podOf(obj interface{}) *corev1.Pod {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

// endpointsChanged compares what endpoints show of a pod: whether that
// changed, and whether its labels (or hostname/subdomain) did.
func endpointsChanged(old, cur *corev1.Pod) (changed, labelsChanged bool) {
	labelsChanged = !reflect.DeepEqual(old.Labels, cur.Labels) ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain
	if !old.DeletionTimestamp.Equal(cur.DeletionTimestamp) || podutil.IsPodReady(old) != podutil.IsPodReady(cur) {
		return true, labelsChanged
	}
	if len(old.Status.PodIPs) != len(cur.Status.PodIPs) {
		return true, labelsChanged
	}
	for i := range old.Status.PodIPs {
		if old.Status.PodIPs[i].IP != cur.Status.PodIPs[i].IP {
			return true, labelsChanged
		}
	}
	return false, labelsChanged
}

// ServicesFor returns the keys of the Services whose endpoints a pod change
// may alter: those selecting the pod now, plus, when its labels changed,
// those it left or joined (all old and new ones if something else changed
// too).
func ServicesFor(lister corelisters.ServiceLister, change *PodChange) (sets.Set[string], error) {
	if change == nil {
		return nil, nil
	}
	cur, err := servicesSelecting(lister, change.Namespace, change.Labels)
	if err != nil {
		return nil, err
	}
	if change.OldLabels == nil {
		return cur, nil
	}
	old, err := servicesSelecting(lister, change.Namespace, change.OldLabels)
	if err != nil {
		return nil, err
	}
	if change.Changed {
		return cur.Union(old), nil
	}
	return cur.SymmetricDifference(old), nil
}

func servicesSelecting(lister corelisters.ServiceLister, namespace string, podLabels labels.Set) (sets.Set[string], error) {
	services, err := lister.Services(namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list services of namespace %s: %w", namespace, err)
	}
	keys := sets.New[string]()
	for _, svc := range services {
		if svc.Spec.Selector == nil {
			continue
		}
		if labels.ValidatedSetSelector(svc.Spec.Selector).Matches(podLabels) {
			keys.Insert(svc.Namespace + "/" + svc.Name)
		}
	}
	return keys, nil
}
