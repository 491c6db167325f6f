// Package helper holds functions several plugins share.
package helper

import (
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// DefaultNormalizeScore scales scores to [0, maxPriority] by the highest
// score; reverse flips them (higher raw score is worse).
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores framework.NodeScoreList) *framework.Status {
	var maxCount int64
	for i := range scores {
		if scores[i].Score > maxCount {
			maxCount = scores[i].Score
		}
	}
	if maxCount == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return nil
	}
	for i := range scores {
		score := maxPriority * scores[i].Score / maxCount
		if reverse {
			score = maxPriority - score
		}
		scores[i].Score = score
	}
	return nil
}

// DoNotScheduleTaintsFilterFunc selects the taints that keep pods off a
// node: NoSchedule and NoExecute.
func DoNotScheduleTaintsFilterFunc() func(t *v1.Taint) bool {
	return func(t *v1.Taint) bool {
		return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
	}
}

var (
	rcKind = v1.SchemeGroupVersion.WithKind("ReplicationController")
	rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	ssKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
)

// DefaultSelector is the selector of the pod's "siblings": the selectors
// of the services selecting it and of its controlling ReplicationController,
// ReplicaSet or StatefulSet. Nil listers are treated as empty.
func DefaultSelector(pod *v1.Pod, sl corelisters.ServiceLister, cl corelisters.ReplicationControllerLister,
	rsl appslisters.ReplicaSetLister, ssl appslisters.StatefulSetLister) labels.Selector {
	labelSet := labels.Set{}
	if sl != nil {
		if services, err := GetPodServices(sl, pod); err == nil {
			for _, s := range services {
				labelSet = labels.Merge(labelSet, s.Spec.Selector)
			}
		}
	}
	selector := labelSet.AsSelector()
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return selector
	}
	gv, err := schema.ParseGroupVersion(owner.APIVersion)
	if err != nil {
		return selector
	}
	switch gv.WithKind(owner.Kind) {
	case rcKind:
		if cl != nil {
			if rc, err := cl.ReplicationControllers(pod.Namespace).Get(owner.Name); err == nil {
				labelSet = labels.Merge(labelSet, rc.Spec.Selector)
				selector = labelSet.AsSelector()
			}
		}
	case rsKind:
		if rsl != nil {
			if rs, err := rsl.ReplicaSets(pod.Namespace).Get(owner.Name); err == nil {
				if other, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector); err == nil {
					if r, ok := other.Requirements(); ok {
						selector = selector.Add(r...)
					}
				}
			}
		}
	case ssKind:
		if ssl != nil {
			if ss, err := ssl.StatefulSets(pod.Namespace).Get(owner.Name); err == nil {
				if other, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector); err == nil {
					if r, ok := other.Requirements(); ok {
						selector = selector.Add(r...)
					}
				}
			}
		}
	}
	return selector
}

// GetPodServices lists the services in the pod's namespace selecting it.
func GetPodServices(sl corelisters.ServiceLister, pod *v1.Pod) ([]*v1.Service, error) {
	all, err := sl.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*v1.Service
	for _, s := range all {
		if s.Spec.Selector == nil {
			continue
		}
		if labels.Set(s.Spec.Selector).AsSelectorPreValidated().Matches(labels.Set(pod.Labels)) {
			out = append(out, s)
		}
	}
	return out, nil
}
