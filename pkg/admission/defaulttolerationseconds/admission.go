// Package defaulttolerationseconds is upstream's DefaultTolerationSeconds
// admission plugin: pods that do not tolerate the not-ready and
// unreachable NoExecute taints get tolerations for them lasting 300
// seconds, so that they are evicted five minutes after their node fails.
package defaulttolerationseconds

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/admission"
)

// PluginName is the plugin's name in --enable-admission-plugins.
const PluginName = "DefaultTolerationSeconds"

// DefaultSeconds is upstream's --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds.
const DefaultSeconds = 300

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return New(DefaultSeconds, DefaultSeconds), nil
	})
}

// Plugin is the DefaultTolerationSeconds admission plugin.
type Plugin struct {
	*admission.Handler
	notReady, unreachable corev1.Toleration
}

var _ admission.MutationInterface = &Plugin{}

// New returns the plugin adding tolerations of the given lengths.
func New(notReadySeconds, unreachableSeconds int64) *Plugin {
	return &Plugin{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		notReady: corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &notReadySeconds},
		unreachable: corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &unreachableSeconds},
	}
}

// Admit adds the missing tolerations.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetSubresource() != "" {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("expected *api.Pod but got %T", a.GetObject()))
	}
	toleratesNotReady, toleratesUnreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		if noExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == "") {
			toleratesNotReady = true
		}
		if noExecute && (t.Key == corev1.TaintNodeUnreachable || t.Key == "") {
			toleratesUnreachable = true
		}
	}
	if !toleratesNotReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, *p.notReady.DeepCopy())
	}
	if !toleratesUnreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, *p.unreachable.DeepCopy())
	}
	return nil
}
