package scheduler

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

func assignedPod(pod *v1.Pod) bool { return pod.Spec.NodeName != "" }

func (s *Scheduler) responsibleForPod(pod *v1.Pod) bool {
	_, ok := s.Profiles[pod.Spec.SchedulerName]
	return ok
}

func (s *Scheduler) logger() klog.Logger { return klog.Background().WithName("scheduler") }

func (s *Scheduler) addNode(obj any) {
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	logger := s.logger()
	logger.V(3).Info("Add event for node", "node", klog.KObj(node))
	s.Cache.AddNode(logger, node)
	s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}, nil, node, nil)
}

func (s *Scheduler) updateNode(oldObj, newObj any) {
	oldNode, ok1 := oldObj.(*v1.Node)
	newNode, ok2 := newObj.(*v1.Node)
	if !ok1 || !ok2 {
		return
	}
	logger := s.logger()
	s.Cache.UpdateNode(logger, oldNode, newNode)
	for _, ev := range framework.NodeSchedulingPropertiesChange(newNode, oldNode) {
		s.Queue.MoveAllToActiveOrBackoffQueue(logger, ev, oldNode, newNode, nil)
	}
}

func (s *Scheduler) deleteNode(obj any) {
	var node *v1.Node
	switch t := obj.(type) {
	case *v1.Node:
		node = t
	case cache.DeletedFinalStateUnknown:
		var ok bool
		if node, ok = t.Obj.(*v1.Node); !ok {
			return
		}
	default:
		return
	}
	logger := s.logger()
	s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Delete}, node, nil, nil)
	if err := s.Cache.RemoveNode(logger, node); err != nil {
		logger.Error(err, "Scheduler cache RemoveNode failed")
	}
}

func (s *Scheduler) addPod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if assignedPod(pod) {
		s.addAssignedPodToCache(pod)
		return
	}
	if s.responsibleForPod(pod) {
		logger := s.logger()
		logger.V(3).Info("Add event for unscheduled pod", "pod", klog.KObj(pod))
		s.Queue.Add(logger, pod)
	}
}

func (s *Scheduler) updatePod(oldObj, newObj any) {
	oldPod, ok1 := oldObj.(*v1.Pod)
	newPod, ok2 := newObj.(*v1.Pod)
	if !ok1 || !ok2 {
		return
	}
	logger := s.logger()
	switch {
	case assignedPod(oldPod):
		if err := s.Cache.UpdatePod(logger, oldPod, newPod); err != nil {
			logger.Error(err, "Scheduler cache UpdatePod failed", "pod", klog.KObj(oldPod))
		}
		for _, ev := range framework.PodSchedulingPropertiesChange(newPod, oldPod, false) {
			s.Queue.MoveAllToActiveOrBackoffQueue(logger, ev, oldPod, newPod, nil)
		}
	case assignedPod(newPod):
		// The binding landed.
		s.addAssignedPodToCache(newPod)
		if s.responsibleForPod(oldPod) {
			s.Queue.Delete(oldPod)
		}
	case s.responsibleForPod(oldPod):
		s.updatePodInSchedulingQueue(logger, oldPod, newPod)
	}
}

func (s *Scheduler) updatePodInSchedulingQueue(logger klog.Logger, oldPod, newPod *v1.Pod) {
	// Resyncs carry identical objects; a duplicate could be scheduled twice.
	if oldPod.ResourceVersion == newPod.ResourceVersion {
		return
	}
	assumed, err := s.Cache.IsAssumedPod(newPod)
	if err != nil {
		logger.Error(err, "Failed to check whether pod is assumed", "pod", klog.KObj(newPod))
	}
	if assumed {
		if newPod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
			s.handleAssumedPodDeletion(logger, newPod)
		}
		return
	}
	s.Queue.Update(logger, oldPod, newPod)
	if oldPod.Status.NominatedNodeName != "" && oldPod.Status.NominatedNodeName != newPod.Status.NominatedNodeName {
		// Lower-priority pods treated the nominated pod as running there.
		s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodDelete, oldPod, nil, lePriority(corev1helpers.PodPriority(oldPod)))
	}
}

func lePriority(p int32) func(*v1.Pod) bool {
	return func(pod *v1.Pod) bool { return corev1helpers.PodPriority(pod) <= p }
}

func (s *Scheduler) handleAssumedPodDeletion(logger klog.Logger, pod *v1.Pod) {
	cached, err := s.Cache.GetPod(pod)
	if err != nil {
		return
	}
	if err := s.Cache.ForgetPod(logger, cached); err != nil {
		logger.V(4).Info("Could not forget assumed pod", "pod", klog.KObj(pod), "err", err)
	}
	s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodDelete, cached, nil, nil)
}

