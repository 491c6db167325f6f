package selfsubjectrulesreview

import (
	"context"
	"errors"
	"reflect"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// fixedRules gives alice one rule in "team" and fails elsewhere.
type fixedRules struct{}

func (fixedRules) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if namespace != "team" {
		return nil, nil, true, errors.New("cannot list rules elsewhere")
	}
	return []authorizer.ResourceRuleInfo{&authorizer.DefaultResourceRuleInfo{
			Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{u.GetName()},
		}},
		[]authorizer.NonResourceRuleInfo{&authorizer.DefaultNonResourceRuleInfo{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}},
		false, nil
}

func create(t *testing.T, r *REST, ctx context.Context, namespace string) (*authorizationv1.SelfSubjectRulesReview, error) {
	t.Helper()
	out, err := r.Create(ctx, &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}, nil, nil)
	if err != nil {
		return nil, err
	}
	return out.(*authorizationv1.SelfSubjectRulesReview), nil
}

func TestRulesReview(t *testing.T) {
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "alice"})

	got, err := create(t, NewREST(fixedRules{}), ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	want := authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    []authorizationv1.ResourceRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"alice"}}},
		NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}},
	}
	if !reflect.DeepEqual(got.Status, want) {
		t.Errorf("status = %+v, want %+v", got.Status, want)
	}

	got, err = create(t, NewREST(fixedRules{}), ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Status.Incomplete || got.Status.EvaluationError != "cannot list rules elsewhere" {
		t.Errorf("resolver error not reported: %+v", got.Status)
	}
}

func TestRulesReviewWithoutResolverIsIncomplete(t *testing.T) {
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "alice"})
	got, err := create(t, NewREST(nil), ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Status.Incomplete || len(got.Status.ResourceRules) != 0 || len(got.Status.NonResourceRules) != 0 {
		t.Errorf("status = %+v, want incomplete with no rules", got.Status)
	}
	if got.Status.ResourceRules == nil || got.Status.NonResourceRules == nil {
		t.Errorf("rule lists must be empty, not null, as upstream answers")
	}
}

func TestRulesReviewRefusals(t *testing.T) {
	if _, err := create(t, NewREST(nil), context.Background(), "team"); !apierrors.IsBadRequest(err) {
		t.Errorf("no user: err = %v, want BadRequest", err)
	}
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "alice"})
	if _, err := create(t, NewREST(nil), ctx, ""); !apierrors.IsBadRequest(err) {
		t.Errorf("no namespace: err = %v, want BadRequest", err)
	}
}
