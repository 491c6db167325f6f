//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

const rbacFixtures = `apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: viewer, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: User, name: editor, apiGroup: rbac.authorization.k8s.io}
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: admins, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: User, name: nsadmin, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: settings-reader, namespace: team}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [settings], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: robot, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: settings-reader}
subjects: [{kind: ServiceAccount, name: robot}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-reader}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-node-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-reader}
subjects: [{kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}]
`

// TestAuthRBAC checks that kubectl auth can-i and SubjectAccessReview give
// upstream's answers for the bootstrap roles and user bindings, and the
// messages upstream gives when access is refused.
func TestAuthRBAC(t *testing.T) {
	s := framework.StartServer(t)
	ctx := context.Background()
	kubectlMust(t, s, rbacFixtures, "apply", "-f", "-")
	c := s.Client()
	// edit and view are filled in by the clusterrole-aggregation controller.
	eventually(t, 30*time.Second, "aggregated view role", func() (bool, error) {
		r, err := c.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		return err == nil && len(r.Rules) > 0, err
	})

	type check struct {
		user   string
		groups []string
		verb   string
		res    string // resource[/subresource] or a non-resource URL
		group  string
		ns     string
		name   string
		want   bool
	}
	sa := "system:serviceaccount:team:robot"
	checks := []check{
		{"viewer", nil, "get", "pods", "", "team", "", true},
		{"viewer", nil, "list", "deployments", "apps", "team", "", true},
		{"viewer", nil, "create", "pods", "", "team", "", false},
		{"viewer", nil, "get", "secrets", "", "team", "", false},
		{"viewer", nil, "get", "pods/log", "", "team", "", true},
		{"viewer", nil, "create", "pods/exec", "", "team", "", false},
		{"viewer", nil, "get", "pods", "", "other", "", false},
		{"viewer", nil, "list", "pods", "", "", "", false},
		{"editor", nil, "create", "deployments", "apps", "team", "", true},
		{"editor", nil, "get", "secrets", "", "team", "", true},
		{"editor", nil, "list", "roles", "rbac.authorization.k8s.io", "team", "", false},
		{"editor", nil, "create", "resourcequotas", "", "team", "", false},
		{"editor", nil, "create", "serviceaccounts/token", "", "team", "", true},
		{"someone", []string{"devs"}, "delete", "configmaps", "", "team", "", true},
		{"someone", []string{"devs"}, "delete", "configmaps", "", "other", "", false},
		{"nsadmin", nil, "create", "rolebindings", "rbac.authorization.k8s.io", "team", "", true},
		{"nsadmin", nil, "delete", "namespaces", "", "", "team", false},
		{sa, []string{"system:serviceaccounts", "system:serviceaccounts:team"}, "get", "configmaps", "", "team", "settings", true},
		{sa, []string{"system:serviceaccounts", "system:serviceaccounts:team"}, "get", "configmaps", "", "team", "other", false},
		{sa, []string{"system:serviceaccounts", "system:serviceaccounts:team"}, "list", "configmaps", "", "team", "", false},
		{"system:serviceaccount:other:robot", []string{"system:serviceaccounts"}, "get", "configmaps", "", "team", "settings", false},
		{"ops-person", []string{"ops"}, "list", "nodes", "", "", "", true},
		{"ops-person", []string{"ops"}, "delete", "nodes", "", "", "", false},
		{"anyone", nil, "create", "selfsubjectaccessreviews", "authorization.k8s.io", "", "", true},
		{"anyone", nil, "get", "/apis", "", "", "", true},
		{"anyone", nil, "get", "/metrics", "", "", "", false},
		{"system:kube-scheduler", nil, "create", "pods/binding", "", "team", "", true},
		{"system:kube-scheduler", nil, "create", "pods", "", "team", "", false},
		{"system:kube-controller-manager", nil, "watch", "deployments", "apps", "", "", true},
		{"system:kube-proxy", nil, "list", "endpointslices", "discovery.k8s.io", "", "", true},
		{"system:kube-proxy", nil, "get", "secrets", "", "team", "", false},
		{"system:node:n1", []string{"system:nodes"}, "list", "nodes", "", "", "", false},
		{"system:node:n1", []string{"system:nodes"}, "get", "nodes", "", "", "n1", true},
	}
	for _, ck := range checks {
		name := fmt.Sprintf("%s %s %s %s/%s", ck.user, ck.verb, ck.res, ck.ns, ck.name)
		t.Run(name, func(t *testing.T) {
			// kubectl auth can-i
			args := []string{"auth", "can-i", ck.verb}
			target := ck.res
			if !strings.HasPrefix(ck.res, "/") {
				if ck.group != "" {
					resource, sub, _ := strings.Cut(ck.res, "/")
					target = resource + "." + ck.group
					if sub != "" {
						args = append(args, "--subresource="+sub)
					}
				} else if resource, sub, found := strings.Cut(ck.res, "/"); found {
					target = resource
					args = append(args, "--subresource="+sub)
				}
				if ck.name != "" {
					target += "/" + ck.name
				}
			}
			args = append(args, target, "--as="+ck.user)
			for _, g := range ck.groups {
				args = append(args, "--as-group="+g)
			}
			if ck.ns != "" {
				args = append(args, "-n", ck.ns)
			} else if !strings.HasPrefix(ck.res, "/") {
				args = append(args, "--all-namespaces")
			}
			out, _ := s.Kubectl(ctx, "", args...) // exit 1 means "no"
			got := strings.TrimSpace(out) == "yes"
			if got != ck.want {
				t.Errorf("kubectl %s: %q, want %v", strings.Join(args, " "), strings.TrimSpace(out), ck.want)
			}

			// SubjectAccessReview
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: ck.user, Groups: append(ck.groups, "system:authenticated")}}
			if strings.HasPrefix(ck.res, "/") {
				sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Verb: ck.verb, Path: ck.res}
			} else {
				resource, sub, _ := strings.Cut(ck.res, "/")
				sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Verb: ck.verb, Group: ck.group, Resource: resource, Subresource: sub, Namespace: ck.ns, Name: ck.name}
			}
			resp, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status.Allowed != ck.want || resp.Status.Denied {
				t.Errorf("SubjectAccessReview: allowed=%v denied=%v reason=%q, want allowed=%v", resp.Status.Allowed, resp.Status.Denied, resp.Status.Reason, ck.want)
			}
		})
	}
	if len(checks) < 25 {
		t.Fatalf("only %d cases", len(checks))
	}

	t.Run("can-i --list", func(t *testing.T) {
		out := kubectlMust(t, s, "", "auth", "can-i", "--list", "-n", "team", "--as=viewer")
		for _, want := range []string{"pods ", "deployments.apps ", "selfsubjectaccessreviews.authorization.k8s.io", "[/api/*]"} {
			if !strings.Contains(out, want) {
				t.Errorf("can-i --list lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "\nsecrets ") {
			t.Errorf("viewer's list contains secrets:\n%s", out)
		}
	})

	t.Run("view gets pods, create is refused with upstream's message", func(t *testing.T) {
		kubectlMust(t, s, "", "get", "pods", "-n", "team", "--as=viewer")
		out, err := s.Kubectl(ctx, "", "run", "x", "--image=busybox", "-n", "team", "--as=viewer")
		want := `Error from server (Forbidden): pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace "team"`
		if err == nil || strings.TrimSpace(out) != want {
			t.Errorf("got %q\nwant %q", strings.TrimSpace(out), want)
		}
	})
	t.Run("edit cannot read roles", func(t *testing.T) {
		out, err := s.Kubectl(ctx, "", "get", "roles", "-n", "team", "--as=editor")
		want := `Error from server (Forbidden): roles.rbac.authorization.k8s.io is forbidden: User "editor" cannot list resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "team"`
		if err == nil || strings.TrimSpace(out) != want {
			t.Errorf("got %q\nwant %q", strings.TrimSpace(out), want)
		}
	})
	t.Run("no escalation", func(t *testing.T) {
		out, err := s.Kubectl(ctx, "", "create", "role", "everything", "-n", "team", "--verb=*", "--resource=*", "--as=nsadmin")
		if err == nil || !strings.Contains(out, `roles.rbac.authorization.k8s.io "everything" is forbidden: user "nsadmin" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`) {
			t.Errorf("role escalation: %v\n%s", err, out)
		}
		out, err = s.Kubectl(ctx, "", "create", "rolebinding", "takeover", "-n", "team", "--clusterrole=cluster-admin", "--user=nsadmin", "--as=nsadmin")
		if err == nil || !strings.Contains(out, "is attempting to grant RBAC permissions not currently held") {
			t.Errorf("binding escalation: %v\n%s", err, out)
		}
		// Granting what one holds is fine.
		kubectlMust(t, s, "", "create", "rolebinding", "more-viewers", "-n", "team", "--clusterrole=view", "--user=x", "--as=nsadmin")
		kubectlMust(t, s, "", "create", "role", "pod-reader", "-n", "team", "--verb=get", "--resource=pods", "--as=nsadmin")
	})
	t.Run("unauthenticated", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
			if code, body := rawGet(t, s, path, ""); code != 200 {
				t.Errorf("anonymous %s: %d %s", path, code, body)
			}
		}
		for _, path := range []string{"/api", "/api/v1/namespaces/default/pods", "/metrics", "/openapi/v2"} {
			if code, body := rawGet(t, s, path, ""); code != 401 {
				t.Errorf("anonymous %s: %d %s, want 401", path, code, body)
			}
		}
		if code, _ := rawGet(t, s, "/healthz", "not-a-token"); code != 401 {
			t.Errorf("bad token on /healthz: %d, want 401 (a bad credential is never anonymous)", code)
		}
	})
	t.Run("bootstrap roles are reconciled at start", func(t *testing.T) {
		// A user's extra rule survives a restart; a removed default rule
		// comes back; autoupdate=false protects a role.
		kubectlMust(t, s, "", "patch", "clusterrole", "system:discovery", "--type=json",
			"-p", `[{"op":"add","path":"/rules/-","value":{"nonResourceURLs":["/custom"],"verbs":["get"]}}]`)
		kubectlMust(t, s, "", "patch", "clusterrole", "system:basic-user", "--type=json", "-p", `[{"op":"remove","path":"/rules/1"}]`)
		kubectlMust(t, s, "", "annotate", "--overwrite", "clusterrole", "system:heapster", "rbac.authorization.kubernetes.io/autoupdate=false")
		kubectlMust(t, s, "", "patch", "clusterrole", "system:heapster", "--type=json", "-p", `[{"op":"remove","path":"/rules/1"}]`)
		s.Stop()
		s.Start()
		discovery := kubectlMust(t, s, "", "get", "clusterrole", "system:discovery", "-o", "jsonpath={.rules}")
		if !strings.Contains(discovery, "/custom") || !strings.Contains(discovery, "/openapi/*") {
			t.Errorf("system:discovery after restart: %s", discovery)
		}
		basic := kubectlMust(t, s, "", "get", "clusterrole", "system:basic-user", "-o", "jsonpath={.rules}")
		if !strings.Contains(basic, "selfsubjectreviews") {
			t.Errorf("removed rule not restored: %s", basic)
		}
		heapster := kubectlMust(t, s, "", "get", "clusterrole", "system:heapster", "-o", "jsonpath={.rules}")
		if strings.Contains(heapster, "deployments") {
			t.Errorf("autoupdate=false role was reconciled: %s", heapster)
		}
	})
}
