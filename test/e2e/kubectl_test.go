//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// kubectlObject is one object the kubectl workflow runs on. Manifests are
// templates: %[1]s is the namespace, %[2]s a value the test changes.
type kubectlObject struct {
	resource   string // as kubectl names it, e.g. "deployment"
	name       string
	manifest   string
	namespaced bool
	scalable   bool
	strategic  bool // strategic merge patch is supported (built-in kinds)
}

const crdManifest = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer}
          status:
            type: object
            properties:
              replicas: {type: integer}
`

var kubectlObjects = []kubectlObject{
	{resource: "namespace", name: "wf-ns", strategic: true, manifest: `apiVersion: v1
kind: Namespace
metadata:
  name: wf-ns
  labels: {v: "%[2]s"}
`},
	{resource: "configmap", name: "wf-cm", namespaced: true, strategic: true, manifest: `apiVersion: v1
kind: ConfigMap
metadata: {name: wf-cm, namespace: %[1]s}
data: {v: "%[2]s"}
`},
	{resource: "secret", name: "wf-secret", namespaced: true, strategic: true, manifest: `apiVersion: v1
kind: Secret
metadata: {name: wf-secret, namespace: %[1]s}
stringData: {v: "%[2]s"}
`},
	{resource: "service", name: "wf-svc", namespaced: true, strategic: true, manifest: `apiVersion: v1
kind: Service
metadata: {name: wf-svc, namespace: %[1]s, labels: {v: "%[2]s"}}
spec:
  selector: {app: wf}
  ports: [{port: 80, targetPort: 8080}]
`},
	{resource: "deployment", name: "wf-deploy", namespaced: true, scalable: true, strategic: true, manifest: `apiVersion: apps/v1
kind: Deployment
metadata: {name: wf-deploy, namespace: %[1]s, labels: {v: "%[2]s"}}
spec:
  replicas: 1
  selector: {matchLabels: {app: wf}}
  template:
    metadata: {labels: {app: wf}}
    spec:
      containers: [{name: c, image: "busybox:%[2]s"}]
`},
	{resource: "job", name: "wf-job", namespaced: true, strategic: true, manifest: `apiVersion: batch/v1
kind: Job
metadata: {name: wf-job, namespace: %[1]s, labels: {v: "%[2]s"}}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
`},
	{resource: "crontab", name: "wf-ct", namespaced: true, scalable: true, manifest: `apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: wf-ct, namespace: %[1]s, labels: {v: "%[2]s"}}
