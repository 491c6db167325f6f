// Package rest builds the storage of the authorization.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/authorization/localsubjectaccessreview"
	"github.com/skiff-project/skiff/pkg/registry/authorization/selfsubjectaccessreview"
	"github.com/skiff-project/skiff/pkg/registry/authorization/selfsubjectrulesreview"
	"github.com/skiff-project/skiff/pkg/registry/authorization/subjectaccessreview"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "authorization.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path. All of them are create-only and stored nowhere.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	if c.Authorizer == nil {
		return nil, fmt.Errorf("%s needs an authorizer", GroupName)
	}
	return generic.GroupStorage{"v1": generic.VersionStorage{
		"subjectaccessreviews":      subjectaccessreview.NewREST(c.Authorizer),
		"selfsubjectaccessreviews":  selfsubjectaccessreview.NewREST(c.Authorizer),
		"localsubjectaccessreviews": localsubjectaccessreview.NewREST(c.Authorizer),
		"selfsubjectrulesreviews":   selfsubjectrulesreview.NewREST(c.RuleResolver),
	}}, nil
}
