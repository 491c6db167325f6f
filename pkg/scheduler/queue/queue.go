// Package queue is the scheduling queue: an active queue of pods to
// schedule, a backoff queue of pods waiting out a penalty after a failed
// attempt, and a pool of unschedulable pods that cluster events move back
// when a plugin's queueing hint says the event may help.
package queue

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// Upstream's defaults.
const (
	DefaultPodInitialBackoffDuration         = 1 * time.Second
	DefaultPodMaxBackoffDuration             = 10 * time.Second
	DefaultPodMaxInUnschedulablePodsDuration = 5 * time.Minute
	// backoffWindow aligns backoff expirations so whole windows flush
	// together, ordered by priority within a window.
	backoffWindow = time.Second
)

// PreEnqueueCheck filters the pods an event may move.
type PreEnqueueCheck func(pod *v1.Pod) bool

// HintEntry is one plugin's queueing hint for an event.
type HintEntry struct {
	PluginName string
	Fn         framework.QueueingHintFn
}

// QueueingHintMap maps registered events to hints.
type QueueingHintMap map[framework.ClusterEvent][]HintEntry

// Profile is what the queue needs from each scheduler profile.
type Profile struct {
	Hints      QueueingHintMap
	PreEnqueue []framework.PreEnqueuePlugin
}

type queueingStrategy int

const (
	queueSkip queueingStrategy = iota
	queueAfterBackoff
	queueImmediately
)

type inFlightEvent struct {
	event          framework.ClusterEvent
	oldObj, newObj any
}

// PriorityQueue is the scheduling queue. Safe for concurrent use.
type PriorityQueue struct {
	*nominator

	lock  sync.Mutex
	cond  *sync.Cond
	clock clock.WithTicker

	activeQ *keyedHeap[*framework.QueuedPodInfo]
	// backoffQ holds pods rejected by plugins; when the active queue is
	// empty they are popped before their backoff ends.
	backoffQ *keyedHeap[*framework.QueuedPodInfo]
	// errorBackoffQ holds pods that failed with an error; they always wait.
	errorBackoffQ *keyedHeap[*framework.QueuedPodInfo]
	unschedulable map[string]*framework.QueuedPodInfo

	// inFlightPods marks, for each pod being scheduled, where in
	// inFlightEvents its attempt started; the events after it are checked
	// against its rejection when it comes back.
	inFlightPods   map[types.UID]*list.Element
	inFlightEvents *list.List

	schedulingCycle int64
	closed          bool

	less                  func(a, b *framework.QueuedPodInfo) bool
	profiles              map[string]Profile
	pluginEvents          map[string][]framework.ClusterEvent
	podInitialBackoff     time.Duration
	podMaxBackoff         time.Duration
	podMaxInUnschedulable time.Duration
}

// Options configures a queue.
type Options struct {
	Clock                             clock.WithTicker
	PodInitialBackoffDuration         time.Duration
	PodMaxBackoffDuration             time.Duration
	PodMaxInUnschedulablePodsDuration time.Duration
}

// New returns a queue ordered by less, with each profile's hints and
// PreEnqueue plugins.
func New(less func(a, b *framework.QueuedPodInfo) bool, profiles map[string]Profile, opts Options) *PriorityQueue {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.PodInitialBackoffDuration == 0 {
		opts.PodInitialBackoffDuration = DefaultPodInitialBackoffDuration
	}
	if opts.PodMaxBackoffDuration == 0 {
		opts.PodMaxBackoffDuration = DefaultPodMaxBackoffDuration
	}
	if opts.PodMaxInUnschedulablePodsDuration == 0 {
		opts.PodMaxInUnschedulablePodsDuration = DefaultPodMaxInUnschedulablePodsDuration
	}
	p := &PriorityQueue{
		nominator:             newNominator(),
		clock:                 opts.Clock,
		unschedulable:         map[string]*framework.QueuedPodInfo{},
		inFlightPods:          map[types.UID]*list.Element{},
		inFlightEvents:        list.New(),
		less:                  less,
		profiles:              profiles,
		pluginEvents:          map[string][]framework.ClusterEvent{},
		podInitialBackoff:     opts.PodInitialBackoffDuration,
		podMaxBackoff:         opts.PodMaxBackoffDuration,
		podMaxInUnschedulable: opts.PodMaxInUnschedulablePodsDuration,
	}
	p.cond = sync.NewCond(&p.lock)
	p.activeQ = newKeyedHeap(keyOf, less)
	p.backoffQ = newKeyedHeap(keyOf, func(a, b *framework.QueuedPodInfo) bool {
		ba, bb := p.backoffTime(a), p.backoffTime(b)
		if !ba.Equal(bb) {
			return ba.Before(bb)
		}
		return less(a, b)
	})
	p.errorBackoffQ = newKeyedHeap(keyOf, func(a, b *framework.QueuedPodInfo) bool {
		return p.backoffTime(a).Before(p.backoffTime(b))
	})
	for _, prof := range profiles {
		for ev, entries := range prof.Hints {
			for _, e := range entries {
				p.pluginEvents[e.PluginName] = append(p.pluginEvents[e.PluginName], ev)
			}
		}
	}
	return p
}

