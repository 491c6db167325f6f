// Package defaultpreemption makes room for a pod that fits nowhere by
// evicting lower-priority pods from one node, respecting
// PodDisruptionBudgets where it can, and nominating that node for the pod.
package defaultpreemption

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.DefaultPreemption

// DefaultPreemption is the plugin.
type DefaultPreemption struct {
	fh        framework.Handle
	args      configv1.DefaultPreemptionArgs
	podLister corelisters.PodLister
	pdbLister policylisters.PodDisruptionBudgetLister

	mu sync.RWMutex
	// preempting are preemptors whose victims are still being deleted.
	preempting sets.Set[types.UID]
	// lastVictim is each preemptor's last victim: once it is terminating,
	// the preemptor may be retried.
	lastVictim map[types.UID]types.NamespacedName

	// offset picks where the candidate search starts (random, as upstream;
	// replaceable in tests).
	offset func(n int32) int32
}

var (
	_ framework.PostFilterPlugin  = &DefaultPreemption{}
	_ framework.PreEnqueuePlugin  = &DefaultPreemption{}
	_ framework.EnqueueExtensions = &DefaultPreemption{}
)

// New returns the plugin.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, ok := obj.(*configv1.DefaultPreemptionArgs)
	if !ok || args == nil {
		return nil, fmt.Errorf("got args of type %T, want *DefaultPreemptionArgs", obj)
	}
	if p := args.MinCandidateNodesPercentage; p != nil && (*p < 0 || *p > 100) {
		return nil, fmt.Errorf("minCandidateNodesPercentage: Invalid value: %d: not in valid range [0, 100]", *p)
	}
	if a := args.MinCandidateNodesAbsolute; a != nil && *a < 0 {
		return nil, fmt.Errorf("minCandidateNodesAbsolute: Invalid value: %d: not in valid range [0, inf)", *a)
	}
	pl := &DefaultPreemption{
		fh:         h,
		args:       *args,
		preempting: sets.New[types.UID](),
		lastVictim: map[types.UID]types.NamespacedName{},
		offset:     rand.Int31n,
	}
	if f := h.SharedInformerFactory(); f != nil {
		pl.podLister = f.Core().V1().Pods().Lister()
		if h.Served("policy/v1/poddisruptionbudgets") {
			pl.pdbLister = f.Policy().V1().PodDisruptionBudgets().Lister()
		}
	}
	return pl, nil
}

func (pl *DefaultPreemption) Name() string { return Name }

// PreEnqueue holds a preemptor while its victims are being deleted.
func (pl *DefaultPreemption) PreEnqueue(_ context.Context, pod *v1.Pod) *framework.Status {
	if pl.isRunningPreemption(pod.UID) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "waiting for the preemption for this pod to be finished")
	}
	return nil
}

// EventsToRegister: the preemptor is released by the deletions its
// rejecting filters watch; this plugin adds no event of its own.
func (pl *DefaultPreemption) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete},
			QueueingHintFn: func(klog.Logger, *v1.Pod, any, any) (framework.QueueingHint, error) { return framework.QueueSkip, nil }},
	}, nil
}

func (pl *DefaultPreemption) isRunningPreemption(uid types.UID) bool {
	pl.mu.RLock()
	defer pl.mu.RUnlock()
	if !pl.preempting.Has(uid) {
		return false
	}
	last, ok := pl.lastVictim[uid]
	if !ok || pl.podLister == nil {
		return true
	}
	victim, err := pl.podLister.Pods(last.Namespace).Get(last.Name)
	if err != nil || victim.DeletionTimestamp != nil {
		return false
	}
	return true
}

// candidate is a node and the pods to evict there.
type candidate struct {
	name             string
	victims          []*v1.Pod
	numPDBViolations int64
}

// PostFilter runs preemption and prefixes its message with "preemption: ".
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, m *framework.NodeToStatus) (*framework.PostFilterResult, *framework.Status) {
	result, status := pl.preempt(ctx, state, pod, m)
	if msg := status.Message(); msg != "" {
		return result, framework.NewStatus(status.Code(), "preemption: "+msg)
	}
	return result, status
}

