package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-project/skiff/pkg/auth/bootstrappolicy"
)

// newResolver serves objs (Roles, RoleBindings, ClusterRoles,
// ClusterRoleBindings) from indexers, as the informers would.
func newResolver(t *testing.T, objs ...any) *RuleResolver {
	t.Helper()
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	roles, bindings, clusterRoles, clusterBindings := idx(), idx(), idx(), idx()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *rbacv1.Role:
			err = roles.Add(o)
		case *rbacv1.RoleBinding:
			err = bindings.Add(o)
		case *rbacv1.ClusterRole:
			err = clusterRoles.Add(o)
		case *rbacv1.ClusterRoleBinding:
			err = clusterBindings.Add(o)
		default:
			t.Fatalf("unexpected object %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return NewRuleResolver(rbaclisters.NewRoleLister(roles), rbaclisters.NewRoleBindingLister(bindings),
		rbaclisters.NewClusterRoleLister(clusterRoles), rbaclisters.NewClusterRoleBindingLister(clusterBindings))
}

// bootstrapObjects are the default cluster roles and bindings, with the
// aggregated admin/edit/view filled in as the aggregation controller does.
func bootstrapObjects() []any {
	var objs []any
	roles := bootstrappolicy.ClusterRoles()
	byName := map[string]*rbacv1.ClusterRole{}
	for i := range roles {
		byName[roles[i].Name] = &roles[i]
	}
	aggregate := func(name string, from ...string) {
		for _, f := range from {
			byName[name].Rules = append(byName[name].Rules, byName[f].Rules...)
		}
	}
	aggregate("view", "system:aggregate-to-view")
	aggregate("edit", "system:aggregate-to-edit", "system:aggregate-to-view")
	aggregate("admin", "system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view")
	for _, r := range byName {
		objs = append(objs, r)
	}
	for _, b := range bootstrappolicy.ClusterRoleBindings() {
		objs = append(objs, &b)
	}
	return objs
}

func roleBinding(ns, name, roleKind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: role},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func resourceAttrs(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub,
		Namespace: ns, Name: name, ResourceRequest: true}
}

