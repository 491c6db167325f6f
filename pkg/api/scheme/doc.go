// Package scheme holds the runtime.Scheme that skiff's API server serves.
//
// Built-in kinds are the k8s.io/api versioned structs. Each served group is
// registered twice: under its versions, and under runtime.APIVersionInternal
// with the same Go types, so that genericregistry.Store can serve them with no
// hand-written internal types (conversion between a version and "internal" is
// a copy). The only exceptions are kinds that upstream stores in another shape:
// autoscaling's HorizontalPodAutoscaler (internal is the v2 struct) and
// events.k8s.io's Event (internal is the core/v1 struct, as upstream stores both
// event APIs in one place). Their conversions go through upstream's own
// conversion functions (see package rules).
//
// Upstream's defaulting functions and field-label conversions are registered
// by k8s.io/kubernetes/pkg/apis/<group>/<version>.AddToScheme, which extends
// the k8s.io/api scheme builders.
package scheme
