// Package ensurer keeps upstream's bootstrap API Priority and Fairness
// configuration in the cluster: the mandatory and suggested FlowSchemas and
// PriorityLevelConfigurations of k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap.
//
// The rules are upstream's:
//   - a missing bootstrap object is created;
//   - a mandatory object always gets the bootstrap spec back, and
//     apf.kubernetes.io/autoupdate-spec=true;
//   - a suggested object gets the bootstrap spec back only while the
//     annotation says "true" (or, without a parseable annotation, while the
//     object is still at generation 1, i.e. no one has changed it); the
//     annotation is then set to what was decided, so a user who edited the
//     spec keeps the edit;
//   - an object that is no longer part of the bootstrap set is deleted if its
//     annotation says "true".
package ensurer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	flowcontrolclient "k8s.io/client-go/kubernetes/typed/flowcontrol/v1"
	"k8s.io/klog/v2"
)

// FieldManager is the manager the ensurer's writes are recorded under, as
// upstream's.
const FieldManager = "api-priority-and-fairness-config-producer-v1"

// Run ensures the bootstrap configuration, retrying every second until it
// succeeds (or ctx ends, or five minutes pass), then keeps ensuring it every
// minute in the background until ctx ends. It is meant for a post-start hook
// with the loopback client.
func Run(ctx context.Context, client flowcontrolclient.FlowcontrolV1Interface) error {
	first, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(first, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := Ensure(ctx, client); err != nil {
			klog.ErrorS(err, "Ensuring the API Priority and Fairness bootstrap configuration failed, will retry")
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("ensure API Priority and Fairness bootstrap configuration: %w", err)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := Ensure(ctx, client); err != nil {
			klog.ErrorS(err, "Ensuring the API Priority and Fairness bootstrap configuration failed, will retry")
		}
	}, time.Minute)
	return nil
}

// Ensure brings the cluster's configuration in line with the bootstrap set
// once: suggested objects first, then mandatory ones, then removal of
// auto-updated objects that left the set.
func Ensure(ctx context.Context, client flowcontrolclient.FlowcontrolV1Interface) error {
	levels := priorityLevelOps(client.PriorityLevelConfigurations())
	schemas := flowSchemaOps(client.FlowSchemas())

	if err := ensureAll(ctx, levels, bootstrap.SuggestedPriorityLevelConfigurations, false); err != nil {
		return fmt.Errorf("suggested priority levels: %w", err)
	}
	if err := ensureAll(ctx, schemas, bootstrap.SuggestedFlowSchemas, false); err != nil {
		return fmt.Errorf("suggested flow schemas: %w", err)
	}
	if err := ensureAll(ctx, levels, bootstrap.MandatoryPriorityLevelConfigurations, true); err != nil {
		return fmt.Errorf("mandatory priority levels: %w", err)
	}
	if err := ensureAll(ctx, schemas, bootstrap.MandatoryFlowSchemas, true); err != nil {
		return fmt.Errorf("mandatory flow schemas: %w", err)
	}
	if err := removeDangling(ctx, schemas, append(bootstrap.MandatoryFlowSchemas, bootstrap.SuggestedFlowSchemas...)); err != nil {
		return fmt.Errorf("remove unwanted flow schemas: %w", err)
	}
	if err := removeDangling(ctx, levels, append(bootstrap.MandatoryPriorityLevelConfigurations, bootstrap.SuggestedPriorityLevelConfigurations...)); err != nil {
		return fmt.Errorf("remove unwanted priority levels: %w", err)
	}
	return nil
}

// object is a FlowSchema or a PriorityLevelConfiguration.
type object interface {
	*flowcontrolv1.FlowSchema | *flowcontrolv1.PriorityLevelConfiguration
	metav1.Object
}

// kindOps is what the ensurer needs to do to one kind.
type kindOps[T object] struct {
	kind   string
	get    func(ctx context.Context, name string) (T, error)
	list   func(ctx context.Context) ([]T, error)
	create func(ctx context.Context, obj T) error
	update func(ctx context.Context, obj T) error
	delete func(ctx context.Context, name string) error
	// specMatches reports whether current's spec is bootstrap's (after
	// defaulting); withSpec returns a copy of current with bootstrap's spec.
	specMatches func(bootstrap, current T) bool
	withSpec    func(current, bootstrap T) T
	deepCopy    func(T) T
}