func keyOf(pi *framework.QueuedPodInfo) string { return podKey(pi.Pod) }

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// Run starts the goroutines that flush the backoff queue every second and
// the unschedulable pool every 30 seconds.
func (p *PriorityQueue) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	go wait.UntilWithContext(ctx, func(context.Context) { p.flushBackoffQCompleted(logger) }, backoffWindow)
	go wait.UntilWithContext(ctx, func(context.Context) { p.flushUnschedulableLeftover(logger) }, 30*time.Second)
	go func() {
		<-ctx.Done()
		p.Close()
	}()
}

// Close wakes Pop callers so they return nil.
func (p *PriorityQueue) Close() {
	p.lock.Lock()
	defer p.lock.Unlock()
	p.closed = true
	p.cond.Broadcast()
}

func (p *PriorityQueue) newQueuedPodInfo(pod *v1.Pod) *framework.QueuedPodInfo {
	pi, _ := framework.NewPodInfo(pod)
	return &framework.QueuedPodInfo{PodInfo: pi, Timestamp: p.clock.Now()}
}

// runPreEnqueue runs the profile's PreEnqueue plugins and records the first
// one that holds the pod.
func (p *PriorityQueue) runPreEnqueue(logger klog.Logger, pi *framework.QueuedPodInfo) {
	pi.GatingPlugin = ""
	for _, pl := range p.profiles[pi.Pod.Spec.SchedulerName].PreEnqueue {
		s := pl.PreEnqueue(context.Background(), pi.Pod)
		if s.IsSuccess() {
			continue
		}
		if pi.UnschedulablePlugins == nil {
			pi.UnschedulablePlugins = sets.New[string]()
		}
		pi.UnschedulablePlugins.Insert(pl.Name())
		pi.GatingPlugin = pl.Name()
		if s.Code() == framework.Error {
			logger.Error(s.AsError(), "Unexpected error running PreEnqueue plugin", "pod", klog.KObj(pi.Pod), "plugin", pl.Name())
		} else {
			logger.V(4).Info("Status after running PreEnqueue plugin", "pod", klog.KObj(pi.Pod), "plugin", pl.Name(), "status", s)
		}
		return
	}
}

func (p *PriorityQueue) moveToActiveQ(logger klog.Logger, pi *framework.QueuedPodInfo, event string, fromBackoff bool) bool {
	if !fromBackoff {
		p.runPreEnqueue(logger, pi)
	}
	key := keyOf(pi)
	if pi.Gated() {
		p.unschedulable[key] = pi
		return false
	}
	delete(p.unschedulable, key)
	p.activeQ.AddOrUpdate(pi)
	logger.V(5).Info("Pod moved to an internal scheduling queue", "pod", klog.KObj(pi.Pod), "event", event, "queue", "Active")
	return true
}

func (p *PriorityQueue) moveToBackoffQ(logger klog.Logger, pi *framework.QueuedPodInfo, event string) bool {
	// PreEnqueue runs on entering the backoff queue, since pods may be
	// popped from there directly.
	p.runPreEnqueue(logger, pi)
	key := keyOf(pi)
	if pi.Gated() {
		p.unschedulable[key] = pi
		return false
	}
	delete(p.unschedulable, key)
	if pi.ConsecutiveErrorsCount > 0 {
		p.errorBackoffQ.AddOrUpdate(pi)
	} else {
		p.backoffQ.AddOrUpdate(pi)
	}
	logger.V(5).Info("Pod moved to an internal scheduling queue", "pod", klog.KObj(pi.Pod), "event", event, "queue", "Backoff")
	return true
}

