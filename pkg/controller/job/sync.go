package job

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

// syncContext is what one sync knows about a Job.
type syncContext struct {
	job                  *batchv1.Job
	pods                 []*corev1.Pod
	activePods           []*corev1.Pod
	finishedCondition    *batchv1.JobCondition
	succeeded            int32
	failed               int32
	prevSucceededIndexes intervals
	succeededIndexes     intervals
	failedIndexes        *intervals
	newBackoff           backoffRecord
	expectedRmFinalizers sets.Set[types.UID]
	uncountedSucceeded   sets.Set[types.UID]
	uncountedFailed      sets.Set[types.UID]
	delayedDeletion      map[int]*corev1.Pod
	terminating          *int32
	ready                int32
}

func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	shared, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		c.finalizerExpectations.delete(key)
		c.backoff.remove(key)
		return nil
	}
	if err != nil {
		return err
	}
	if managedByOther(shared) {
		logger.V(2).Info("Skip syncing the job as it is managed by an external controller", "key", key, "controllerName", *shared.Spec.ManagedBy)
		return nil
	}
	job := shared.DeepCopy()
	if isJobFinished(job) {
		c.backoff.remove(key)
		c.finishedJobs.Delete(job.UID)
		return nil
	}
	if _, ok := c.finishedJobs.Load(job.UID); ok {
		// Finished by the previous sync; its update is on the way.
		return nil
	}
	if job.Spec.CompletionMode != nil && *job.Spec.CompletionMode != batchv1.NonIndexedCompletion && *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		c.recorder.Event(job, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	satisfied := c.expectations.Satisfied(key)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	active := controller.FilterActivePods(pods)
	jc := &syncContext{
		job:                  job,
		pods:                 pods,
		activePods:           active,
		ready:                countReady(active),
		uncountedSucceeded:   sets.New(job.Status.UncountedTerminatedPods.Succeeded...),
		uncountedFailed:      sets.New(job.Status.UncountedTerminatedPods.Failed...),
		expectedRmFinalizers: c.finalizerExpectations.expected(key),
		terminating:          ptr.To(int32(len(controller.FilterTerminatingPods(pods)))),
	}
	numActive := int32(len(active))
	newSucceeded, newFailed := newFinishedPods(jc)
	jc.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(jc.uncountedSucceeded.Len())
	jc.failed = job.Status.Failed + int32(countedFailures(jc, newFailed)) + int32(jc.uncountedFailed.Len())

	if job.Status.StartTime == nil && !isSuspended(job) {
		now := metav1.NewTime(c.clock.Now())
		job.Status.StartTime = &now
	}
	jc.newBackoff = c.backoff.newRecord(key, newSucceeded, newFailed)

	// Why the Job is finishing, if it is.
	jc.finishedCondition = successCriteriaMet(job)
	if jc.finishedCondition == nil {
		if ft := findCondition(job.Status.Conditions, batchv1.JobFailureTarget); ft != nil && ft.Status == corev1.ConditionTrue {
			jc.finishedCondition = c.newCondition(batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message)
		} else if msg := failJobMessage(job, pods); msg != nil {
			jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, *msg)
		}
	}
	if jc.finishedCondition == nil {
		switch {
		case jc.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods):
			jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		case c.pastActiveDeadline(job):
			jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		case job.Spec.ActiveDeadlineSeconds != nil && !isSuspended(job):
			left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - c.clock.Since(job.Status.StartTime.Time)
			c.queue.AddAfter(key, left)
		}
	}
	if isIndexedJob(job) {
		jc.prevSucceededIndexes, jc.succeededIndexes = succeededIndexes(job, pods)
		jc.succeeded = int32(jc.succeededIndexes.total())
		if hasBackoffLimitPerIndex(job) {
			jc.failedIndexes = failedIndexes(job, pods)
			if jc.finishedCondition == nil {
				if job.Spec.MaxFailedIndexes != nil && jc.failedIndexes.total() > int(*job.Spec.MaxFailedIndexes) {
					jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes")
				} else if jc.failedIndexes.total() > 0 && jc.failedIndexes.total()+jc.succeededIndexes.total() >= int(*job.Spec.Completions) {
					jc.finishedCondition = c.newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonFailedIndexes, "Job has failed indexes")
				}
			}
			jc.delayedDeletion = podsWithDelayedDeletion(jc)
		}
		if jc.finishedCondition == nil {
			if msg, met := matchSuccessPolicy(job.Spec.SuccessPolicy, *job.Spec.Completions, jc.succeededIndexes); met {
				jc.finishedCondition = c.newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg)
			}
		}
	}

	var manageErr error
	suspendChanged := false
	if jc.finishedCondition != nil {
		// Finishing: every active pod goes.
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, jc.activePods)
		if deleted != numActive || !satisfied {
			// Not all gone yet: try again before declaring the end.
			jc.finishedCondition = nil
		}
		numActive -= deleted
		*jc.terminating += deleted
		jc.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			numActive, manageErr = c.manageJob(ctx, job, jc)
			managed = true
		}
		complete := false
		if job.Spec.Completions == nil {
			complete = jc.succeeded > 0 && numActive == 0
		} else {
			complete = jc.succeeded >= *job.Spec.Completions && numActive == 0
		}
		switch {
		case complete:
			jc.finishedCondition = c.newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		case managed && isSuspended(job):
			var updated bool
			job.Status.Conditions, updated = c.ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended")
			if updated {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
				// MutableSchedulingDirectivesForSuspendedJobs (beta, on):
				// the start time restarts on resume.
				job.Status.StartTime = nil
			}
		case managed:
			var updated bool
			job.Status.Conditions, updated = c.ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed")
			if updated {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				now := metav1.NewTime(c.clock.Now())
				job.Status.StartTime = &now
			}
		}
	}
	needsFlush := suspendChanged || numActive != job.Status.Active || !ptr.Equal(&jc.ready, job.Status.Ready) || !ptr.Equal(job.Status.Terminating, jc.terminating)
	job.Status.Active = numActive
	job.Status.Ready = &jc.ready
	job.Status.Terminating = jc.terminating
	if err := c.trackStatus(ctx, jc, needsFlush); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

