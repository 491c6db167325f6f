package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// noteLengthLimit is the longest event note (upstream's validation limit).
const noteLengthLimit = 1024

// scheduleResult is a successful cycle's outcome.
type scheduleResult struct {
	suggestedHost  string
	evaluatedNodes int
	feasibleNodes  int
	nominatingInfo *framework.NominatingInfo
}

var clearNominatedNode = &framework.NominatingInfo{NominatingMode: framework.ModeOverride, NominatedNodeName: ""}

// ScheduleOne schedules the next pod of the queue.
func (s *Scheduler) ScheduleOne(ctx context.Context) {
	pi := s.Queue.Pop(klog.FromContext(ctx))
	if pi == nil || pi.Pod == nil {
		return
	}
	pod := pi.Pod
	logger := loggerFor(ctx, pod)
	ctx = klog.NewContext(ctx, logger)
	fw, ok := s.Profiles[pod.Spec.SchedulerName]
	if !ok {
		logger.Error(nil, "Profile not found for scheduler name", "schedulerName", pod.Spec.SchedulerName)
		s.Queue.Done(pod.UID)
		return
	}
	if s.skipPodSchedule(ctx, fw, pod) {
		s.Queue.Done(pod.UID)
		return
	}
	logger.V(3).Info("Attempting to schedule pod")
	start := time.Now()
	state := framework.NewCycleState()

	result, assumed, status := s.schedulingCycle(ctx, state, fw, pi)
	if !status.IsSuccess() {
		s.handleSchedulingFailure(ctx, fw, assumed, status, result.nominatingInfo, start)
		return
	}
	go s.runBindingCycle(ctx, state, fw, result, assumed, start)
}

func (s *Scheduler) skipPodSchedule(ctx context.Context, fw *framework.Framework, pod *v1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		if r := fw.EventRecorder(); r != nil {
			r.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "skip schedule deleting pod: %v/%v", pod.Namespace, pod.Name)
		}
		klog.FromContext(ctx).V(3).Info("Skip schedule deleting pod")
		return true
	}
	// A pod updated while its previous attempt was assuming it may come
	// back; it is already placed.
	assumed, err := s.Cache.IsAssumedPod(pod)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Failed to check whether pod is assumed")
		return false
	}
	return assumed
}

func (s *Scheduler) schedulingCycle(ctx context.Context, state *framework.CycleState, fw *framework.Framework, pi *framework.QueuedPodInfo) (scheduleResult, *framework.QueuedPodInfo, *framework.Status) {
	if err := s.Cache.UpdateSnapshot(klog.FromContext(ctx), s.snapshot); err != nil {
		return scheduleResult{nominatingInfo: clearNominatedNode}, pi, framework.AsStatus(err)
	}
	result, status := s.schedulingAlgorithm(ctx, state, fw, pi)
	if !status.IsSuccess() {
		return result, pi, status
	}
	assumed := pi.DeepCopy()
	if err := s.assume(klog.FromContext(ctx), assumed.Pod, result.suggestedHost); err != nil {
		return scheduleResult{nominatingInfo: clearNominatedNode}, assumed, framework.AsStatus(err)
	}
	if sts := fw.RunReservePluginsReserve(ctx, state, assumed.Pod, result.suggestedHost); !sts.IsSuccess() {
		fw.RunReservePluginsUnreserve(ctx, state, assumed.Pod, result.suggestedHost)
		if err := s.Cache.ForgetPod(klog.FromContext(ctx), assumed.Pod); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "ForgetPod failed")
		}
		if sts.IsRejected() {
			fitErr := &framework.FitError{NumAllNodes: 1, Pod: pi.Pod, Diagnosis: framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}}
			fitErr.Diagnosis.NodeToStatus.Set(result.suggestedHost, sts)
			fitErr.Diagnosis.AddPluginStatus(sts)
			return scheduleResult{nominatingInfo: clearNominatedNode}, assumed, framework.NewStatus(sts.Code()).WithError(fitErr)
		}
		return scheduleResult{nominatingInfo: clearNominatedNode}, assumed, sts
	}
	return result, assumed, nil
}