// Add queues a new pending pod.
func (p *PriorityQueue) Add(logger klog.Logger, pod *v1.Pod) {
	p.lock.Lock()
	defer p.lock.Unlock()
	p.addLocked(logger, pod)
}

func (p *PriorityQueue) addLocked(logger klog.Logger, pod *v1.Pod) {
	pi := p.newQueuedPodInfo(pod)
	p.nominator.AddNominatedPod(logger, pi.PodInfo, nil)
	if p.moveToActiveQ(logger, pi, framework.EventUnscheduledPodAdd.Label(), false) {
		p.cond.Broadcast()
	}
}

// Pop returns the next pod to schedule, blocking until there is one. It
// returns nil once the queue is closed.
func (p *PriorityQueue) Pop(logger klog.Logger) *framework.QueuedPodInfo {
	p.lock.Lock()
	defer p.lock.Unlock()
	for p.activeQ.Len() == 0 && p.backoffQ.Len() == 0 {
		if p.closed {
			return nil
		}
		p.cond.Wait()
	}
	if p.closed {
		return nil
	}
	pi, ok := p.activeQ.Pop()
	if !ok {
		// The active queue is empty: rather than idle, try a pod whose
		// backoff has not ended yet.
		pi, _ = p.backoffQ.Pop()
	}
	pi.Attempts++
	p.schedulingCycle++
	if pi.InitialAttemptTimestamp == nil {
		now := p.clock.Now()
		pi.InitialAttemptTimestamp = &now
	}
	p.inFlightPods[pi.Pod.UID] = p.inFlightEvents.PushBack(pi.Pod)
	return pi
}

// Done ends a pod's attempt, dropping events nobody needs any more.
func (p *PriorityQueue) Done(uid types.UID) {
	p.lock.Lock()
	defer p.lock.Unlock()
	p.doneLocked(uid)
}

func (p *PriorityQueue) doneLocked(uid types.UID) {
	e, ok := p.inFlightPods[uid]
	if !ok {
		return
	}
	delete(p.inFlightPods, uid)
	p.inFlightEvents.Remove(e)
	// Events before the oldest in-flight pod are no longer needed.
	for {
		front := p.inFlightEvents.Front()
		if front == nil {
			return
		}
		if _, isPod := front.Value.(*v1.Pod); isPod {
			return
		}
		p.inFlightEvents.Remove(front)
	}
}

// SchedulingCycle counts pops.
func (p *PriorityQueue) SchedulingCycle() int64 {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.schedulingCycle
}

// AddUnschedulableIfNotPresent returns a pod whose attempt failed to the
// queue: to the active or backoff queue if an event during its attempt may
// have helped, else to the unschedulable pool.
func (p *PriorityQueue) AddUnschedulableIfNotPresent(logger klog.Logger, pi *framework.QueuedPodInfo) error {
	p.lock.Lock()
	defer p.lock.Unlock()
	defer p.doneLocked(pi.Pod.UID)
	key := keyOf(pi)
	if _, ok := p.unschedulable[key]; ok {
		return fmt.Errorf("pod %v is already present in unschedulable queue", klog.KObj(pi.Pod))
	}
	if p.activeQ.Has(key) {
		return fmt.Errorf("pod %v is already present in the active queue", klog.KObj(pi.Pod))
	}
	if p.backoffQ.Has(key) || p.errorBackoffQ.Has(key) {
		return fmt.Errorf("pod %v is already present in the backoff queue", klog.KObj(pi.Pod))
	}
	if len(pi.UnschedulablePlugins) == 0 && len(pi.PendingPlugins) == 0 {
		pi.ConsecutiveErrorsCount++
	} else {
		pi.UnschedulableCount++
		pi.ConsecutiveErrorsCount = 0
	}
	pi.Timestamp = p.clock.Now()
	pi.BackoffExpiration = time.Time{}

	strategy := p.hintForInFlightPod(logger, pi)
	queue := p.requeue(logger, pi, strategy, "ScheduleAttemptFailure")
	logger.V(3).Info("Pod moved to an internal scheduling queue", "pod", klog.KObj(pi.Pod), "queue", queue, "unschedulablePlugins", sets.List(pi.UnschedulablePlugins.Union(pi.PendingPlugins)))
	if queue != "Unschedulable" {
		p.cond.Broadcast()
	}
	return nil
}