func TestAuthorizeWithBootstrapPolicy(t *testing.T) {
	objs := append(bootstrapObjects(),
		roleBinding("team", "viewers", "ClusterRole", "view", userSubject("viewer")),
		roleBinding("team", "editors", "ClusterRole", "edit", userSubject("editor"), rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"}),
		roleBinding("team", "admins", "ClusterRole", "admin", userSubject("nsadmin")),
		roleBinding("team", "sa-view", "ClusterRole", "view", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "robot"}),
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "cm-reader"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"settings"}}}},
		roleBinding("team", "cm", "Role", "cm-reader", userSubject("narrow")),
	)
	a := New(newResolver(t, objs...))
	authn := func(name string, groups ...string) user.Info {
		return &user.DefaultInfo{Name: name, Groups: append(groups, user.AllAuthenticated)}
	}
	viewer, editor, dev, nsadmin, narrow := authn("viewer"), authn("editor"), authn("someone", "devs"), authn("nsadmin"), authn("narrow")
	robot := serviceaccount.UserInfo("team", "robot", "uid")
	otherRobot := serviceaccount.UserInfo("other", "robot", "uid")
	anonymous := &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	controllerManager := authn(user.KubeControllerManager)
	scheduler := authn(user.KubeScheduler)
	proxy := authn(user.KubeProxy)
	aggregationSA := serviceaccount.UserInfo("kube-system", "clusterrole-aggregation-controller", "uid")

	tests := []struct {
		name  string
		attrs authorizer.AttributesRecord
		allow bool
	}{
		{"view can get pods", resourceAttrs(viewer, "get", "", "pods", "", "team", "p"), true},
		{"view can list deployments", resourceAttrs(viewer, "list", "apps", "deployments", "", "team", ""), true},
		{"view cannot create pods", resourceAttrs(viewer, "create", "", "pods", "", "team", ""), false},
		{"view cannot read secrets", resourceAttrs(viewer, "get", "", "secrets", "", "team", "s"), false},
		{"view can read pod logs", resourceAttrs(viewer, "get", "", "pods", "log", "team", "p"), true},
		{"view cannot exec", resourceAttrs(viewer, "create", "", "pods", "exec", "team", "p"), false},
		{"view only in its namespace", resourceAttrs(viewer, "get", "", "pods", "", "other", "p"), false},
		{"view is not cluster-wide", resourceAttrs(viewer, "list", "", "pods", "", "", ""), false},
		{"edit can create deployments", resourceAttrs(editor, "create", "apps", "deployments", "", "team", ""), true},
		{"edit can read secrets", resourceAttrs(editor, "get", "", "secrets", "", "team", "s"), true},
		{"edit cannot read roles", resourceAttrs(editor, "list", "rbac.authorization.k8s.io", "roles", "", "team", ""), false},
		{"edit cannot write resource quotas", resourceAttrs(editor, "create", "", "resourcequotas", "", "team", ""), false},
		{"edit through group", resourceAttrs(dev, "delete", "", "configmaps", "", "team", "c"), true},
		{"edit can create tokens", resourceAttrs(editor, "create", "", "serviceaccounts", "token", "team", "default"), true},
		{"admin can create rolebindings", resourceAttrs(nsadmin, "create", "rbac.authorization.k8s.io", "rolebindings", "", "team", ""), true},
		{"admin cannot touch namespaces", resourceAttrs(nsadmin, "delete", "", "namespaces", "", "", "team"), false},
		{"resource name match", resourceAttrs(narrow, "get", "", "configmaps", "", "team", "settings"), true},
		{"resource name mismatch", resourceAttrs(narrow, "get", "", "configmaps", "", "team", "other"), false},
		{"resource names do not allow list", resourceAttrs(narrow, "list", "", "configmaps", "", "team", ""), false},
		{"service account subject in binding namespace", resourceAttrs(robot, "get", "", "pods", "", "team", "p"), true},
		{"same service account name, other namespace", resourceAttrs(otherRobot, "get", "", "pods", "", "team", "p"), false},
		{"basic user self access review", resourceAttrs(viewer, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"basic user cannot subject access review", resourceAttrs(viewer, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""), false},
		{"discovery for authenticated", authorizer.AttributesRecord{User: viewer, Verb: "get", Path: "/apis/apps"}, true},
		{"anonymous can get healthz", authorizer.AttributesRecord{User: anonymous, Verb: "get", Path: "/healthz"}, true},
		{"anonymous can get version", authorizer.AttributesRecord{User: anonymous, Verb: "get", Path: "/version"}, true},
		{"anonymous cannot discover", authorizer.AttributesRecord{User: anonymous, Verb: "get", Path: "/api"}, false},
		{"anonymous cannot list pods", resourceAttrs(anonymous, "list", "", "pods", "", "team", ""), false},
		{"controller-manager lists everything", resourceAttrs(controllerManager, "list", "apps", "deployments", "", "", ""), true},
		{"controller-manager cannot delete pods", resourceAttrs(controllerManager, "delete", "", "pods", "", "team", "p"), false},
		{"controller-manager creates tokens", resourceAttrs(controllerManager, "create", "", "serviceaccounts", "token", "kube-system", "x"), true},
		{"scheduler binds pods", resourceAttrs(scheduler, "create", "", "pods", "binding", "team", "p"), true},
		{"scheduler cannot create pods", resourceAttrs(scheduler, "create", "", "pods", "", "team", ""), false},
		{"kube-proxy watches endpointslices", resourceAttrs(proxy, "watch", "discovery.k8s.io", "endpointslices", "", "", ""), true},
		{"kube-proxy cannot read secrets", resourceAttrs(proxy, "get", "", "secrets", "", "team", "s"), false},
		{"aggregation controller escalates clusterroles", resourceAttrs(aggregationSA, "escalate", "rbac.authorization.k8s.io", "clusterroles", "", "", "admin"), true},
		{"issuer discovery for service accounts", authorizer.AttributesRecord{User: robot, Verb: "get", Path: "/openid/v1/jwks"}, true},
		{"issuer discovery not for users", authorizer.AttributesRecord{User: viewer, Verb: "get", Path: "/openid/v1/jwks"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got := d == authorizer.DecisionAllow; got != tc.allow {
				t.Errorf("allowed = %v (%q), want %v", got, reason, tc.allow)
			}
			if d == authorizer.DecisionDeny {
				t.Errorf("RBAC must never deny, only have no opinion")
			}
		})
	}
}