// schedulingAlgorithm filters and scores nodes, and runs PostFilter
// (preemption) when no node fits.
func (s *Scheduler) schedulingAlgorithm(ctx context.Context, state *framework.CycleState, fw *framework.Framework, pi *framework.QueuedPodInfo) (scheduleResult, *framework.Status) {
	pod := pi.Pod
	result, err := s.schedulePod(ctx, fw, state, pi)
	if err == nil {
		return result, nil
	}
	if errors.Is(err, framework.ErrNoNodesAvailable) {
		return scheduleResult{nominatingInfo: clearNominatedNode}, framework.NewStatus(framework.UnschedulableAndUnresolvable).WithError(err)
	}
	var fitErr *framework.FitError
	if !errors.As(err, &fitErr) {
		klog.FromContext(ctx).Error(err, "Error selecting node for pod")
		return scheduleResult{nominatingInfo: clearNominatedNode}, framework.AsStatus(err)
	}
	if !fw.HasPostFilterPlugins() {
		return scheduleResult{nominatingInfo: clearNominatedNode}, framework.NewStatus(framework.Unschedulable).WithError(err)
	}
	// Preemption may make room for a later attempt.
	pfResult, status := fw.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
	fitErr.Diagnosis.PostFilterMsg = status.Message()
	if status.Code() == framework.Error {
		utilruntime.HandleErrorWithContext(ctx, nil, "Status after running PostFilter plugins for pod", "status", status.Message())
	}
	var ni *framework.NominatingInfo
	if pfResult != nil {
		ni = pfResult.NominatingInfo
	}
	return scheduleResult{nominatingInfo: ni}, framework.NewStatus(framework.Unschedulable).WithError(err)
}

func (s *Scheduler) schedulePod(ctx context.Context, fw *framework.Framework, state *framework.CycleState, pi *framework.QueuedPodInfo) (scheduleResult, error) {
	pod := pi.Pod
	if s.snapshot.NumNodes() == 0 {
		return scheduleResult{}, framework.ErrNoNodesAvailable
	}
	feasible, diagnosis, err := s.findNodesThatFitPod(ctx, fw, state, pod)
	if err != nil {
		return scheduleResult{}, err
	}
	if len(feasible) == 0 {
		return scheduleResult{}, &framework.FitError{Pod: pod, NumAllNodes: s.snapshot.NumNodes(), Diagnosis: diagnosis}
	}
	if len(feasible) == 1 {
		return scheduleResult{suggestedHost: feasible[0].Node().Name, evaluatedNodes: 1 + diagnosis.NodeToStatus.Len(), feasibleNodes: 1}, nil
	}
	scores, err := s.prioritizeNodes(ctx, fw, state, pod, feasible)
	if err != nil {
		return scheduleResult{}, err
	}
	return scheduleResult{suggestedHost: selectHost(scores), evaluatedNodes: len(feasible) + diagnosis.NodeToStatus.Len(), feasibleNodes: len(feasible)}, nil
}

// selectHost picks a highest-scoring node, ties broken at random.
func selectHost(scores []framework.NodePluginScores) string {
	best := scores[0]
	ties := 1
	for _, s := range scores[1:] {
		switch {
		case s.TotalScore > best.TotalScore:
			best, ties = s, 1
		case s.TotalScore == best.TotalScore:
			ties++
			if rand.Intn(ties) == 0 {
				best = s
			}
		}
	}
	return best.Name
}

func (s *Scheduler) findNodesThatFitPod(ctx context.Context, fw *framework.Framework, state *framework.CycleState, pod *v1.Pod) ([]*framework.NodeInfo, framework.Diagnosis, error) {
	diagnosis := framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}
	allNodes, err := s.snapshot.NodeInfos().List()
	if err != nil {
		return nil, diagnosis, err
	}
	preRes, st, unschedulablePlugins := fw.RunPreFilterPlugins(ctx, state, pod)
	diagnosis.UnschedulablePlugins = unschedulablePlugins
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return nil, diagnosis, st.AsError()
		}
		// Every node shares the PreFilter rejection.
		diagnosis.NodeToStatus.SetAbsentNodesStatus(st)
		diagnosis.PreFilterMsg = st.Message()
		diagnosis.AddPluginStatus(st)
		return nil, diagnosis, nil
	}
	// The nominated node (from an earlier preemption) most likely fits;
	// try it first.
	if nnn := pod.Status.NominatedNodeName; nnn != "" {
		if ni, err := s.snapshot.Get(nnn); err == nil {
			feasible, err := s.findNodesThatPassFilters(ctx, fw, state, pod, &diagnosis, []*framework.NodeInfo{ni})
			if err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Evaluation failed on nominated node", "node", nnn)
			}
			if len(feasible) != 0 {
				return feasible, diagnosis, nil
			}
		}
	}
	nodes := allNodes
	if !preRes.AllNodes() {
		nodes = make([]*framework.NodeInfo, 0, len(preRes.NodeNames))
		for name := range preRes.NodeNames {
			if ni, err := s.snapshot.Get(name); err == nil {
				nodes = append(nodes, ni)
			}
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", sets.List(unschedulablePlugins))))
	}
	feasible, err := s.findNodesThatPassFilters(ctx, fw, state, pod, &diagnosis, nodes)
	processed := len(feasible) + diagnosis.NodeToStatus.Len()
	if len(allNodes) > 0 {
		s.nextStartNodeIndex = (s.nextStartNodeIndex + processed) % len(allNodes)
	}
	if err != nil {
		return nil, diagnosis, err
	}
	return feasible, diagnosis, nil
}