func (s *Scheduler) deletePod(obj any) {
	logger := s.logger()
	switch t := obj.(type) {
	case *v1.Pod:
		if assignedPod(t) {
			s.deleteAssignedPodFromCache(logger, t)
		} else if s.responsibleForPod(t) {
			s.deletePodFromSchedulingQueue(logger, t)
		}
	case cache.DeletedFinalStateUnknown:
		pod, ok := t.Obj.(*v1.Pod)
		if !ok {
			return
		}
		// The tombstone may be stale; clean up both places.
		if err := s.Cache.RemovePod(logger, pod); err == nil {
			s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodDelete, pod, nil, nil)
		}
		if s.responsibleForPod(pod) {
			s.deletePodFromSchedulingQueue(logger, pod)
		}
	}
}

func (s *Scheduler) deletePodFromSchedulingQueue(logger klog.Logger, pod *v1.Pod) {
	logger.V(3).Info("Delete event for unscheduled pod", "pod", klog.KObj(pod))
	s.Queue.Delete(pod)
	if assumed, _ := s.Cache.IsAssumedPod(pod); assumed {
		s.handleAssumedPodDeletion(logger, pod)
		return
	}
	if pod.Status.NominatedNodeName != "" {
		s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodDelete, pod, nil, lePriority(corev1helpers.PodPriority(pod)))
	}
}

func (s *Scheduler) addAssignedPodToCache(pod *v1.Pod) {
	logger := s.logger()
	logger.V(3).Info("Add event for scheduled pod", "pod", klog.KObj(pod))
	if err := s.Cache.AddPod(logger, pod); err != nil {
		logger.Error(err, "Scheduler cache AddPod failed", "pod", klog.KObj(pod))
	}
	s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodAdd, nil, pod, nil)
}

func (s *Scheduler) deleteAssignedPodFromCache(logger klog.Logger, pod *v1.Pod) {
	logger.V(3).Info("Delete event for scheduled pod", "pod", klog.KObj(pod))
	if err := s.Cache.RemovePod(logger, pod); err != nil {
		logger.Error(err, "Scheduler cache RemovePod failed", "pod", klog.KObj(pod))
	}
	s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodDelete, pod, nil, nil)
}

// addAllEventHandlers wires the informers to the cache and queue: pods
// and nodes always, storage and other resources when served.
func (s *Scheduler) addAllEventHandlers() error {
	f := s.informerFactory
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.addPod, UpdateFunc: s.updatePod, DeleteFunc: s.deletePod,
	}); err != nil {
		return fmt.Errorf("pod handler: %w", err)
	}
	if _, err := f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.addNode, UpdateFunc: s.updateNode, DeleteFunc: s.deleteNode,
	}); err != nil {
		return fmt.Errorf("node handler: %w", err)
	}
	// Namespaces are needed for namespaceSelector in pod affinity.
	f.Core().V1().Namespaces().Informer()
	type resource struct {
		gvr      string
		event    framework.EventResource
		informer func() cache.SharedIndexInformer
	}
	for _, r := range []resource{
		{"v1/persistentvolumeclaims", framework.PersistentVolumeClaim, func() cache.SharedIndexInformer { return f.Core().V1().PersistentVolumeClaims().Informer() }},
		{"v1/persistentvolumes", framework.PersistentVolume, func() cache.SharedIndexInformer { return f.Core().V1().PersistentVolumes().Informer() }},
		{"storage.k8s.io/v1/storageclasses", framework.StorageClass, func() cache.SharedIndexInformer { return f.Storage().V1().StorageClasses().Informer() }},
		{"storage.k8s.io/v1/csinodes", framework.CSINode, func() cache.SharedIndexInformer { return f.Storage().V1().CSINodes().Informer() }},
		{"storage.k8s.io/v1/csidrivers", framework.CSIDriver, func() cache.SharedIndexInformer { return f.Storage().V1().CSIDrivers().Informer() }},
		{"storage.k8s.io/v1/volumeattachments", framework.VolumeAttachment, func() cache.SharedIndexInformer { return f.Storage().V1().VolumeAttachments().Informer() }},
		{"resource.k8s.io/v1/resourceclaims", framework.ResourceClaim, func() cache.SharedIndexInformer { return f.Resource().V1().ResourceClaims().Informer() }},
	} {
		if !s.served(r.gvr) {
			continue
		}
		ev := r.event
		if _, err := r.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				s.Queue.MoveAllToActiveOrBackoffQueue(s.logger(), framework.ClusterEvent{Resource: ev, ActionType: framework.Add}, nil, obj, nil)
			},
			UpdateFunc: func(old, obj any) {
				s.Queue.MoveAllToActiveOrBackoffQueue(s.logger(), framework.ClusterEvent{Resource: ev, ActionType: framework.Update}, old, obj, nil)
			},
			DeleteFunc: func(obj any) {
				s.Queue.MoveAllToActiveOrBackoffQueue(s.logger(), framework.ClusterEvent{Resource: ev, ActionType: framework.Delete}, obj, nil, nil)
			},
		}); err != nil {
			return fmt.Errorf("%s handler: %w", r.gvr, err)
		}
	}
	return nil
}
