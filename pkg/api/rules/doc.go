// Package rules is skiff's bridge to upstream's API rules: the defaulting,
// validation and printing code of k8s.io/kubernetes/pkg/apis, pkg/api and
// pkg/printers, which work on upstream's internal types.
//
// skiff keeps k8s.io/api structs in memory; before calling one of upstream's
// rules it converts the object (a deep copy) into upstream's internal type
// with upstream's generated conversions, and converts results back.
package rules