func TestAllowReasonNamesTheBinding(t *testing.T) {
	a := New(newResolver(t, roleBinding("team", "viewers", "ClusterRole", "view", userSubject("viewer")),
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}))
	_, reason, _ := a.Authorize(context.Background(), resourceAttrs(&user.DefaultInfo{Name: "viewer"}, "get", "", "pods", "", "team", "p"))
	want := `RBAC: allowed by RoleBinding "viewers/team" of ClusterRole "view" to User "viewer"`
	if reason != want {
		t.Errorf("reason = %q, want %q", reason, want)
	}
}

func TestMissingRoleIsReportedNotFatal(t *testing.T) {
	a := New(newResolver(t, roleBinding("team", "dangling", "Role", "nope", userSubject("u"))))
	d, reason, err := a.Authorize(context.Background(), resourceAttrs(&user.DefaultInfo{Name: "u"}, "get", "", "pods", "", "team", "p"))
	if err != nil || d != authorizer.DecisionNoOpinion {
		t.Fatalf("decision %v err %v, want no opinion", d, err)
	}
	if !strings.Contains(reason, `"nope" not found`) {
		t.Errorf("reason %q does not mention the missing role", reason)
	}
}

func TestRulesForSplitsResourceAndNonResourceRules(t *testing.T) {
	a := New(newResolver(t, bootstrapObjects()...))
	u := &user.DefaultInfo{Name: "someone", Groups: []string{user.AllAuthenticated}}
	resourceRules, nonResourceRules, incomplete, err := a.RulesFor(context.Background(), u, "default")
	if err != nil || incomplete {
		t.Fatalf("RulesFor: incomplete=%v err=%v", incomplete, err)
	}
	if len(resourceRules) != 2 { // system:basic-user's two rules
		t.Errorf("got %d resource rules, want 2: %v", len(resourceRules), resourceRules)
	}
	found := false
	for _, r := range nonResourceRules {
		for _, url := range r.GetNonResourceURLs() {
			if url == "/apis/*" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("system:discovery's /apis/* missing from %v", nonResourceRules)
	}
}

func TestConfirmNoEscalation(t *testing.T) {
	r := newResolver(t, append(bootstrapObjects(), roleBinding("team", "admins", "ClusterRole", "admin", userSubject("nsadmin")))...)
	ctx := genericapirequest.WithNamespace(genericapirequest.WithUser(context.Background(),
		&user.DefaultInfo{Name: "nsadmin", Groups: []string{user.AllAuthenticated}}), "team")
	held := []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	if err := r.ConfirmNoEscalation(ctx, held); err != nil {
		t.Errorf("granting held rules: %v", err)
	}
	notHeld := []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"*"}}}
	err := r.ConfirmNoEscalation(ctx, notHeld)
	if err == nil {
		t.Fatal("granting every core permission was allowed")
	}
	want := "user \"nsadmin\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"*\"], Verbs:[\"*\"]}"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	// Outside the namespace of the binding the same rules are not held.
	other := genericapirequest.WithNamespace(ctx, "other")
	if err := r.ConfirmNoEscalation(other, held); err == nil {
		t.Error("rules held only in team were considered held in other")
	}
}

func TestCompactRulesMergesVerbs(t *testing.T) {
	in := []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}},
	}
	out := compactRules(in)
	if len(out) != 2 {
		t.Fatalf("compactRules = %v, want 2 rules", out)
	}
	if got := out[1].Verbs; len(got) != 2 || got[0] != "get" || got[1] != "list" {
		t.Errorf("merged verbs = %v, want [get list]", got)
	}
}
