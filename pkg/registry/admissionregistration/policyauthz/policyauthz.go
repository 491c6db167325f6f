// Package policyauthz holds the permission checks that admission policies
// and their bindings share: whoever writes a policy with a paramKind, or a
// binding with a paramRef, must be able to read the parameter objects, since
// the policy will read them on the writer's behalf.
package policyauthz

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/discovery"

	"github.com/skiff-project/skiff/pkg/registry/rbac"
)

// ResourceResolver finds the resource that serves a kind.
type ResourceResolver interface {
	Resolve(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error)
}

// ResourceResolverFunc adapts a function to a ResourceResolver.
type ResourceResolverFunc func(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error)

// Resolve calls f.
func (f ResourceResolverFunc) Resolve(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	return f(gvk)
}

// discoveryResolver resolves kinds through the API server's discovery, so
// that custom resources are found too.
type discoveryResolver struct {
	client discovery.DiscoveryInterface
}

// NewDiscoveryResolver returns a resolver that asks discovery each time (the
// check runs only on writes of policies that use parameters).
func NewDiscoveryResolver(client discovery.DiscoveryInterface) ResourceResolver {
	return discoveryResolver{client: client}
}

func (d discoveryResolver) Resolve(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	gv := gvk.GroupVersion()
	list, err := d.client.ServerResourcesForGroupVersion(gv.String())
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	for _, r := range list.APIResources {
		if r.Kind != gvk.Kind || strings.Contains(r.Name, "/") {
			continue
		}
		if (r.Group != "" && r.Group != gvk.Group) || (r.Version != "" && r.Version != gvk.Version) {
			continue
		}
		return gv.WithResource(r.Name), nil
	}
	return schema.GroupVersionResource{}, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
}

// Requester returns the user the check is for, and whether the check can be
// skipped: system:masters may do anything.
func Requester(ctx context.Context) (u user.Info, skip bool, ok bool) {
	if rbac.EscalationAllowed(ctx) {
		return nil, true, true
	}
	u, ok = genericapirequest.UserFrom(ctx)
	return u, false, ok
}

// ParamTarget is the group, version and resource the parameters live in,
// "*" for what could not be determined, and why it could not.
type ParamTarget struct {
	APIGroup, APIVersion, Resource string
	// ParseErr is set when paramKind.apiVersion does not parse,
	// ResolveErr when no resource serves the kind.
	ParseErr, ResolveErr error
}

// ResolveParamKind finds where the parameters of paramKind live. It never
// fails: what cannot be resolved stays "*", which asks for more permission.
func ResolveParamKind(resolver ResourceResolver, paramKind *admissionregistrationv1.ParamKind) ParamTarget {
	t := ParamTarget{APIGroup: "*", APIVersion: "*", Resource: "*"}
	if paramKind == nil {
		return t
	}
	gv, err := schema.ParseGroupVersion(paramKind.APIVersion)
	if err != nil {
		t.ParseErr = err
		return t
	}
	t.APIGroup, t.APIVersion = gv.Group, gv.Version
	gvr, err := resolver.Resolve(gv.WithKind(paramKind.Kind))
	if err != nil {
		t.ResolveErr = err
		return t
	}
	t.Resource = gvr.Resource
	return t
}

// AuthorizeParamKind checks that the writer of a policy may get every object
// of its paramKind. It returns the reason to refuse, or nil.
func AuthorizeParamKind(ctx context.Context, authz authorizer.UnconditionalAuthorizer, resolver ResourceResolver, paramKind *admissionregistrationv1.ParamKind) error {
	if authz == nil || paramKind == nil {
		return nil
	}
	u, skip, ok := Requester(ctx)
	if skip {
		return nil
	}
	if !ok {
		return fmt.Errorf("cannot identify user to authorize read access to paramKind resources")
	}
	t := ResolveParamKind(resolver, paramKind)
	decision, _, err := authz.Authorize(ctx, authorizer.AttributesRecord{
		User:            u,
		Verb:            "get",
		ResourceRequest: true,
		Name:            "*",
		Namespace:       "*",
		APIGroup:        t.APIGroup,
		APIVersion:      t.APIVersion,
		Resource:        t.Resource,
	})
	if err != nil {
		return err
	}
	if decision != authorizer.DecisionAllow {
		return fmt.Errorf(`user %v must have "get" permission on all objects of the referenced paramKind (kind=%s, apiVersion=%s)`, u, paramKind.Kind, paramKind.APIVersion)
	}
	return nil
}

// ParamRefAttributes are the attributes a binding's writer must be allowed:
// get the referenced object, or list them when the reference names none.
func ParamRefAttributes(u user.Info, t ParamTarget, ref *admissionregistrationv1.ParamRef) authorizer.AttributesRecord {
	verb := "get"
	if ref.Name == "" {
		verb = "list"
	}
	return authorizer.AttributesRecord{
		User:            u,
		Verb:            verb,
		ResourceRequest: true,
		Name:            ref.Name,
		// Without a namespace the check covers every namespace.
		Namespace:  ref.Namespace,
		APIGroup:   t.APIGroup,
		APIVersion: t.APIVersion,
		Resource:   t.Resource,
	}
}
