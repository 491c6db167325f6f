// Package generic holds what every skiff resource strategy shares: the
// scheme, name generation, upstream's declarative validation, and adapters
// that run upstream's handwritten validation on k8s.io/api structs.
//
// Each resource keeps its own strategy in pkg/registry/<group>/<resource>;
// this package only removes the boilerplate that would otherwise be repeated
// in all of them.
package generic
