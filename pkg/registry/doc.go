// Package registry holds the storage of every built-in resource skiff
// serves, one package per resource, in upstream's shape:
//
//	pkg/registry/<group>/<resource>/strategy.go   create/update/delete rules
//	pkg/registry/<group>/<resource>/storage.go    genericregistry.Store + subresources
//	pkg/registry/<group>/rest/storage_<group>.go  the group's version -> path -> storage map
//
// Conventions every resource follows:
//
//   - Objects are the k8s.io/api structs (see pkg/api/scheme); strategies
//     embed generic.Strategy (scheme as ObjectTyper, generateName, upstream's
//     declarative validation) and override what the resource needs.
//   - Behaviour is upstream's: read k8s.io/kubernetes/pkg/registry/<group>/<resource>
//     (v1.37.2, in the Go module cache) for what PrepareForCreate/Update,
//     status resets, generation bumps, warnings, field selectors and
//     subresources do, then write skiff's own code for k8s.io/api types.
//   - Validation, defaults and table columns are upstream's own code, called
//     through pkg/api/rules: generic.Validate / generic.ValidateUpdate run a
//     k8s.io/kubernetes/pkg/apis/<group>/validation function on the internal
//     form of the object; printers.NewTableConvertor gives upstream's columns.
//     Defaults are applied by the codec (upstream's defaulters are in the
//     scheme).
//   - Status subresources use generic.NewStatusREST with a status strategy
//     that keeps the spec; the main strategy keeps the status. Reset fields
//     (server-side apply) match upstream's per resource.
//   - Short names, categories and singular names match upstream's
//     `kubectl api-resources` (rest.ShortNamesProvider, rest.CategoriesProvider).
package registry