func ensureAll[T object](ctx context.Context, ops kindOps[T], boots []T, mandatory bool) error {
	for _, b := range boots {
		if err := ensureOne(ctx, ops, b, mandatory); err != nil {
			return err
		}
	}
	return nil
}

func ensureOne[T object](ctx context.Context, ops kindOps[T], boot T, mandatory bool) error {
	name := boot.GetName()
	var current T
	for {
		var err error
		current, err = ops.get(ctx, name)
		if err == nil {
			break
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get %s %s: %w", ops.kind, name, err)
		}
		err = ops.create(ctx, ops.deepCopy(boot))
		if err == nil {
			klog.V(2).InfoS("Created bootstrap API Priority and Fairness object", "kind", ops.kind, "name", name, "mandatory", mandatory)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s: %w", ops.kind, name, err)
		}
		// Someone created it meanwhile: read it and check it.
	}
	revised, ok := revise(ops, current, boot, mandatory)
	if !ok {
		return nil
	}
	err := ops.update(ctx, revised)
	switch {
	case err == nil:
		klog.V(2).InfoS("Updated bootstrap API Priority and Fairness object", "kind", ops.kind, "name", name, "mandatory", mandatory)
		return nil
	case apierrors.IsConflict(err):
		// Someone updated it meanwhile: check it on the next round.
		return nil
	default:
		return fmt.Errorf("update %s %s: %w", ops.kind, name, err)
	}
}

// revise returns the object to write over current, and whether a write is
// needed at all.
func revise[T object](ops kindOps[T], current, boot T, mandatory bool) (T, bool) {
	autoUpdate := mandatory || wantsAutoUpdate(current)
	fixAnnotation := !annotationSays(current, autoUpdate)
	fixSpec := autoUpdate && !ops.specMatches(boot, current)
	if !fixAnnotation && !fixSpec {
		var zero T
		return zero, false
	}
	var revised T
	if fixSpec {
		revised = ops.withSpec(current, boot)
	} else {
		revised = ops.deepCopy(current)
	}
	if fixAnnotation {
		annotations := revised.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[flowcontrolv1.AutoUpdateAnnotationKey] = strconv.FormatBool(autoUpdate)
		revised.SetAnnotations(annotations)
	}
	return revised, true
}

// wantsAutoUpdate reads the annotation; without a parseable one, an object
// no one has changed since it was created (generation 1) is kept up to date.
func wantsAutoUpdate(obj metav1.Object) bool {
	if v, err := strconv.ParseBool(obj.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]); err == nil {
		return v
	}
	return obj.GetGeneration() == 1
}

// annotationSays reports whether the annotation is present and parses to want.
func annotationSays(obj metav1.Object, want bool) bool {
	v, ok := obj.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]
	if !ok {
		return false
	}
	got, err := strconv.ParseBool(v)
	return err == nil && got == want
}

// removeDangling deletes objects outside the bootstrap set that the ensurer
// itself keeps (annotation "true"); anything else belongs to users.
func removeDangling[T object](ctx context.Context, ops kindOps[T], boots []T) error {
	wanted := sets.New[string]()
	for _, b := range boots {
		wanted.Insert(b.GetName())
	}
	current, err := ops.list(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", ops.kind, err)
	}
	var errs []error
	for _, obj := range current {
		name := obj.GetName()
		if wanted.Has(name) {
			continue
		}
		v, ok := obj.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]
		if !ok {
			continue
		}
		if auto, err := strconv.ParseBool(v); err != nil || !auto {
			continue
		}
		if err := ops.delete(ctx, name); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", ops.kind, name, err))
			continue
		}
		klog.V(2).InfoS("Deleted API Priority and Fairness object no longer in the bootstrap set", "kind", ops.kind, "name", name)
	}
	return errors.Join(errs...)
}