func (pl *DefaultPreemption) preempt(ctx context.Context, state *framework.CycleState, pod *v1.Pod, m *framework.NodeToStatus) (*framework.PostFilterResult, *framework.Status) {
	logger := klog.FromContext(ctx)
	// The latest version of the preemptor.
	if pl.podLister != nil {
		latest, err := pl.podLister.Pods(pod.Namespace).Get(pod.Name)
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		pod = latest
	}
	if ok, msg := pl.podEligibleToPreemptOthers(pod, m.Get(pod.Status.NominatedNodeName)); !ok {
		logger.V(5).Info("Pod is not eligible for preemption", "pod", klog.KObj(pod), "reason", msg)
		return nil, framework.NewStatus(framework.Unschedulable, msg)
	}
	allNodes, err := pl.fh.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	candidates, nodeStatuses, err := pl.findCandidates(ctx, state, allNodes, pod, m)
	if err != nil && len(candidates) == 0 {
		return nil, framework.AsStatus(err)
	}
	if len(candidates) == 0 {
		fitErr := &framework.FitError{Pod: pod, NumAllNodes: len(allNodes), Diagnosis: framework.Diagnosis{NodeToStatus: nodeStatuses}}
		fitErr.Diagnosis.NodeToStatus.SetAbsentNodesStatus(framework.NewStatus(framework.UnschedulableAndUnresolvable, "Preemption is not helpful for scheduling"))
		return framework.NewPostFilterResultWithNominatedNode(""), framework.NewStatus(framework.Unschedulable, fitErr.Error())
	}
	best := pl.selectCandidate(candidates)
	if best == nil || best.name == "" {
		return nil, framework.NewStatus(framework.Unschedulable, "no candidate node for preemption")
	}
	logger.V(2).Info("the target node for the preemption is determined", "node", best.name, "pod", klog.KObj(pod))
	pl.actuateAsync(best, pod)
	return framework.NewPostFilterResultWithNominatedNode(best.name),
		framework.NewStatus(framework.Success, fmt.Sprintf("found a potential placement for pod on node %v, preempting %d victims", best.name, len(best.victims)))
}

// podEligibleToPreemptOthers refuses pods with preemptionPolicy Never and
// pods whose earlier preemption is still terminating victims.
func (pl *DefaultPreemption) podEligibleToPreemptOthers(pod *v1.Pod, nominatedNodeStatus *framework.Status) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	if nom := pod.Status.NominatedNodeName; nom != "" {
		// The nominated node no longer fits at all: try elsewhere.
		if nominatedNodeStatus.Code() == framework.UnschedulableAndUnresolvable {
			return true, ""
		}
		if ni, err := pl.fh.SnapshotSharedLister().NodeInfos().Get(nom); err == nil {
			prio := corev1helpers.PodPriority(pod)
			for _, p := range ni.Pods {
				if corev1helpers.PodPriority(p.Pod) < prio && terminatingByPreemption(p.Pod) {
					return false, "not eligible due to a terminating pod on the nominated node."
				}
			}
		}
	}
	return true, ""
}

func terminatingByPreemption(p *v1.Pod) bool {
	if p.DeletionTimestamp == nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1.DisruptionTarget {
			return c.Status == v1.ConditionTrue && c.Reason == v1.PodReasonPreemptionByScheduler
		}
	}
	return false
}

func (pl *DefaultPreemption) numCandidates(n int32) int32 {
	pct, abs := int32(10), int32(100)
	if pl.args.MinCandidateNodesPercentage != nil {
		pct = *pl.args.MinCandidateNodesPercentage
	}
	if pl.args.MinCandidateNodesAbsolute != nil {
		abs = *pl.args.MinCandidateNodesAbsolute
	}
	c := n * pct / 100
	if c < abs {
		c = abs
	}
	if c > n {
		c = n
	}
	return c
}

