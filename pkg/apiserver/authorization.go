package apiserver

import (
	"fmt"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/authorization/union"

	nodeauthorizer "github.com/skiff-project/skiff/pkg/auth/authorizer/node"
	rbacauthorizer "github.com/skiff-project/skiff/pkg/auth/authorizer/rbac"
	"github.com/skiff-project/skiff/pkg/auth/bootstrappolicy"
)

// applyAuthorization builds upstream's authorizer chain: system:masters may
// do anything, then the configured modes in order (Node, RBAC by default).
// The RBAC rule resolver also answers SelfSubjectRulesReview and checks
// RBAC writes for escalation.
func (c *Config) applyAuthorization() error {
	authorizers := []union.NamedAuthorizer{{
		AuthorizerName: "kubernetes.io/system-privileged-group",
		Authorizer:     authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup),
	}}
	var resolvers []authorizer.RuleResolver
	for _, mode := range c.Options.AuthorizationModes {
		switch mode {
		case "Node":
			graph := nodeauthorizer.NewGraph()
			core := c.Informers.Core().V1()
			graph.AddEventHandlers(nodeauthorizer.Informers{
				Pods:                   core.Pods().Informer(),
				PersistentVolumes:      core.PersistentVolumes().Informer(),
				VolumeAttachments:      c.Informers.Storage().V1().VolumeAttachments().Informer(),
				ResourceSlices:         c.Informers.Resource().V1().ResourceSlices().Informer(),
				PodCertificateRequests: c.Informers.Certificates().V1().PodCertificateRequests().Informer(),
			})
			a := nodeauthorizer.New(graph, bootstrappolicy.NodeRules())
			authorizers = append(authorizers, union.NamedAuthorizer{AuthorizerName: "node", Authorizer: a})
			resolvers = append(resolvers, a)
		case "RBAC":
			rbac := c.Informers.Rbac().V1()
			resolver := rbacauthorizer.NewRuleResolver(rbac.Roles().Lister(), rbac.RoleBindings().Lister(), rbac.ClusterRoles().Lister(), rbac.ClusterRoleBindings().Lister())
			a := rbacauthorizer.New(resolver)
			authorizers = append(authorizers, union.NamedAuthorizer{AuthorizerName: "rbac", Authorizer: a})
			resolvers = append(resolvers, a)
			c.rbacResolver = resolver
		case "AlwaysAllow":
			a := authorizerfactory.NewAlwaysAllowAuthorizer()
			authorizers = append(authorizers, union.NamedAuthorizer{AuthorizerName: "always-allow", Authorizer: a})
			resolvers = append(resolvers, a)
		case "AlwaysDeny":
			a := authorizerfactory.NewAlwaysDenyAuthorizer()
			authorizers = append(authorizers, union.NamedAuthorizer{AuthorizerName: "always-deny", Authorizer: a})
			resolvers = append(resolvers, a)
		default:
			return fmt.Errorf("unknown authorization mode %q", mode)
		}
	}
	a, err := union.New(authorizers...)
	if err != nil {
		return err
	}
	c.Generic.Authorization.Authorizer = a
	c.ruleResolver = union.NewRuleResolvers(resolvers...)
	return nil
}
