package validatingadmissionpolicystatus

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-project/skiff/pkg/generated/openapi"
)

func policy(expression string) *admissionregistrationv1.ValidatingAdmissionPolicy {
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas", Generation: 2},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: expression}},
		},
	}
}

func TestTypeCheckingStatus(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	checker := &validatingpolicy.TypeChecker{
		SchemaResolver: resolver.NewDefinitionsSchemaResolver(openapi.GetOpenAPIDefinitions, scheme.Scheme),
		RestMapper:     mapper,
	}
	for name, tc := range map[string]struct {
		expression  string
		wantWarning string // "" = none
	}{
		"well typed":    {expression: "object.spec.replicas <= 5"},
		"no such field": {expression: "object.spec.replicaz <= 5", wantWarning: "undefined field 'replicaz'"},
		"wrong type":    {expression: "object.spec.replicas == 'five'", wantWarning: "found no matching overload"},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset(policy(tc.expression))
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := NewController(client, factory.Admissionregistration().V1().ValidatingAdmissionPolicies(), checker)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			cache.WaitForCacheSync(ctx.Done(), c.synced)
			if err := c.sync(ctx, "replicas"); err != nil {
				t.Fatal(err)
			}
			got, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, "replicas", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.ObservedGeneration != 2 || got.Status.TypeChecking == nil {
				t.Fatalf("status = %+v, want observedGeneration 2 and typeChecking", got.Status)
			}
			warnings := got.Status.TypeChecking.ExpressionWarnings
			switch {
			case tc.wantWarning == "" && len(warnings) != 0:
				t.Errorf("warnings = %+v, want none", warnings)
			case tc.wantWarning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0].Warning, tc.wantWarning) ||
				warnings[0].FieldRef != "spec.validations[0].expression"):
				t.Errorf("warnings = %+v, want one on spec.validations[0].expression containing %q", warnings, tc.wantWarning)
			}
		})
	}
}