func (c *Controller) newCondition(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string) *batchv1.JobCondition {
	now := metav1.NewTime(c.clock.Now())
	return &batchv1.JobCondition{Type: t, Status: status, LastProbeTime: now, LastTransitionTime: now, Reason: reason, Message: message}
}

// ensureCondition sets a condition's status, reason and message; a False
// condition that does not exist yet is not added.
func (c *Controller) ensureCondition(list []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string) ([]batchv1.JobCondition, bool) {
	if cond := findCondition(list, t); cond != nil {
		if cond.Status != status || cond.Reason != reason || cond.Message != message {
			*cond = *c.newCondition(t, status, reason, message)
			return list, true
		}
		return list, false
	}
	if status != corev1.ConditionFalse {
		return append(list, *c.newCondition(t, status, reason, message)), true
	}
	return list, false
}

func findCondition(list []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

func successCriteriaMet(job *batchv1.Job) *batchv1.JobCondition {
	if c := findCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet); c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

func isSuccessCriteriaMet(c *batchv1.JobCondition) bool {
	return c != nil && c.Type == batchv1.JobSuccessCriteriaMet && c.Status == corev1.ConditionTrue
}

func isSuspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

func onlyReplaceFailedPods(job *batchv1.Job) bool {
	return job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed
}

// isPodFailed: failed, or (unless only failed pods are replaced) being
// deleted before it succeeded.
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func countReady(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if podutil.IsPodReady(p) {
			n++
		}
	}
	return n
}

// validPods returns the pods with a tracking finalizer, not in skip, not
// already being un-finalized, in the index range, matching filter.
func validPods(jc *syncContext, skip sets.Set[types.UID], filter func(*corev1.Pod) bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range jc.pods {
		if !hasTrackingFinalizer(p) || skip.Has(p.UID) || jc.expectedRmFinalizers.Has(p.UID) {
			continue
		}
		if isIndexedJob(jc.job) {
			if ix := completionIndex(p.Annotations); ix == unknownCompletionIndex || ix >= int(*jc.job.Spec.Completions) {
				continue
			}
		}
		if filter(p) {
			out = append(out, p)
		}
	}
	return out
}

