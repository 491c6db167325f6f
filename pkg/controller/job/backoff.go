package job

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// Back-off of pod re-creation after failures (upstream's): 10s doubled
// per failure since the last success, at most 10 minutes.
const (
	defaultPodFailureBackOff = 10 * time.Second
	maxPodFailureBackOff     = 10 * time.Minute
)

// backoffRecord counts a Job's pod failures since its last success.
type backoffRecord struct {
	key                      string
	failuresAfterLastSuccess int32
	lastFailureTime          *time.Time
}

// backoffStore keeps the records of all Jobs in memory (like upstream;
// after a restart, back-off starts over).
type backoffStore struct {
	mu      sync.Mutex
	records map[string]backoffRecord
}

func newBackoffStore() *backoffStore { return &backoffStore{records: map[string]backoffRecord{}} }

func (s *backoffStore) update(r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[r.key] = r
}

func (s *backoffStore) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
}

// newRecord folds newly finished pods into the Job's record: a success
// resets the count to the failures that came after it.
func (s *backoffStore) newRecord(key string, succeeded, failed []*corev1.Pod) backoffRecord {
	s.mu.Lock()
	r, ok := s.records[key]
	s.mu.Unlock()
	if !ok {
		r = backoffRecord{key: key}
	}
	sortByFinishedTime(succeeded)
	sortByFinishedTime(failed)
	if len(succeeded) == 0 {
		if len(failed) == 0 {
			return r
		}
		r.failuresAfterLastSuccess += int32(len(failed))
		t := finishedTime(failed[len(failed)-1])
		r.lastFailureTime = &t
		return r
	}
	r.failuresAfterLastSuccess, r.lastFailureTime = 0, nil
	lastSuccess := finishedTime(succeeded[len(succeeded)-1])
	for i := len(failed) - 1; i >= 0; i-- {
		t := finishedTime(failed[i])
		if !t.After(lastSuccess) {
			break
		}
		if r.lastFailureTime == nil {
			r.lastFailureTime = &t
		}
		r.failuresAfterLastSuccess++
	}
	return r
}

func (r backoffRecord) remaining(c clock.PassiveClock) time.Duration {
	return remainingBackoff(c, r.failuresAfterLastSuccess, r.lastFailureTime)
}

// remainingBackoffForIndex is the back-off before re-creating an index's
// pod after lastFailed.
func remainingBackoffForIndex(c clock.PassiveClock, lastFailed *corev1.Pod) time.Duration {
	if lastFailed == nil {
		return 0
	}
	t := finishedTime(lastFailed)
	return remainingBackoff(c, absoluteIndexFailureCount(lastFailed)+1, &t)
}

func remainingBackoff(c clock.PassiveClock, failures int32, lastFailure *time.Time) time.Duration {
	if failures == 0 || lastFailure == nil {
		return 0
	}
	d := defaultPodFailureBackOff
	for i := 1; i < int(failures); i++ {
		d *= 2
		if d >= maxPodFailureBackOff {
			d = maxPodFailureBackOff
			break
		}
	}
	elapsed := c.Since(*lastFailure)
	if d < elapsed {
		return 0
	}
	return d - elapsed
}

func sortByFinishedTime(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return finishedTime(pods[i]).Before(finishedTime(pods[j])) })
}

// finishedTime is when a pod finished: its containers' latest finish, else
// when it became not ready, else its deletion minus grace, else creation.
func finishedTime(p *corev1.Pod) time.Time {
	if t := containersFinishTime(p); t != nil {
		return *t
	}
	if _, c := podutil.GetPodCondition(&p.Status, corev1.PodReady); c != nil && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Add(-time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return p.CreationTimestamp.Time
}

func containersFinishTime(p *corev1.Pod) *time.Time {
	t := latestFinish(nil, p.Status.ContainerStatuses, nil)
	sidecars := sets.New[string]()
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Insert(c.Name)
		}
	}
	return latestFinish(t, p.Status.InitContainerStatuses, func(s corev1.ContainerStatus) bool { return sidecars.Has(s.Name) })
}

// latestFinish is nil when a considered container has not terminated.
func latestFinish(prev *time.Time, statuses []corev1.ContainerStatus, include func(corev1.ContainerStatus) bool) *time.Time {
	t := prev
	for _, s := range statuses {
		if include != nil && !include(s) {
			continue
		}
		if s.State.Terminated == nil || s.State.Terminated.FinishedAt.IsZero() {
			return nil
		}
		if t == nil || t.Before(s.State.Terminated.FinishedAt.Time) {
			ft := s.State.Terminated.FinishedAt.Time
			t = &ft
		}
	}
	return t
}