spec: {cronSpec: "* * * * %[2]s", replicas: 1}
`},
}

// TestKubectlWorkflows runs kubectl's everyday commands on built-in kinds,
// a CRD and its custom resources, with the stock kubectl and kubectl v1.37.
func TestKubectlWorkflows(t *testing.T) {
	s := framework.StartServer(t)
	for _, kc := range []struct {
		name string
		run  func(context.Context, string, ...string) (string, error)
	}{{"kubectl", s.Kubectl}, {"skiff-kubectl", s.KubectlNew}} {
		t.Run(kc.name, func(t *testing.T) {
			ctx := context.Background()
			ns := "wf-" + kc.name
			must := func(stdin string, args ...string) string {
				t.Helper()
				out, err := kc.run(ctx, stdin, args...)
				if err != nil {
					t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			must("", "create", "namespace", ns)
			must(crdManifest, "apply", "-f", "-")
			must("", "wait", "--for=condition=established", "--timeout=30s", "crd/crontabs.stable.example.com")

			for _, o := range kubectlObjects {
				t.Run(o.resource, func(t *testing.T) {
					runWorkflow(t, kc.run, ns, o)
				})
			}
		})
	}
}

func runWorkflow(t *testing.T, run func(context.Context, string, ...string) (string, error), ns string, o kubectlObject) {
	ctx := context.Background()
	name := o.name
	if !o.namespaced {
		name = o.name + "-" + strings.TrimPrefix(ns, "wf-")
	}
	manifest := func(v string) string {
		m := fmt.Sprintf(o.manifest, ns, v)
		return strings.Replace(m, "name: "+o.name, "name: "+name, 1)
	}
	nsArgs := func(args ...string) []string {
		if o.namespaced {
			return append(args, "-n", ns)
		}
		return args
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(ctx, stdin, nsArgs(args...)...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	expectIn := func(out, want, what string) {
		t.Helper()
		if !strings.Contains(out, want) {
			t.Errorf("%s: output does not contain %q:\n%s", what, want, out)
		}
	}
	ref := o.resource + "/" + name

	expectIn(must(manifest("1"), "create", "-f", "-"), "created", "create")
	expectIn(must("", "get", ref, "-o", "yaml"), "name: "+name, "get -o yaml")
	expectIn(must("", "get", ref, "-o", "json"), `"name": "`+name+`"`, "get -o json")
	expectIn(must("", "get", ref, "-o", "wide"), name, "get -o wide")
	expectIn(must("", "get", ref, "-o", "name"), "/"+name, "get -o name")
	if got := must("", "get", ref, "-o", "jsonpath={.metadata.name}"); got != name {
		t.Errorf("get -o jsonpath = %q, want %q", got, name)
	}
	expectIn(must("", "describe", ref), name, "describe")
	expectIn(must("", "label", ref, "wf-label=yes"), "labeled", "label")
	expectIn(must("", "annotate", ref, "wf-note=yes"), "annotated", "annotate")
	expectIn(must("", "patch", ref, "--type=merge", "-p", `{"metadata":{"labels":{"merge":"yes"}}}`), "patched", "merge patch")
	expectIn(must("", "patch", ref, "--type=json", "-p", `[{"op":"add","path":"/metadata/labels/json","value":"yes"}]`), "patched", "json patch")
	if o.strategic {
		expectIn(must("", "patch", ref, "--type=strategic", "-p", `{"metadata":{"labels":{"strategic":"yes"}}}`), "patched", "strategic patch")
	} else {
		out, err := run(ctx, "", nsArgs("patch", ref, "--type=strategic", "-p", `{"metadata":{"labels":{"strategic":"yes"}}}`)...)
		if err == nil {
			t.Errorf("strategic merge patch of a custom resource succeeded: %s", out)
		}
	}
	labels := must("", "get", ref, "-o", "jsonpath={.metadata.labels}")
	for _, l := range []string{"wf-label", "merge", "json"} {
		expectIn(labels, l, "labels after label/patch")
	}

	// Client-side apply over an object made by create.
	must(manifest("2"), "apply", "-f", "-")
	// Server-side apply: manager a owns the object's fields; b conflicts.
	must(manifest("3"), "apply", "--server-side", "--field-manager=wf-a", "--force-conflicts", "-f", "-")
	out, err := run(ctx, manifest("4"), nsArgs("apply", "--server-side", "--field-manager=wf-b", "-f", "-")...)
	if err == nil {
		t.Errorf("conflicting server-side apply succeeded: %s", out)
	} else {
		expectIn(out, `with "wf-a"`, "server-side apply conflict")
		expectIn(out, "Apply failed with", "server-side apply conflict")
	}
	must(manifest("4"), "apply", "--server-side", "--field-manager=wf-b", "--force-conflicts", "-f", "-")

	// kubectl diff exits 1 when there is a difference, 0 when there is none.
	if out, err := run(ctx, manifest("5"), nsArgs("diff", "-f", "-")...); err == nil || !strings.Contains(out, "5") {
		t.Errorf("diff with a change: err=%v out=%s", err, out)
	}
	if out, err := run(ctx, manifest("4"), nsArgs("diff", "--server-side", "--field-manager=wf-b", "-f", "-")...); err != nil {
		t.Errorf("diff without a change: %v\n%s", err, out)
	}

	expectIn(must("", "edit", ref), "Edit cancelled", "edit with EDITOR=true")
	expectIn(must("", "explain", o.resource), "KIND:", "explain")
	if o.scalable {
		expectIn(must("", "scale", ref, "--replicas=3"), "scaled", "scale")
		if got := must("", "get", ref, "-o", "jsonpath={.spec.replicas}"); got != "3" {
			t.Errorf("spec.replicas after scale = %q", got)
		}
	}
	must("", "delete", ref, "--wait=false")
	must("", "wait", "--for=delete", "--timeout=60s", ref)
}
