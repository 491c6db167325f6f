package namespace

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// deletionConditions are the namespace conditions this controller owns, in
// the order upstream writes them. Each is False (with an "ok" reason and
// message) unless the last pass found the problem it names.
var deletionConditions = []struct {
	conditionType corev1.NamespaceConditionType
	okReason      string
	okMessage     string
}{
	{corev1.NamespaceDeletionDiscoveryFailure, "ResourcesDiscovered", "All resources successfully discovered"},
	{corev1.NamespaceDeletionGVParsingFailure, "ParsedGroupVersions", "All legacy kube types successfully parsed"},
	{corev1.NamespaceDeletionContentFailure, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	{corev1.NamespaceContentRemaining, "ContentRemoved", "All content successfully removed"},
	{corev1.NamespaceFinalizersRemaining, "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

// remainingContent counts what is left in a namespace after a pass.
type remainingContent struct {
	byResource  map[schema.GroupVersionResource]int
	byFinalizer map[string]int
}

// conditionUpdater collects the problems of one deletion pass and turns
// them into namespace conditions.
type conditionUpdater struct {
	failing       map[corev1.NamespaceConditionType]corev1.NamespaceCondition
	contentErrors []error
}

func (u *conditionUpdater) set(t corev1.NamespaceConditionType, reason, message string) {
	if u.failing == nil {
		u.failing = map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	}
	u.failing[t] = corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(), Reason: reason, Message: message}
}

func (u *conditionUpdater) discoveryFailed(err error) {
	msg := err.Error()
	var groupErr *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &groupErr) {
		msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(groupErr.Groups), err)
	}
	u.set(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", msg)
}

func (u *conditionUpdater) groupVersionParsingFailed(err error) {
	u.set(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", err.Error())
}

func (u *conditionUpdater) contentDeletionFailed(err error) {
	u.contentErrors = append(u.contentErrors, err)
}

func (u *conditionUpdater) contentRemaining(totals remainingContent) {
	var resources []string
	for gvr, n := range totals.byResource {
		if n > 0 {
			resources = append(resources, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
	}
	if len(resources) > 0 {
		sort.Strings(resources)
		u.set(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(resources, ", "))
	}
	var finalizers []string
	for f, n := range totals.byFinalizer {
		if n > 0 {
			finalizers = append(finalizers, fmt.Sprintf("%s in %d resource instances", f, n))
		}
	}
	if len(finalizers) > 0 {
		sort.Strings(finalizers)
		u.set(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+strings.Join(finalizers, ", "))
	}
}

// apply writes the pass's conditions into status and reports whether
// anything changed. LastTransitionTime moves only when a status flips.
func (u *conditionUpdater) apply(status *corev1.NamespaceStatus) bool {
	if len(u.contentErrors) > 0 {
		msgs := make([]string, 0, len(u.contentErrors))
		for _, err := range u.contentErrors {
			msgs = append(msgs, err.Error())
		}
		sort.Strings(msgs)
		u.set(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(msgs), strings.Join(msgs, ", ")))
	}
	changed := false
	for _, dc := range deletionConditions {
		want, failing := u.failing[dc.conditionType]
		if !failing {
			want = corev1.NamespaceCondition{Type: dc.conditionType, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now(), Reason: dc.okReason, Message: dc.okMessage}
		}
		i := conditionIndex(status.Conditions, dc.conditionType)
		if i < 0 {
			status.Conditions = append(status.Conditions, want)
			changed = true
			continue
		}
		have := &status.Conditions[i]
		if have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message {
			continue
		}
		if have.Status != want.Status {
			have.LastTransitionTime = want.LastTransitionTime
		}
		have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	return changed
}

func conditionIndex(conditions []corev1.NamespaceCondition, t corev1.NamespaceConditionType) int {
	for i := range conditions {
		if conditions[i].Type == t {
			return i
		}
	}
	return -1
}