func (p *PriorityQueue) hintForInFlightPod(logger klog.Logger, pi *framework.QueuedPodInfo) queueingStrategy {
	if len(pi.UnschedulablePlugins) == 0 && len(pi.PendingPlugins) == 0 {
		// An error, not a rejection: retry after backoff.
		return queueAfterBackoff
	}
	e, ok := p.inFlightPods[pi.Pod.UID]
	if !ok {
		return queueAfterBackoff
	}
	strategy := queueSkip
	for e = e.Next(); e != nil; e = e.Next() {
		ev, ok := e.Value.(*inFlightEvent)
		if !ok {
			continue
		}
		switch p.worthRequeuing(logger, pi, ev.event, ev.oldObj, ev.newObj) {
		case queueImmediately:
			return queueImmediately
		case queueAfterBackoff:
			strategy = queueAfterBackoff
			if len(pi.PendingPlugins) == 0 {
				return queueAfterBackoff
			}
		}
	}
	return strategy
}

// requeue moves a pod according to strategy and names the queue it went to.
func (p *PriorityQueue) requeue(logger klog.Logger, pi *framework.QueuedPodInfo, strategy queueingStrategy, event string) string {
	if strategy == queueSkip {
		p.unschedulable[keyOf(pi)] = pi
		return "Unschedulable"
	}
	if strategy == queueAfterBackoff && p.isBackingOff(pi) {
		if p.moveToBackoffQ(logger, pi, event) {
			return "Backoff"
		}
		return "Unschedulable"
	}
	if p.moveToActiveQ(logger, pi, event, false) {
		return "Active"
	}
	return "Unschedulable"
}

// worthRequeuing asks the hints of the plugins that rejected pi whether
// event may make it schedulable.
func (p *PriorityQueue) worthRequeuing(logger klog.Logger, pi *framework.QueuedPodInfo, event framework.ClusterEvent, oldObj, newObj any) queueingStrategy {
	rejectors := pi.UnschedulablePlugins.Union(pi.PendingPlugins)
	if rejectors.Len() == 0 {
		return queueAfterBackoff
	}
	if event.IsWildCard() {
		// A wildcard event carrying a pod is meant for that pod only.
		if newObj != nil {
			if pod, ok := newObj.(*v1.Pod); !ok || pod.UID != pi.Pod.UID {
				return queueSkip
			}
		}
		return queueAfterBackoff
	}
	hints, ok := p.profiles[pi.Pod.Spec.SchedulerName]
	if !ok {
		return queueAfterBackoff
	}
	strategy := queueSkip
	for registered, entries := range hints.Hints {
		if !registered.Match(event) {
			continue
		}
		for _, h := range entries {
			if !rejectors.Has(h.PluginName) {
				continue
			}
			hint := framework.Queue
			if h.Fn != nil {
				var err error
				hint, err = h.Fn(logger, pi.Pod, oldObj, newObj)
				if err != nil {
					// Keep the pod from getting stuck.
					logger.Error(err, "QueueingHintFn returned an error", "event", event.Label(), "plugin", h.PluginName, "pod", klog.KObj(pi.Pod))
					hint = framework.Queue
				}
			}
			if hint == framework.QueueSkip {
				continue
			}
			if pi.PendingPlugins.Has(h.PluginName) {
				return queueImmediately
			}
			if len(pi.PendingPlugins) == 0 {
				return queueAfterBackoff
			}
			strategy = queueAfterBackoff
		}
	}
	return strategy
}

func (p *PriorityQueue) interested(event framework.ClusterEvent) bool {
	if event.IsWildCard() {
		return true
	}
	for _, prof := range p.profiles {
		for registered := range prof.Hints {
			if registered.Match(event) {
				return true
			}
		}
	}
	return false
}

// MoveAllToActiveOrBackoffQueue offers event to every unschedulable pod
// (passing preCheck) and moves those whose rejecting plugins say it may
// help.
func (p *PriorityQueue) MoveAllToActiveOrBackoffQueue(logger klog.Logger, event framework.ClusterEvent, oldObj, newObj any, preCheck PreEnqueueCheck) {
	p.lock.Lock()
	defer p.lock.Unlock()
	p.moveAllLocked(logger, event, oldObj, newObj, preCheck)
}