func (s *Scheduler) findNodesThatPassFilters(ctx context.Context, fw *framework.Framework, state *framework.CycleState, pod *v1.Pod, diagnosis *framework.Diagnosis, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, error) {
	numAll := len(nodes)
	numToFind := s.numFeasibleNodesToFind(fw.PercentageOfNodesToScore(), int32(numAll))
	if !fw.HasScorePlugins() {
		numToFind = 1
	}
	feasible := make([]*framework.NodeInfo, numToFind)
	if !fw.HasFilterPlugins() {
		for i := range feasible {
			feasible[i] = nodes[(s.nextStartNodeIndex+i)%numAll]
		}
		return feasible, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var feasibleLen int32
	var firstErr atomic.Pointer[error]
	statuses := make([]*framework.Status, numAll)
	names := make([]string, numAll)
	start := s.nextStartNodeIndex
	fw.Parallelizer().Until(ctx, numAll, func(i int) {
		// Start where the previous cycle stopped, so every node gets its
		// turn across pods.
		ni := nodes[(start+i)%numAll]
		st := fw.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
		if st.Code() == framework.Error {
			err := st.AsError()
			firstErr.CompareAndSwap(nil, &err)
			cancel()
			return
		}
		if st.IsSuccess() {
			n := atomic.AddInt32(&feasibleLen, 1)
			if n > numToFind {
				cancel()
				atomic.AddInt32(&feasibleLen, -1)
			} else {
				feasible[n-1] = ni
			}
			return
		}
		statuses[i], names[i] = st, ni.Node().Name
	})
	feasible = feasible[:feasibleLen]
	for i, st := range statuses {
		if st == nil {
			continue
		}
		diagnosis.NodeToStatus.Set(names[i], st)
		diagnosis.AddPluginStatus(st)
	}
	if e := firstErr.Load(); e != nil {
		return feasible, *e
	}
	return feasible, nil
}

func (s *Scheduler) prioritizeNodes(ctx context.Context, fw *framework.Framework, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) ([]framework.NodePluginScores, error) {
	if !fw.HasScorePlugins() {
		out := make([]framework.NodePluginScores, len(nodes))
		for i := range nodes {
			out[i] = framework.NodePluginScores{Name: nodes[i].Node().Name, TotalScore: 1}
		}
		return out, nil
	}
	if st := fw.RunPreScorePlugins(ctx, state, pod, nodes); !st.IsSuccess() {
		return nil, st.AsError()
	}
	scores, st := fw.RunScorePlugins(ctx, state, pod, nodes)
	if !st.IsSuccess() {
		return nil, st.AsError()
	}
	if v := klog.FromContext(ctx).V(10); v.Enabled() {
		for _, ns := range scores {
			v.Info("Calculated node's final score for pod", "node", ns.Name, "score", ns.TotalScore)
		}
	}
	return scores, nil
}

// assume records pod on host in the cache so binding can proceed in the
// background.
func (s *Scheduler) assume(logger klog.Logger, pod *v1.Pod, host string) error {
	pod.Spec.NodeName = host
	if err := s.Cache.AssumePod(logger, pod); err != nil {
		logger.Error(err, "Scheduler cache AssumePod failed")
		return err
	}
	s.Queue.DeleteNominatedPodIfExists(pod)
	return nil
}

func (s *Scheduler) runBindingCycle(ctx context.Context, state *framework.CycleState, fw *framework.Framework, result scheduleResult, assumed *framework.QueuedPodInfo, start time.Time) {
	pod := assumed.Pod
	s.Queue.Done(pod.UID)
	status := fw.RunPreBindPlugins(ctx, state, pod, result.suggestedHost)
	if status.IsSuccess() {
		status = fw.RunBindPlugins(ctx, state, pod, result.suggestedHost)
	}
	if !status.IsSuccess() {
		s.handleBindingCycleError(ctx, state, fw, assumed, result, status, start)
		return
	}
	if err := s.Cache.FinishBinding(klog.FromContext(ctx), pod); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Scheduler cache FinishBinding failed")
	}
	logger := klog.FromContext(ctx)
	logger.V(2).Info("Successfully bound pod to node", "node", result.suggestedHost, "evaluatedNodes", result.evaluatedNodes, "feasibleNodes", result.feasibleNodes)
	if r := fw.EventRecorder(); r != nil {
		r.Eventf(pod, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, result.suggestedHost)
	}
	fw.RunPostBindPlugins(ctx, state, pod, result.suggestedHost)
	if s.OnScheduled != nil {
		since := start
		if assumed.InitialAttemptTimestamp != nil {
			since = *assumed.InitialAttemptTimestamp
		}
		s.OnScheduled(pod, time.Since(since))
	}
}