// newFinishedPods are finished pods not counted yet.
func newFinishedPods(jc *syncContext) (succeeded, failed []*corev1.Pod) {
	succeeded = validPods(jc, jc.uncountedSucceeded, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	failed = validPods(jc, jc.uncountedFailed, func(p *corev1.Pod) bool { return isPodFailed(p, jc.job) })
	return succeeded, failed
}

// countedFailures leaves out failures a pod failure policy ignores.
func countedFailures(jc *syncContext, failed []*corev1.Pod) int {
	n := len(failed)
	if jc.job.Spec.PodFailurePolicy != nil {
		for _, p := range failed {
			if _, count, _ := matchPodFailurePolicy(jc.job.Spec.PodFailurePolicy, p); !count {
				n--
			}
		}
	}
	return n
}

func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) *string {
	if job.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if isPodFailed(p, job) {
			if msg, _, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); msg != nil {
				return msg
			}
		}
	}
	return nil
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, container
// restarts of running pods count as failures.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

func (c *Controller) pastActiveDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false
	}
	return c.clock.Since(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// deleteActivePods deletes pods of a finishing Job (their finalizers are
// removed by status tracking).
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	var deletedReady atomic.Int32
	deleted := atomic.Int32{}
	deleted.Store(int32(len(pods)))
	errCh := make(chan error, len(pods))
	var wg sync.WaitGroup
	for _, pod := range pods {
		wg.Go(func() {
			if err := c.podControl.DeletePod(ctx, job.Namespace, pod.Name, job); err != nil && !apierrors.IsNotFound(err) {
				deleted.Add(-1)
				errCh <- err
			}
			if podutil.IsPodReady(pod) {
				deletedReady.Add(1)
			}
		})
	}
	wg.Wait()
	return deletedReady.Load(), deleted.Load(), firstError(errCh)
}

// deleteJobPods removes the tracking finalizer and deletes pods, with
// expectations.
func (c *Controller) deleteJobPods(ctx context.Context, job *batchv1.Job, key string, pods []*corev1.Pod) (int32, int32, error) {
	keys := make([]string, 0, len(pods))
	for _, p := range pods {
		keys = append(keys, controller.PodKey(p))
	}
	c.expectations.ExpectDeletions(key, keys)
	var deletedReady atomic.Int32
	deleted := atomic.Int32{}
	deleted.Store(int32(len(pods)))
	errCh := make(chan error, len(pods))
	fail := func(pod *corev1.Pod, err error) {
		c.expectations.DeletionObserved(key, controller.PodKey(pod))
		if !apierrors.IsNotFound(err) {
			deleted.Add(-1)
			errCh <- err
		}
	}
	var wg sync.WaitGroup
	for _, pod := range pods {
		wg.Go(func() {
			if patch := removeFinalizerPatch(pod); patch != nil {
				if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
					fail(pod, fmt.Errorf("removing completion finalizer: %w", err))
					return
				}
			}
			if err := c.podControl.DeletePod(ctx, job.Namespace, pod.Name, job); err != nil {
				fail(pod, err)
			}
			if podutil.IsPodReady(pod) {
				deletedReady.Add(1)
			}
		})
	}
	wg.Wait()
	return deletedReady.Load(), deleted.Load(), firstError(errCh)
}

func firstError(errCh chan error) error {
	select {
	case err := <-errCh:
		return err
	default:
		return nil
	}
}

// podsForRemoval picks at least n active pods to delete (duplicate or
// out-of-range indexes first, then the least valuable).
func podsForRemoval(job *batchv1.Job, pods []*corev1.Pod, n int) []*corev1.Pod {
	var rm, keep []*corev1.Pod
	if isIndexedJob(job) {
		rm, keep = duplicateIndexPods(pods, int(*job.Spec.Completions))
	} else {
		keep = append(keep, pods...)
	}
	if len(rm) < n {
		sort.Sort(controller.ActivePods(keep))
		rm = append(rm, keep[:n-len(rm)]...)
	}
	return rm
}

