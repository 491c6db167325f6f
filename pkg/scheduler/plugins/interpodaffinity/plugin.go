// Package interpodaffinity filters nodes by required pod (anti-)affinity,
// of the incoming pod and of the pods already running, and scores them by
// preferred (anti-)affinity.
package interpodaffinity

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.InterPodAffinity

// InterPodAffinity is the plugin.
type InterPodAffinity struct {
	parallelizer framework.Parallelizer
	args         configv1.InterPodAffinityArgs
	sharedLister framework.SharedLister
	nsLister     listersv1.NamespaceLister
}

var (
	_ framework.PreFilterPlugin   = &InterPodAffinity{}
	_ framework.FilterPlugin      = &InterPodAffinity{}
	_ framework.PreScorePlugin    = &InterPodAffinity{}
	_ framework.ScorePlugin       = &InterPodAffinity{}
	_ framework.EnqueueExtensions = &InterPodAffinity{}
)

// New returns the plugin.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if h.SnapshotSharedLister() == nil {
		return nil, fmt.Errorf("SnapshotSharedlister is nil")
	}
	args, ok := obj.(*configv1.InterPodAffinityArgs)
	if !ok || args == nil {
		return nil, fmt.Errorf("want args to be of type InterPodAffinityArgs, got %T", obj)
	}
	if w := args.HardPodAffinityWeight; w != nil && (*w < 0 || *w > 100) {
		return nil, fmt.Errorf("hardPodAffinityWeight: Invalid value: %d: not in valid range [0-100]", *w)
	}
	pl := &InterPodAffinity{parallelizer: h.Parallelizer(), args: *args, sharedLister: h.SnapshotSharedLister()}
	if h.SharedInformerFactory() != nil {
		pl.nsLister = h.SharedInformerFactory().Core().V1().Namespaces().Lister()
	}
	return pl, nil
}

func (pl *InterPodAffinity) Name() string { return Name }

func (pl *InterPodAffinity) hardPodAffinityWeight() int32 {
	if pl.args.HardPodAffinityWeight == nil {
		return 1
	}
	return *pl.args.HardPodAffinityWeight
}

func (pl *InterPodAffinity) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete}, QueueingHintFn: pl.isSchedulableAfterAssignedPodChange},
		{Event: framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.UpdatePodLabel}, QueueingHintFn: func(klog.Logger, *v1.Pod, any, any) (framework.QueueingHint, error) {
			return framework.Queue, nil
		}},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

// mergeAffinityTermNamespacesIfNotEmpty resolves a namespace selector to
// namespace names, so matching no longer needs namespace labels.
func (pl *InterPodAffinity) mergeAffinityTermNamespacesIfNotEmpty(at *framework.AffinityTerm) error {
	if at.NamespaceSelector.Empty() {
		return nil
	}
	if pl.nsLister != nil {
		nss, err := pl.nsLister.List(at.NamespaceSelector)
		if err != nil {
			return err
		}
		for _, ns := range nss {
			at.Namespaces.Insert(ns.Name)
		}
	}
	at.NamespaceSelector = labels.Nothing()
	return nil
}

// namespaceLabels are the labels of ns, empty when unknown.
func (pl *InterPodAffinity) namespaceLabels(logger klog.Logger, ns string) labels.Set {
	if pl.nsLister == nil {
		return nil
	}
	n, err := pl.nsLister.Get(ns)
	if err != nil {
		logger.V(3).Info("getting namespace, assuming empty set of namespace labels", "namespace", ns, "err", err)
		return nil
	}
	return labels.Merge(n.Labels, nil)
}

func (pl *InterPodAffinity) isSchedulableAfterAssignedPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if (modified != nil && modified.Spec.NodeName == "" && modified.Status.NominatedNodeName == "") ||
		(original != nil && original.Spec.NodeName == "" && original.Status.NominatedNodeName == "") {
		return framework.QueueSkip, nil
	}
	terms, err := framework.GetAffinityTerms(pod, framework.PodAffinityTerms(pod.Spec.Affinity))
	if err != nil {
		return framework.Queue, err
	}
	antiTerms, err := framework.GetAffinityTerms(pod, framework.PodAntiAffinityTerms(pod.Spec.Affinity))
	if err != nil {
		return framework.Queue, err
	}
	switch {
	case modified != nil && original != nil:
		if !podMatchesAllAffinityTerms(terms, original) && podMatchesAllAffinityTerms(terms, modified) {
			return framework.Queue, nil
		}
		if podMatchesAnyAffinityTerms(antiTerms, original) && !podMatchesAnyAffinityTerms(antiTerms, modified) {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	case modified != nil:
		if podMatchesAllAffinityTerms(terms, modified) {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	}
	if podMatchesAnyAffinityTerms(antiTerms, original) {
		return framework.Queue, nil
	}
	originalAnti, err := framework.GetAffinityTerms(original, framework.PodAntiAffinityTerms(original.Spec.Affinity))
	if err != nil {
		return framework.Queue, err
	}
	if podMatchesAnyAffinityTerms(originalAnti, pod) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

func (pl *InterPodAffinity) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	terms, err := framework.GetAffinityTerms(pod, framework.PodAffinityTerms(pod.Spec.Affinity))
	if err != nil {
		return framework.Queue, err
	}
	for _, t := range terms {
		if original == nil {
			if _, ok := modified.Labels[t.TopologyKey]; ok {
				return framework.Queue, nil
			}
			continue
		}
		ov, oHas := original.Labels[t.TopologyKey]
		mv, mHas := modified.Labels[t.TopologyKey]
		if (!oHas && mHas) || (oHas && mHas && ov != mv) {
			return framework.Queue, nil
		}
	}
	antiTerms, err := framework.GetAffinityTerms(pod, framework.PodAntiAffinityTerms(pod.Spec.Affinity))
	if err != nil {
		return framework.Queue, err
	}
	for _, t := range antiTerms {
		if original == nil {
			return framework.Queue, nil
		}
		ov, oHas := original.Labels[t.TopologyKey]
		mv, mHas := modified.Labels[t.TopologyKey]
		if (oHas && !mHas) || (oHas && mHas && ov != mv) {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}
