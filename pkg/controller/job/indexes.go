package job

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/skiff-project/skiff/pkg/controller"
)

const (
	completionIndexEnvName = "JOB_COMPLETION_INDEX"
	unknownCompletionIndex = -1
)

func isIndexedJob(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(job *batchv1.Job) bool {
	return job.Spec.BackoffLimitPerIndex != nil
}

// interval is a closed range of completion indexes.
type interval struct{ First, Last int }

// intervals is a sorted list of disjoint, non-adjacent intervals: the
// form of status.completedIndexes and failedIndexes ("1,3-5,7").
type intervals []interval

// withIndexes merges sorted indexes into the intervals.
func (oi intervals) withIndexes(indexes []int) intervals {
	add := make(intervals, len(indexes))
	for i, ix := range indexes {
		add[i] = interval{ix, ix}
	}
	return oi.merge(add)
}

func (oi intervals) merge(other intervals) intervals {
	var out intervals
	push := func(iv interval) {
		if n := len(out); n > 0 && iv.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, iv.Last)
			return
		}
		out = append(out, iv)
	}
	i, j := 0, 0
	for i < len(oi) && j < len(other) {
		if oi[i].First < other[j].First {
			push(oi[i])
			i++
		} else {
			push(other[j])
			j++
		}
	}
	for ; i < len(oi); i++ {
		push(oi[i])
	}
	for ; j < len(other); j++ {
		push(other[j])
	}
	return out
}

func (oi intervals) total() int {
	n := 0
	for _, iv := range oi {
		n += iv.Last - iv.First + 1
	}
	return n
}

// String writes "a-b" for runs of three or more, "a,b" for pairs.
func (oi intervals) String() string {
	var b strings.Builder
	for _, iv := range oi {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.First))
		switch {
		case iv.Last == iv.First+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(iv.Last))
		case iv.Last > iv.First:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.Last))
		}
	}
	return b.String()
}

func (oi intervals) has(ix int) bool {
	k := sort.Search(len(oi), func(i int) bool { return oi[i].Last >= ix })
	return k < len(oi) && oi[k].First <= ix
}

// parseIntervals reads "1,3-5" up to completions; corrupt parts are skipped.
func parseIntervals(s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for _, part := range strings.Split(s, ",") {
		limits := strings.Split(part, "-")
		first, err := strconv.Atoi(limits[0])
		if err != nil {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(limits) > 1 {
			if last, err = strconv.Atoi(limits[1]); err != nil {
				continue
			}
			last = min(last, completions-1)
		}
		if n := len(out); n > 0 && out[n-1].Last == first-1 {
			out[n-1].Last = last
		} else {
			out = append(out, interval{first, last})
		}
	}
	return out
}

func completionIndex(annotations map[string]string) int {
	v, ok := annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return unknownCompletionIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return unknownCompletionIndex
	}
	return i
}

// succeededIndexes returns the completed indexes in the status and those
// plus the indexes of succeeded pods not yet counted.
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (intervals, intervals) {
	prev := parseIntervals(job.Status.CompletedIndexes, int(*job.Spec.Completions))
	found := sets.New[int]()
	for _, p := range pods {
		ix := completionIndex(p.Annotations)
		if p.Status.Phase == corev1.PodSucceeded && ix != unknownCompletionIndex && ix < int(*job.Spec.Completions) && hasTrackingFinalizer(p) {
			found.Insert(ix)
		}
	}
	return prev, prev.withIndexes(sets.List(found))
}

// failedIndexes returns the indexes that exhausted backoffLimitPerIndex
// (or were failed by a FailIndex rule).
func failedIndexes(job *batchv1.Job, pods []*corev1.Pod) *intervals {
	var prev intervals
	if job.Status.FailedIndexes != nil {
		prev = parseIntervals(*job.Status.FailedIndexes, int(*job.Spec.Completions))
	}
	found := sets.New[int]()
	for _, p := range pods {
		ix := completionIndex(p.Annotations)
		if ix != unknownCompletionIndex && ix < int(*job.Spec.Completions) && hasTrackingFinalizer(p) && isIndexFailed(job, p) {
			found.Insert(ix)
		}
	}
	out := prev.withIndexes(sets.List(found))
	return &out
}

func isIndexFailed(job *batchv1.Job, pod *corev1.Pod) bool {
	if !isPodFailed(pod, job) {
		return false
	}
	counted := true
	if job.Spec.PodFailurePolicy != nil {
		_, countFailed, action := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
		if action != nil && *action == batchv1.PodFailurePolicyActionFailIndex {
			return true
		}
		counted = countFailed
	}
	return counted && indexFailureCount(pod) >= *job.Spec.BackoffLimitPerIndex
}