func (p *PriorityQueue) moveAllLocked(logger klog.Logger, event framework.ClusterEvent, oldObj, newObj any, preCheck PreEnqueueCheck) {
	if !p.interested(event) {
		return
	}
	var pods []*framework.QueuedPodInfo
	for _, pi := range p.unschedulable {
		if preCheck == nil || preCheck(pi.Pod) {
			pods = append(pods, pi)
		}
	}
	p.movePodsLocked(logger, pods, event, oldObj, newObj)
}

func (p *PriorityQueue) movePodsLocked(logger klog.Logger, pods []*framework.QueuedPodInfo, event framework.ClusterEvent, oldObj, newObj any) {
	activated := false
	for _, pi := range pods {
		// A gated pod only moves on events its gating plugin registered.
		if pi.Gated() && !event.IsWildCard() && !matchAny(event, p.pluginEvents[pi.GatingPlugin]) {
			continue
		}
		strategy := p.worthRequeuing(logger, pi, event, oldObj, newObj)
		if strategy == queueSkip {
			continue
		}
		delete(p.unschedulable, keyOf(pi))
		if q := p.requeue(logger, pi, strategy, event.Label()); q != "Unschedulable" {
			activated = true
		}
	}
	if len(p.inFlightPods) > 0 {
		p.inFlightEvents.PushBack(&inFlightEvent{event: event, oldObj: oldObj, newObj: newObj})
	}
	if activated {
		p.cond.Broadcast()
	}
}

func matchAny(event framework.ClusterEvent, registered []framework.ClusterEvent) bool {
	for _, r := range registered {
		if r.Match(event) {
			return true
		}
	}
	return false
}

// Activate moves pods from the unschedulable pool or backoff queue to the
// active queue.
func (p *PriorityQueue) Activate(logger klog.Logger, pods map[string]*v1.Pod) {
	p.lock.Lock()
	defer p.lock.Unlock()
	activated := false
	for _, pod := range pods {
		key := podKey(pod)
		pi, ok := p.unschedulable[key]
		fromBackoff := false
		if !ok {
			if pi, ok = p.backoffQ.Delete(key); !ok {
				if pi, ok = p.errorBackoffQ.Delete(key); !ok {
					// A pod being scheduled is activated when it comes back.
					if _, inFlight := p.inFlightPods[pod.UID]; inFlight {
						p.inFlightEvents.PushBack(&inFlightEvent{event: framework.EventForceActivate, newObj: pod})
					}
					continue
				}
			}
			fromBackoff = true
		}
		if p.moveToActiveQ(logger, pi, framework.EventForceActivate.Label(), fromBackoff) {
			activated = true
		}
	}
	if activated {
		p.cond.Broadcast()
	}
}

// Update replaces a pending pod. An update of an unschedulable pod is
// offered to its rejecting plugins as a TargetPod event.
func (p *PriorityQueue) Update(logger klog.Logger, oldPod, newPod *v1.Pod) {
	p.lock.Lock()
	defer p.lock.Unlock()
	key := podKey(oldPod)
	events := framework.PodSchedulingPropertiesChange(newPod, oldPod, true)

	if _, inFlight := p.inFlightPods[newPod.UID]; inFlight {
		for _, ev := range events {
			p.inFlightEvents.PushBack(&inFlightEvent{event: ev, oldObj: oldPod, newObj: newPod})
		}
		return
	}
	for _, q := range []*keyedHeap[*framework.QueuedPodInfo]{p.activeQ, p.backoffQ, p.errorBackoffQ} {
		if pi, ok := q.Get(key); ok {
			_ = pi.PodInfo.Update(newPod)
			p.nominator.UpdateNominatedPod(logger, oldPod, pi.PodInfo)
			q.AddOrUpdate(pi)
			return
		}
	}
	if pi, ok := p.unschedulable[key]; ok {
		_ = pi.PodInfo.Update(newPod)
		p.nominator.UpdateNominatedPod(logger, oldPod, pi.PodInfo)
		for _, ev := range events {
			strategy := p.worthRequeuing(logger, pi, ev, oldPod, newPod)
			if pi.Gated() && !matchAny(ev, p.pluginEvents[pi.GatingPlugin]) {
				strategy = queueSkip
			}
			if strategy == queueSkip {
				continue
			}
			delete(p.unschedulable, key)
			if q := p.requeue(logger, pi, strategy, ev.Label()); q != "Unschedulable" {
				p.cond.Broadcast()
				break
			}
		}
		return
	}
	p.addLocked(logger, newPod)
}