// manageJob deletes or creates pods toward the wanted number of active
// ones and returns the active count.
func (c *Controller) manageJob(ctx context.Context, job *batchv1.Job, jc *syncContext) (int32, error) {
	logger := klog.FromContext(ctx)
	key := job.Namespace + "/" + job.Name
	active := int32(len(jc.activePods))
	if isSuspended(job) {
		victims := podsForRemoval(job, jc.activePods, int(active))
		removedReady, removed, err := c.deleteJobPods(ctx, job, key, victims)
		*jc.terminating += removed
		jc.ready -= removedReady
		return active - removed, err
	}
	parallelism := *job.Spec.Parallelism
	var want int32
	if job.Spec.Completions == nil {
		// Work queue: keep what runs once anything succeeded.
		if jc.succeeded > 0 {
			want = active
		} else {
			want = parallelism
		}
	} else {
		want = max(min(*job.Spec.Completions-jc.succeeded, parallelism), 0)
	}
	victims := podsForRemoval(job, jc.activePods, int(max(active-want, 0)))
	if len(victims) > maxPodCreateDeletePerSync {
		victims = victims[:maxPodCreateDeletePerSync]
	}
	if len(victims) > 0 {
		logger.V(4).Info("Too many pods running for job", "job", klog.KObj(job), "deleted", len(victims), "target", want)
		removedReady, removed, err := c.deleteJobPods(ctx, job, key, victims)
		*jc.terminating += removed
		jc.ready -= removedReady
		// Deletions and creations never happen in the same sync.
		return active - removed, err
	}
	var terminating int32
	if onlyReplaceFailedPods(job) {
		terminating = *jc.terminating
	}
	diff := want - terminating - active
	if diff <= 0 {
		return active, nil
	}
	if !hasBackoffLimitPerIndex(job) {
		if left := jc.newBackoff.remaining(c.clock); left > 0 {
			c.queue.AddAfter(key, max(left, syncBatchPeriod))
			return active, nil
		}
	}
	diff = min(diff, maxPodCreateDeletePerSync)
	var indexes []int
	if isIndexedJob(job) {
		indexes = firstPendingIndexes(jc, int(diff), int(*job.Spec.Completions))
		if hasBackoffLimitPerIndex(job) {
			var left time.Duration
			if indexes, left = c.indexesReadyNow(indexes, jc.delayedDeletion); left > 0 {
				c.queue.AddAfter(key, max(left, syncBatchPeriod))
				return active, nil
			}
		}
		diff = int32(len(indexes))
	}
	c.expectations.ExpectCreations(key, int(diff))
	logger.V(4).Info("Too few pods running", "key", key, "need", want, "creating", diff)
	template := job.Spec.Template.DeepCopy()
	if isIndexedJob(job) {
		addCompletionIndexEnv(template)
	}
	if !slices.Contains(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	ref := controller.NewControllerRef(job, controllerKind)
	created := atomic.Int32{}
	created.Store(diff)
	errCh := make(chan error, diff)
	var mu sync.Mutex
	for batch := min(diff, 1); diff > 0; batch = min(2*batch, diff) {
		before := len(errCh)
		var wg sync.WaitGroup
		for i := int32(0); i < batch; i++ {
			ix := unknownCompletionIndex
			mu.Lock()
			if len(indexes) > 0 {
				ix, indexes = indexes[0], indexes[1:]
			}
			mu.Unlock()
			wg.Go(func() {
				t := template
				pod := (*corev1.Pod)(nil)
				if ix != unknownCompletionIndex {
					t = template.DeepCopy()
					setCompletionIndex(t, ix)
					t.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
					if hasBackoffLimitPerIndex(job) {
						setIndexFailureCounts(t, job, jc.delayedDeletion[ix])
					}
					pod = controller.PodFromTemplate(t, job.Name, ref)
					pod.GenerateName = generateNameWithIndex(job.Name, ix)
				} else {
					pod = controller.PodFromTemplate(t, job.Name, ref)
				}
				_, err := c.podControl.CreatePod(ctx, job.Namespace, pod, job)
				if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return
				}
				if err != nil {
					c.expectations.CreationObserved(key)
					created.Add(-1)
					errCh <- err
				}
			})
		}
		wg.Wait()
		if skipped := diff - batch; len(errCh) > before && skipped > 0 {
			// Creates never attempted will not be observed.
			created.Add(-skipped)
			c.expectations.LowerCreations(key, int(skipped))
			break
		}
		diff -= batch
	}
	return active + created.Load(), firstError(errCh)
}

// indexesReadyNow keeps the indexes whose per-index back-off has passed;
// when none has, it returns the shortest wait.
func (c *Controller) indexesReadyNow(indexes []int, delayed map[int]*corev1.Pod) ([]int, time.Duration) {
	var now []int
	var wait *time.Duration
	for _, ix := range indexes {
		left := remainingBackoffForIndex(c.clock, delayed[ix])
		if left == 0 {
			now = append(now, ix)
		} else if wait == nil || left < *wait {
			wait = &left
		}
	}
	if len(now) > 0 {
		return now, 0
	}
	return nil, ptr.Deref(wait, 0)
}