// findCandidates dry-runs preemption on the nodes that failed with
// Unschedulable (those where removing pods may help).
func (pl *DefaultPreemption) findCandidates(ctx context.Context, state *framework.CycleState, allNodes []*framework.NodeInfo, pod *v1.Pod, m *framework.NodeToStatus) ([]*candidate, *framework.NodeToStatus, error) {
	if len(allNodes) == 0 {
		return nil, nil, fmt.Errorf("no nodes available")
	}
	potential, err := m.NodesForStatusCode(pl.fh.SnapshotSharedLister().NodeInfos(), framework.Unschedulable)
	if err != nil {
		return nil, nil, err
	}
	if len(potential) == 0 {
		return nil, framework.NewDefaultNodeToStatus(), nil
	}
	var pdbs []*policy.PodDisruptionBudget
	if pl.pdbLister != nil {
		if pdbs, err = pl.pdbLister.List(labels.Everything()); err != nil {
			return nil, nil, err
		}
	}
	n := int32(len(potential))
	return pl.dryRunPreemption(ctx, state, pod, potential, pdbs, pl.offset(n), pl.numCandidates(n))
}

func (pl *DefaultPreemption) dryRunPreemption(ctx context.Context, state *framework.CycleState, pod *v1.Pod, potential []*framework.NodeInfo,
	pdbs []*policy.PodDisruptionBudget, offset, numCandidates int32) ([]*candidate, *framework.NodeToStatus, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	statuses := framework.NewDefaultNodeToStatus()
	var mu sync.Mutex
	var nonViolating, violating []*candidate
	var errs []error
	pl.fh.Parallelizer().Until(ctx, len(potential), func(i int) {
		ni := potential[(int(offset)+i)%len(potential)]
		victims, numViolations, s := pl.selectVictimsOnNode(ctx, state.Clone(), pod, ni.Snapshot(), pdbs)
		mu.Lock()
		defer mu.Unlock()
		if s.IsSuccess() && len(victims) != 0 {
			c := &candidate{name: ni.Node().Name, victims: victims, numPDBViolations: int64(numViolations)}
			if numViolations == 0 {
				nonViolating = append(nonViolating, c)
			} else {
				violating = append(violating, c)
			}
			if len(nonViolating) > 0 && int32(len(nonViolating)+len(violating)) >= numCandidates {
				cancel()
			}
			return
		}
		if s.IsSuccess() && len(victims) == 0 {
			s = framework.AsStatus(fmt.Errorf("expected at least one victim pod on node %q", ni.Node().Name))
		}
		if s.Code() == framework.Error {
			errs = append(errs, s.AsError())
		}
		statuses.Set(ni.Node().Name, s)
	})
	var err error
	if len(errs) > 0 {
		err = errs[0]
	}
	return append(nonViolating, violating...), statuses, err
}

// moreImportant orders victims: higher priority first, then the earlier
// started.
func moreImportant(a, b *v1.Pod) bool {
	pa, pb := corev1helpers.PodPriority(a), corev1helpers.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return framework.PodStartTime(a).Before(framework.PodStartTime(b))
}

// selectVictimsOnNode finds the fewest lowest-priority pods whose removal
// lets pod fit: remove every lower-priority pod, check the pod fits, then
// add back ("reprieve") as many as possible, most important first,
// PDB-violating ones before the others.
func (pl *DefaultPreemption) selectVictimsOnNode(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo, pdbs []*policy.PodDisruptionBudget) ([]*v1.Pod, int, *framework.Status) {
	prio := corev1helpers.PodPriority(pod)
	var potential []*framework.PodInfo
	for _, p := range ni.Pods {
		if corev1helpers.PodPriority(p.Pod) < prio {
			potential = append(potential, p)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, "No preemption victims found for incoming pod")
	}
	remove := func(p *framework.PodInfo) error {
		if err := ni.RemovePod(p.Pod); err != nil {
			return err
		}
		return pl.fh.RunPreFilterExtensionRemovePod(ctx, state, pod, p, ni).AsError()
	}
	add := func(p *framework.PodInfo) error {
		ni.AddPodInfo(p)
		return pl.fh.RunPreFilterExtensionAddPod(ctx, state, pod, p, ni).AsError()
	}
	for _, p := range potential {
		if err := remove(p); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	if s := pl.fh.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !s.IsSuccess() {
		return nil, 0, s
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i].Pod, potential[j].Pod) })
	violatingPods, nonViolatingPods := filterPodsWithPDBViolation(potential, pdbs)
	var victims []*v1.Pod
	reprieve := func(p *framework.PodInfo) (bool, error) {
		if err := add(p); err != nil {
			return false, err
		}
		fits := pl.fh.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni).IsSuccess()
		if !fits {
			if err := remove(p); err != nil {
				return false, err
			}
			victims = append(victims, p.Pod)
		}
		return fits, nil
	}
	numViolating := 0
	for _, p := range violatingPods {
		fits, err := reprieve(p)
		if err != nil {
			return nil, 0, framework.AsStatus(err)
		}
		if !fits {
			numViolating++
		}
	}
	for _, p := range nonViolatingPods {
		if _, err := reprieve(p); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	if len(violatingPods) != 0 && len(nonViolatingPods) != 0 {
		sort.SliceStable(victims, func(i, j int) bool { return moreImportant(victims[i], victims[j]) })
	}
	return victims, numViolating, nil
}