// Delete drops a pod from every queue.
func (p *PriorityQueue) Delete(pod *v1.Pod) {
	p.lock.Lock()
	defer p.lock.Unlock()
	p.nominator.DeleteNominatedPodIfExists(pod)
	key := podKey(pod)
	p.activeQ.Delete(key)
	p.backoffQ.Delete(key)
	p.errorBackoffQ.Delete(key)
	delete(p.unschedulable, key)
}

func (p *PriorityQueue) backoffTime(pi *framework.QueuedPodInfo) time.Time {
	if p.podMaxBackoff == 0 {
		return time.Time{}
	}
	count := pi.UnschedulableCount
	if pi.ConsecutiveErrorsCount > 0 {
		count = pi.ConsecutiveErrorsCount
	}
	if count == 0 {
		return time.Time{}
	}
	if pi.BackoffExpiration.IsZero() {
		d := p.podMaxBackoff
		if shift := count - 1; shift < 63 && p.podInitialBackoff <= p.podMaxBackoff>>shift {
			d = p.podInitialBackoff << shift
		}
		pi.BackoffExpiration = pi.Timestamp.Add(d).Truncate(backoffWindow)
	}
	return pi.BackoffExpiration
}

func (p *PriorityQueue) isBackingOff(pi *framework.QueuedPodInfo) bool {
	return !p.backoffTime(pi).Before(p.clock.Now().Truncate(backoffWindow))
}

func (p *PriorityQueue) flushBackoffQCompleted(logger klog.Logger) {
	p.lock.Lock()
	defer p.lock.Unlock()
	activated := false
	for _, q := range []*keyedHeap[*framework.QueuedPodInfo]{p.backoffQ, p.errorBackoffQ} {
		for {
			pi, ok := q.Peek()
			if !ok || p.isBackingOff(pi) {
				break
			}
			q.Pop()
			if p.moveToActiveQ(logger, pi, "BackoffComplete", true) {
				activated = true
			}
		}
	}
	if activated {
		p.cond.Broadcast()
	}
}

func (p *PriorityQueue) flushUnschedulableLeftover(logger klog.Logger) {
	p.lock.Lock()
	defer p.lock.Unlock()
	now := p.clock.Now()
	var pods []*framework.QueuedPodInfo
	for _, pi := range p.unschedulable {
		if now.Sub(pi.Timestamp) > p.podMaxInUnschedulable {
			pods = append(pods, pi)
		}
	}
	if len(pods) > 0 {
		p.movePodsLocked(logger, pods, framework.EventUnschedulableTimeout, nil, nil)
	}
}

// AddNominatedPod records a nomination under the queue's lock.
func (p *PriorityQueue) AddNominatedPod(logger klog.Logger, pi *framework.PodInfo, ni *framework.NominatingInfo) {
	p.lock.Lock()
	defer p.lock.Unlock()
	p.nominator.AddNominatedPod(logger, pi, ni)
}

// PendingPods lists the queued pods and a summary of where they are.
func (p *PriorityQueue) PendingPods() ([]*v1.Pod, string) {
	p.lock.Lock()
	defer p.lock.Unlock()
	var out []*v1.Pod
	for _, pi := range p.activeQ.List() {
		out = append(out, pi.Pod)
	}
	backoff := 0
	for _, q := range []*keyedHeap[*framework.QueuedPodInfo]{p.backoffQ, p.errorBackoffQ} {
		for _, pi := range q.List() {
			out = append(out, pi.Pod)
			backoff++
		}
	}
	for _, pi := range p.unschedulable {
		out = append(out, pi.Pod)
	}
	return out, fmt.Sprintf("activeQ:%d; backoffQ:%d; unschedulablePods:%d", p.activeQ.Len(), backoff, len(p.unschedulable))
}

// Lens reports the sizes of the active queue, backoff queues and
// unschedulable pool.
func (p *PriorityQueue) Lens() (active, backoff, unschedulable int) {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.activeQ.Len(), p.backoffQ.Len() + p.errorBackoffQ.Len(), len(p.unschedulable)
}