// firstPendingIndexes returns up to count indexes that are neither
// succeeded, failed, nor running (nor terminating, when only failed pods
// are replaced), lowest first.
func firstPendingIndexes(jc *syncContext, count, completions int) []int {
	if count == 0 {
		return nil
	}
	busy := jc.succeededIndexes.withIndexes(sets.List(indexesOf(jc.activePods)))
	if onlyReplaceFailedPods(jc.job) {
		busy = busy.withIndexes(sets.List(indexesOf(controller.FilterTerminatingPods(jc.pods))))
	}
	if jc.failedIndexes != nil {
		busy = busy.merge(*jc.failedIndexes)
	}
	var out []int
	candidate := 0
	for _, iv := range busy {
		for ; candidate < completions && len(out) < count && candidate < iv.First; candidate++ {
			out = append(out, candidate)
		}
		candidate = max(candidate, iv.Last+1)
	}
	for ; candidate < completions && len(out) < count; candidate++ {
		out = append(out, candidate)
	}
	return out
}

func indexesOf(pods []*corev1.Pod) sets.Set[int] {
	out := sets.New[int]()
	for _, p := range pods {
		if ix := completionIndex(p.Annotations); ix != unknownCompletionIndex {
			out.Insert(ix)
		}
	}
	return out
}

// duplicateIndexPods splits active pods of an Indexed Job into those to
// remove (no or out-of-range index, all but the best of a repeated
// index) and the rest.
func duplicateIndexPods(pods []*corev1.Pod, completions int) (rm, keep []*corev1.Pod) {
	sorted := append([]*corev1.Pod{}, pods...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return completionIndex(sorted[i].Annotations) < completionIndex(sorted[j].Annotations)
	})
	for start := 0; start < len(sorted); {
		ix := completionIndex(sorted[start].Annotations)
		if ix >= completions {
			return append(rm, sorted[start:]...), keep
		}
		end := start + 1
		for end < len(sorted) && completionIndex(sorted[end].Annotations) == ix {
			end++
		}
		group := sorted[start:end]
		switch {
		case ix == unknownCompletionIndex:
			rm = append(rm, group...)
		case len(group) == 1:
			keep = append(keep, group[0])
		default:
			sort.Sort(controller.ActivePods(group))
			rm = append(rm, group[:len(group)-1]...)
			keep = append(keep, group[len(group)-1])
		}
		start = end
	}
	return rm, keep
}

// podsWithDelayedDeletion returns, per index with backoffLimitPerIndex,
// the last failed pod whose finalizer stays until its replacement exists
// (it carries the index's failure count).
func podsWithDelayedDeletion(jc *syncContext) map[int]*corev1.Pod {
	active := indexesOf(jc.activePods)
	out := map[int]*corev1.Pod{}
	for _, p := range validPods(jc, nil, func(p *corev1.Pod) bool { return isPodFailed(p, jc.job) }) {
		ix := completionIndex(p.Annotations)
		if jc.succeededIndexes.has(ix) || jc.failedIndexes.has(ix) || active.Has(ix) {
			continue
		}
		if last, ok := out[ix]; ok {
			if absoluteIndexFailureCount(last) <= absoluteIndexFailureCount(p) && !finishedTime(p).Before(finishedTime(last)) {
				out[ix] = p
			}
		} else {
			out[ix] = p
		}
	}
	return out
}

// setIndexFailureCounts annotates a replacement pod with its index's
// failure counts so far.
func setIndexFailureCounts(template *corev1.PodTemplateSpec, job *batchv1.Job, replaced *corev1.Pod) {
	var failures, ignored int32
	if replaced != nil {
		failures, ignored = indexFailureCount(replaced), ignoredIndexFailureCount(replaced)
		if job.Spec.PodFailurePolicy != nil {
			if _, countFailed, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, replaced); countFailed {
				failures++
			} else {
				ignored++
			}
		} else {
			failures++
		}
	}
	template.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
	if ignored > 0 {
		template.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}

func indexFailureCount(pod *corev1.Pod) int32 {
	return parseCount(pod.Annotations[batchv1.JobIndexFailureCountAnnotation])
}

func ignoredIndexFailureCount(pod *corev1.Pod) int32 {
	return parseCount(pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation])
}

func absoluteIndexFailureCount(pod *corev1.Pod) int32 {
	return indexFailureCount(pod) + ignoredIndexFailureCount(pod)
}

func parseCount(s string) int32 {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0
	}
	return int32(n)
}

// addCompletionIndexEnv gives every container JOB_COMPLETION_INDEX from
// the pod's completion-index label.
func addCompletionIndexEnv(template *corev1.PodTemplateSpec) {
	add := func(c *corev1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnvName {
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnvName, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
		}})
	}
	for i := range template.Spec.InitContainers {
		add(&template.Spec.InitContainers[i])
	}
	for i := range template.Spec.Containers {
		add(&template.Spec.Containers[i])
	}
}

// setCompletionIndex sets the index annotation and label of a pod template.
func setCompletionIndex(template *corev1.PodTemplateSpec, index int) {
	if template.Annotations == nil {
		template.Annotations = map[string]string{}
	}
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	template.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
}

// generateNameWithIndex is "<job>-<index>-", the job name cut to fit.
func generateNameWithIndex(jobName string, index int) string {
	suffix := "-" + strconv.Itoa(index) + "-"
	prefix := jobName + suffix
	if len(prefix) > names.MaxGeneratedNameLength {
		prefix = prefix[:names.MaxGeneratedNameLength-len(suffix)] + suffix
	}
	return prefix
}