// filterPodsWithPDBViolation splits pods into those whose eviction would
// exceed a PDB's disruptionsAllowed (counting earlier pods of the list)
// and the others.
func filterPodsWithPDBViolation(pods []*framework.PodInfo, pdbs []*policy.PodDisruptionBudget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
	}
	for _, p := range pods {
		pod := p.Pod
		violates := false
		if len(pod.Labels) != 0 {
			for i, pdb := range pdbs {
				if pdb.Namespace != pod.Namespace {
					continue
				}
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
					continue
				}
				// Pods already being disrupted are accounted for.
				if _, ok := pdb.Status.DisruptedPods[pod.Name]; ok {
					continue
				}
				allowed[i]--
				if allowed[i] < 0 {
					violates = true
					break
				}
			}
		}
		if violates {
			violating = append(violating, p)
		} else {
			nonViolating = append(nonViolating, p)
		}
	}
	return violating, nonViolating
}

// selectCandidate picks, in order: fewest PDB violations, lowest highest
// victim priority, lowest priority sum, fewest victims, latest start of the
// highest-priority victims, then the first.
func (pl *DefaultPreemption) selectCandidate(candidates []*candidate) *candidate {
	if len(candidates) == 0 {
		return nil
	}
	if len(candidates) == 1 {
		return candidates[0]
	}
	scoreFuncs := []func(c *candidate) int64{
		func(c *candidate) int64 { return -c.numPDBViolations },
		func(c *candidate) int64 { return -int64(corev1helpers.PodPriority(c.victims[0])) },
		func(c *candidate) int64 {
			var sum int64
			for _, p := range c.victims {
				sum += int64(corev1helpers.PodPriority(p)) + int64(math.MaxInt32+1)
			}
			return -sum
		},
		func(c *candidate) int64 { return -int64(len(c.victims)) },
		func(c *candidate) int64 { return earliestStartOfHighestPriority(c.victims).UnixNano() },
	}
	remaining := candidates
	for _, f := range scoreFuncs {
		var best []*candidate
		maxScore := int64(math.MinInt64)
		for _, c := range remaining {
			s := f(c)
			if s > maxScore {
				maxScore, best = s, nil
			}
			if s == maxScore {
				best = append(best, c)
			}
		}
		if len(best) == 1 {
			return best[0]
		}
		remaining = best
	}
	return remaining[0]
}

func earliestStartOfHighestPriority(victims []*v1.Pod) *metav1.Time {
	earliest := framework.PodStartTime(victims[0])
	maxPrio := corev1helpers.PodPriority(victims[0])
	for _, p := range victims {
		switch prio := corev1helpers.PodPriority(p); {
		case prio == maxPrio:
			if t := framework.PodStartTime(p); t.Before(earliest) {
				earliest = t
			}
		case prio > maxPrio:
			maxPrio, earliest = prio, framework.PodStartTime(p)
		}
	}
	return earliest
}