func (s *Scheduler) handleBindingCycleError(ctx context.Context, state *framework.CycleState, fw *framework.Framework, assumed *framework.QueuedPodInfo, result scheduleResult, status *framework.Status, start time.Time) {
	logger := klog.FromContext(ctx)
	pod := assumed.Pod
	fw.RunReservePluginsUnreserve(ctx, state, pod, result.suggestedHost)
	if err := s.Cache.ForgetPod(logger, pod); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "ForgetPod failed")
	} else {
		// The room the assumed pod held is free again.
		s.Queue.MoveAllToActiveOrBackoffQueue(logger, framework.EventAssignedPodDelete, pod, nil, func(p *v1.Pod) bool { return p.UID != pod.UID })
	}
	s.handleSchedulingFailure(ctx, fw, assumed, status, clearNominatedNode, start)
}

// handleSchedulingFailure requeues the pod, records a FailedScheduling
// event and sets the PodScheduled condition (and nominatedNodeName).
func (s *Scheduler) handleSchedulingFailure(ctx context.Context, fw *framework.Framework, pi *framework.QueuedPodInfo, status *framework.Status, ni *framework.NominatingInfo, start time.Time) {
	logger := klog.FromContext(ctx)
	pi = pi.DeepCopy()
	calledDone := false
	defer func() {
		if !calledDone {
			s.Queue.Done(pi.Pod.UID)
		}
	}()
	reason := v1.PodReasonSchedulerError
	if status.IsRejected() {
		reason = v1.PodReasonUnschedulable
	}
	pod := pi.Pod
	err := status.AsError()
	errMsg := status.Message()
	pi.UnschedulablePlugins, pi.PendingPlugins = nil, nil
	var fitErr *framework.FitError
	switch {
	case errors.Is(err, framework.ErrNoNodesAvailable):
		logger.V(2).Info("Unable to schedule pod; no nodes are registered to the cluster; waiting")
	case errors.As(err, &fitErr):
		pi.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
		pi.PendingPlugins = fitErr.Diagnosis.PendingPlugins
		logger.V(2).Info("Unable to schedule pod; no fit; waiting", "err", errMsg)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Error scheduling pod; retrying")
	}

	cached, e := s.podLister.Pods(pod.Namespace).Get(pod.Name)
	if e != nil {
		logger.Info("Pod doesn't exist in informer cache", "err", e)
	} else if cached.Spec.NodeName != "" {
		logger.Info("Pod has been assigned to node. Abort adding it back to queue.", "node", cached.Spec.NodeName)
	} else {
		if cached.UID != pi.Pod.UID {
			logger.V(2).Info("Pod was recreated while handling scheduling failure. Skip requeueing and status updates.")
			return
		}
		pi.PodInfo, _ = framework.NewPodInfo(cached.DeepCopy())
		pod = pi.Pod
		if err := s.Queue.AddUnschedulableIfNotPresent(logger, pi); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Error occurred")
		}
		calledDone = true
	}
	s.Queue.AddNominatedPod(logger, pi.PodInfo, ni)
	if err == nil {
		return
	}
	msg := truncateMessage(errMsg)
	if r := fw.EventRecorder(); r != nil {
		r.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	}
	cond := &v1.PodCondition{
		Type:               v1.PodScheduled,
		ObservedGeneration: podutil.CalculatePodConditionObservedGeneration(&pod.Status, pod.Generation, v1.PodScheduled),
		Status:             v1.ConditionFalse,
		Reason:             reason,
		Message:            errMsg,
	}
	if err := s.patchPodStatus(ctx, pod, cond, ni); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Error updating pod")
	}
}

func truncateMessage(msg string) string {
	if len(msg) <= noteLengthLimit {
		return msg
	}
	const suffix = " ..."
	return msg[:noteLengthLimit-len(suffix)] + suffix
}

// patchPodStatus patches the pod's PodScheduled condition and nominatedNodeName
// when they change.
func (s *Scheduler) patchPodStatus(ctx context.Context, pod *v1.Pod, cond *v1.PodCondition, ni *framework.NominatingInfo) error {
	st := pod.Status.DeepCopy()
	nnnChanged := ni.Mode() == framework.ModeOverride && pod.Status.NominatedNodeName != ni.NominatedNodeName
	condChanged := cond != nil && podutil.UpdatePodCondition(st, cond)
	if !condChanged && !nnnChanged {
		return nil
	}
	if nnnChanged {
		st.NominatedNodeName = ni.NominatedNodeName
	}
	return framework.PatchPodStatus(ctx, s.client, pod.Name, pod.Namespace, &pod.Status, st)
}
