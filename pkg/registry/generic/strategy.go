package generic

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

// Strategy is embedded by resource strategies. It provides the scheme as
// ObjectTyper, generateName support, upstream's declarative validation and
// the defaults most resources share: no create on update, unconditional
// updates allowed, no canonicalization and no warnings. Resource strategies
// override what differs.
type Strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	rest.DeclarativeValidation
	// Namespaced is whether the resource lives in a namespace.
	Namespaced bool
}

// NewStrategy returns the shared strategy for a namespaced or cluster-scoped
// resource.
func NewStrategy(namespaced bool) Strategy {
	return Strategy{
		ObjectTyper:           scheme.Scheme,
		NameGenerator:         names.SimpleNameGenerator,
		DeclarativeValidation: rest.DeclarativeValidation{Scheme: scheme.Scheme},
		Namespaced:            namespaced,
	}
}

// NamespaceScoped reports whether the resource is namespaced.
func (s Strategy) NamespaceScoped() bool { return s.Namespaced }

// PrepareForCreate does nothing; resources with status or generation
// override it.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// PrepareForUpdate does nothing; resources with status or generation
// override it.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// WarningsOnCreate returns no warnings.
func (Strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string { return nil }

// WarningsOnUpdate returns no warnings.
func (Strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string { return nil }

// Canonicalize does nothing.
func (Strategy) Canonicalize(obj runtime.Object) {}

// AllowCreateOnUpdate is false: PUT of a missing object is NotFound.
func (Strategy) AllowCreateOnUpdate(ctx context.Context) bool { return false }

// AllowUnconditionalUpdate is true: an update without resourceVersion wins.
func (Strategy) AllowUnconditionalUpdate(ctx context.Context) bool { return true }

// GetResetFields resets nothing.
func (Strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set { return nil }