// actuateAsync evicts the victims in the background: it clears lower
// priority nominations on the node, evicts all victims but the last in
// parallel, then the last, and keeps the preemptor held (PreEnqueue) until
// the last victim is terminating.
func (pl *DefaultPreemption) actuateAsync(c *candidate, preemptor *v1.Pod) {
	var victims []*v1.Pod
	for _, v := range c.victims {
		if v.DeletionTimestamp == nil {
			victims = append(victims, v)
		}
	}
	if len(victims) == 0 {
		return
	}
	pl.mu.Lock()
	pl.preempting.Insert(preemptor.UID)
	pl.mu.Unlock()
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		logger := klog.FromContext(ctx)
		failed := false
		defer func() {
			pl.mu.Lock()
			pl.preempting.Delete(preemptor.UID)
			delete(pl.lastVictim, preemptor.UID)
			pl.mu.Unlock()
			if failed {
				pl.fh.Activate(logger, map[string]*v1.Pod{preemptor.Namespace + "/" + preemptor.Name: preemptor})
			}
		}()
		prio := corev1helpers.PodPriority(preemptor)
		for _, p := range pl.fh.NominatedPodsForNode(c.name) {
			if corev1helpers.PodPriority(p.Pod) < prio && p.Pod.Status.NominatedNodeName != "" {
				st := p.Pod.Status.DeepCopy()
				st.NominatedNodeName = ""
				if err := framework.PatchPodStatus(ctx, pl.fh.ClientSet(), p.Pod.Name, p.Pod.Namespace, &p.Pod.Status, st); err != nil {
					logger.Error(err, "Cannot clear 'NominatedNodeName' field from lower priority pods on the same target node", "node", c.name)
					failed = true
				}
			}
		}
		var wg sync.WaitGroup
		var errMu sync.Mutex
		for _, v := range victims[:len(victims)-1] {
			wg.Add(1)
			go func(v *v1.Pod) {
				defer wg.Done()
				if err := pl.preemptPod(ctx, c.name, preemptor, v); err != nil {
					errMu.Lock()
					failed = true
					errMu.Unlock()
				}
			}(v)
		}
		wg.Wait()
		if failed {
			return
		}
		last := victims[len(victims)-1]
		pl.mu.Lock()
		pl.lastVictim[preemptor.UID] = types.NamespacedName{Namespace: last.Namespace, Name: last.Name}
		pl.mu.Unlock()
		if err := pl.preemptPod(ctx, c.name, preemptor, last); err != nil {
			failed = true
		}
	}()
}

// preemptPod marks the victim with a DisruptionTarget condition, deletes
// it and records a Preempted event.
func (pl *DefaultPreemption) preemptPod(ctx context.Context, node string, preemptor, victim *v1.Pod) error {
	logger := klog.FromContext(ctx)
	cs := pl.fh.ClientSet()
	cond := &v1.PodCondition{
		Type:               v1.DisruptionTarget,
		ObservedGeneration: podutil.CalculatePodConditionObservedGeneration(&victim.Status, victim.Generation, v1.DisruptionTarget),
		Status:             v1.ConditionTrue,
		Reason:             v1.PodReasonPreemptionByScheduler,
		Message:            fmt.Sprintf("%s: preempting to accommodate a higher priority pod", preemptor.Spec.SchedulerName),
	}
	st := victim.Status.DeepCopy()
	if podutil.UpdatePodCondition(st, cond) {
		if err := framework.PatchPodStatus(ctx, cs, victim.Name, victim.Namespace, &victim.Status, st); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			logger.Error(err, "Could not add DisruptionTarget condition due to preemption", "preemptor", klog.KObj(preemptor), "victim", klog.KObj(victim))
			return err
		}
	}
	if err := cs.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		logger.Error(err, "Tried to preempted pod", "pod", klog.KObj(victim), "preemptor", klog.KObj(preemptor))
		return err
	}
	logger.V(2).Info("Preemptor Pod preempted victim Pod", "preemptor", klog.KObj(preemptor), "victim", klog.KObj(victim), "node", node)
	if r := pl.fh.EventRecorder(); r != nil {
		r.Eventf(victim, preemptor, v1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", preemptor.UID, node)
	}
	return nil
}
