// Package rest builds the storage of the authentication.k8s.io API group.
package rest

import (
	"github.com/skiff-project/skiff/pkg/registry/authentication/selfsubjectreview"
	"github.com/skiff-project/skiff/pkg/registry/authentication/tokenreview"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "authentication.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path. Both resources are create-only and stored nowhere.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	return generic.GroupStorage{"v1": generic.VersionStorage{
		"tokenreviews":       tokenreview.NewREST(c.Authenticator, c.APIAudiences),
		"selfsubjectreviews": selfsubjectreview.NewREST(),
	}}, nil
}