// canRemoveFinalizer: a pod is counted (and its finalizer removed) once
// it succeeded or failed, or when the Job is going away or finishing;
// with backoffLimitPerIndex, the last failed pod of an index waits for its
// replacement.
func canRemoveFinalizer(jc *syncContext, pod *corev1.Pod, failed bool) bool {
	if jc.job.DeletionTimestamp != nil || jc.finishedCondition != nil || pod.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if hasBackoffLimitPerIndex(jc.job) {
		if ix := completionIndex(pod.Annotations); ix != unknownCompletionIndex {
			if p, ok := jc.delayedDeletion[ix]; ok && p.UID == pod.UID {
				return false
			}
		}
	}
	return true
}

// trackStatus counts finished pods in two steps that survive a crash:
// their UIDs go into status.uncountedTerminatedPods (written), then their
// finalizers are removed, then they move to succeeded/failed (written).
// It also writes the finishing conditions.
func (c *Controller) trackStatus(ctx context.Context, jc *syncContext, needsFlush bool) error {
	job := jc.job
	indexed := isIndexedJob(job)
	if indexed {
		sort.SliceStable(jc.pods, func(i, j int) bool {
			return completionIndex(jc.pods[i].Annotations) < completionIndex(jc.pods[j].Annotations)
		})
	}
	withFinalizer := sets.New[types.UID]()
	for _, p := range jc.pods {
		if hasTrackingFinalizer(p) && !jc.expectedRmFinalizers.Has(p.UID) {
			withFinalizer.Insert(p.UID)
		}
	}
	if moveUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	uncounted := job.Status.UncountedTerminatedPods
	var toRelease []*corev1.Pod
	var newSucceededIndexes []int
	reachedMax := false
	for _, pod := range jc.pods {
		if !hasTrackingFinalizer(pod) || jc.expectedRmFinalizers.Has(pod.UID) {
			continue
		}
		failed := isPodFailed(pod, job)
		if !canRemoveFinalizer(jc, pod, failed) {
			continue
		}
		toRelease = append(toRelease, pod)
		switch {
		case pod.Status.Phase == corev1.PodSucceeded && !jc.uncountedFailed.Has(pod.UID):
			if indexed {
				ix := completionIndex(pod.Annotations)
				if ix != unknownCompletionIndex && ix < int(*job.Spec.Completions) && !jc.prevSucceededIndexes.has(ix) {
					newSucceededIndexes = append(newSucceededIndexes, ix)
					needsFlush = true
				}
			} else if !jc.uncountedSucceeded.Has(pod.UID) {
				needsFlush = true
				uncounted.Succeeded = append(uncounted.Succeeded, pod.UID)
			}
		case failed || (jc.finishedCondition != nil && !isSuccessCriteriaMet(jc.finishedCondition)):
			ix := completionIndex(pod.Annotations)
			if !jc.uncountedFailed.Has(pod.UID) && (!indexed || (ix != unknownCompletionIndex && ix < int(*job.Spec.Completions))) {
				counts := true
				if job.Spec.PodFailurePolicy != nil {
					_, counts, _ = matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
				}
				if counts {
					needsFlush = true
					uncounted.Failed = append(uncounted.Failed, pod.UID)
				}
			}
		}
		if len(newSucceededIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			reachedMax = true
			break
		}
	}
	if indexed {
		jc.succeededIndexes = jc.succeededIndexes.withIndexes(newSucceededIndexes)
		s := jc.succeededIndexes.String()
		if s != job.Status.CompletedIndexes {
			needsFlush = true
		}
		job.Status.Succeeded = int32(jc.succeededIndexes.total())
		job.Status.CompletedIndexes = s
		var failedStr *string
		if jc.failedIndexes != nil {
			failedStr = ptr.To(jc.failedIndexes.String())
		}
		if !ptr.Equal(job.Status.FailedIndexes, failedStr) {
			job.Status.FailedIndexes = failedStr
			needsFlush = true
		}
	}
	// The interim conditions are written first; the terminal ones follow
	// once nothing is uncounted or terminating.
	if jc.finishedCondition != nil && jc.finishedCondition.Type == batchv1.JobFailureTarget {
		job.Status.Conditions = append(job.Status.Conditions, *jc.finishedCondition)
		needsFlush = true
		jc.finishedCondition = c.newCondition(batchv1.JobFailed, corev1.ConditionTrue, jc.finishedCondition.Reason, jc.finishedCondition.Message)
	}
	if isSuccessCriteriaMet(jc.finishedCondition) {
		if successCriteriaMet(job) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *jc.finishedCondition)
			needsFlush = true
		}
		jc.finishedCondition = c.newCondition(batchv1.JobComplete, corev1.ConditionTrue, jc.finishedCondition.Reason, jc.finishedCondition.Message)
	}
	var err error
	if needsFlush, err = c.flushAndRelease(ctx, jc, toRelease, withFinalizer, needsFlush); err != nil {
		return err
	}
	finished := !reachedMax && c.enactFinished(jc)
	if finished {
		needsFlush = true
	}
	if needsFlush {
		if _, err := c.updateStatus(ctx, jc.job); err != nil {
			return fmt.Errorf("removing uncounted pods from status: %w", err)
		}
		if finished {
			c.recordFinished(jc.job, jc.finishedCondition)
			c.finishedJobs.Store(jc.job.UID, struct{}{})
		}
	}
	return nil
}

