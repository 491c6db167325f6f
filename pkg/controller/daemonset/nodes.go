package daemonset

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
)

// Labels on daemon pods (upstream's; the generation one is deprecated but
// still honoured when the DaemonSet carries the annotation).
const (
	templateGenerationLabel                = "pod-template-generation"
	deprecatedTemplateGenerationAnnotation = "deprecated.daemonset.template.generation"
)

// addDaemonPodTolerations adds the tolerations every daemon pod gets, so
// that it runs on nodes that are not ready, unreachable, under pressure
// or unschedulable (and without network, for host-network pods).
func addDaemonPodTolerations(spec *corev1.PodSpec) {
	add := func(key string, effect corev1.TaintEffect) {
		v1helper.AddOrUpdateTolerationInPodSpec(spec, &corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	}
	add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	if spec.HostNetwork {
		add(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
}

func daemonPodTolerations(ds *appsv1.DaemonSet) []corev1.Toleration {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonPodTolerations(spec)
	return spec.Tolerations
}

// placement decides which nodes a DaemonSet wants.
type placement struct {
	ds          *appsv1.DaemonSet
	tolerations []corev1.Toleration
	affinity    nodeaffinity.RequiredNodeAffinity
}

func newPlacement(ds *appsv1.DaemonSet) placement {
	return placement{
		ds:          ds,
		tolerations: daemonPodTolerations(ds),
		affinity:    nodeaffinity.NewRequiredNodeAffinity(ds.Spec.Template.Spec.NodeSelector, ds.Spec.Template.Spec.Affinity),
	}
}

// shouldRun returns whether a daemon pod should be placed on node and
// whether an existing one may keep running there (it may unless a
// NoExecute taint is not tolerated).
func (p placement) shouldRun(node *corev1.Node) (shouldRun, shouldContinueRunning bool) {
	if name := p.ds.Spec.Template.Spec.NodeName; name != "" && name != node.Name {
		return false, false
	}
	if ok, _ := p.affinity.Match(node); !ok {
		return false, false
	}
	logger := klog.Background()
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, p.tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}, false)
	if !untolerated {
		return true, true
	}
	_, untoleratedNoExecute := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, p.tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return false, !untoleratedNoExecute
}

// podTemplate is the DaemonSet's template with the daemon tolerations and
// the revision hash (and deprecated generation) labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) corev1.PodTemplateSpec {
	t := *ds.Spec.Template.DeepCopy()
	addDaemonPodTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen, err := templateGeneration(ds); err == nil && gen != nil {
		t.Labels[templateGenerationLabel] = fmt.Sprint(*gen)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

func templateGeneration(ds *appsv1.DaemonSet) (*int64, error) {
	v, ok := ds.Annotations[deprecatedTemplateGenerationAnnotation]
	if !ok {
		return nil, nil
	}
	g, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// isPodUpdated: the pod has the current revision hash (or generation).
func isPodUpdated(pod *corev1.Pod, hash string, generation *int64) bool {
	return (hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash) ||
		(generation != nil && pod.Labels[templateGenerationLabel] == fmt.Sprint(*generation))
}

// pinToNode makes the pod require the node by name (matchFields on
// metadata.name), so the scheduler binds it there.
func pinToNode(affinity *corev1.Affinity, node string) *corev1.Affinity {
	selector := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	if affinity == nil {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: selector}}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	// Terms already matched when choosing the node; only the pin stays.
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = selector
	return affinity
}

// targetNode is the node a daemon pod is bound or pinned to.
func targetNode(pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("no spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution for pod %s/%s", pod.Namespace, pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, req := range term.MatchFields {
			if req.Key == metav1.ObjectNameField && req.Operator == corev1.NodeSelectorOpIn {
				if len(req.Values) != 1 {
					return "", fmt.Errorf("the matchFields value of '%s' is not unique for pod %s/%s", metav1.ObjectNameField, pod.Namespace, pod.Name)
				}
				return req.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("no node name found for pod %s/%s", pod.Namespace, pod.Name)
}

// surgeCount and unavailableCount resolve the rolling update's numbers
// against the number of nodes that should run a pod.
func surgeCount(ds *appsv1.DaemonSet, n int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, n, true)
}

func unavailableCount(ds *appsv1.DaemonSet, n int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, n, true)
}

func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}