// flushAndRelease writes pending counts, removes the finalizers of
// toRelease and moves released pods from uncounted to the counters.
func (c *Controller) flushAndRelease(ctx context.Context, jc *syncContext, toRelease []*corev1.Pod, withFinalizer sets.Set[types.UID], needsFlush bool) (bool, error) {
	if needsFlush {
		updated, err := c.updateStatus(ctx, jc.job)
		if err != nil {
			return needsFlush, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		jc.job = updated
		c.backoff.update(jc.newBackoff)
		needsFlush = false
	}
	key := jc.job.Namespace + "/" + jc.job.Name
	var rmErr error
	if len(toRelease) > 0 {
		var released []bool
		released, rmErr = c.removeFinalizers(ctx, key, toRelease)
		for i, p := range toRelease {
			if released[i] {
				withFinalizer.Delete(p.UID)
			}
		}
	}
	if moveUncounted(&jc.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil && needsFlush {
		if _, err := c.updateStatus(ctx, jc.job); err != nil {
			return needsFlush, fmt.Errorf("removing uncounted pods from status: %w", err)
		}
	}
	return needsFlush, rmErr
}

// moveUncounted moves uncounted pods whose finalizer is gone into the
// succeeded and failed counters.
func moveUncounted(status *batchv1.JobStatus, withFinalizer sets.Set[types.UID]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(uid) {
				out = append(out, uid)
			}
		}
		return out
	}
	updated := false
	if k := keep(u.Succeeded); len(k) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(k))
		u.Succeeded = k
		updated = true
	}
	if k := keep(u.Failed); len(k) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(k))
		u.Failed = k
		updated = true
	}
	return updated
}

func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	released := make([]bool, len(pods))
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.finalizerExpectations.expectRemoved(key, uids)
	errCh := make(chan error, len(pods))
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Go(func() {
			patch := removeFinalizerPatch(pod)
			if patch == nil {
				return
			}
			if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
				c.finalizerExpectations.observed(key, pod.UID)
				if !apierrors.IsNotFound(err) {
					errCh <- fmt.Errorf("removing tracking finalizer: %w", err)
					return
				}
			}
			released[i] = true
		})
	}
	wg.Wait()
	return released, firstError(errCh)
}

// enactFinished adds the terminal condition once no pod is uncounted or
// terminating.
func (c *Controller) enactFinished(jc *syncContext) bool {
	if jc.finishedCondition == nil {
		return false
	}
	job := jc.job
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if *jc.terminating > 0 {
		return false
	}
	fc := jc.finishedCondition
	job.Status.Conditions, _ = c.ensureCondition(job.Status.Conditions, fc.Type, fc.Status, fc.Reason, fc.Message)
	if fc.Type == batchv1.JobComplete {
		job.Status.CompletionTime = &fc.LastTransitionTime
	}
	return true
}

func (c *Controller) recordFinished(job *batchv1.Job, cond *batchv1.JobCondition) {
	if cond.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	c.recorder.Event(job, corev1.EventTypeWarning, cond.Reason, cond.Message)
}

func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}
