package selfsubjectreview

import (
	"context"
	"reflect"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestSelfSubjectReviewReturnsRequester(t *testing.T) {
	u := &user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"devs", "system:authenticated"}, Extra: map[string][]string{"scope": {"x"}}}
	ctx := genericapirequest.WithUser(context.Background(), u)
	out, err := NewREST().Create(ctx, &authenticationv1.SelfSubjectReview{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*authenticationv1.SelfSubjectReview)
	want := authenticationv1.UserInfo{
		Username: "alice", UID: "1", Groups: []string{"devs", "system:authenticated"},
		Extra: map[string]authenticationv1.ExtraValue{"scope": {"x"}},
	}
	if !reflect.DeepEqual(got.Status.UserInfo, want) {
		t.Errorf("userInfo = %+v, want %+v", got.Status.UserInfo, want)
	}
	if got.CreationTimestamp.IsZero() {
		t.Errorf("no creation timestamp")
	}
}

func TestSelfSubjectReviewNeedsUser(t *testing.T) {
	_, err := NewREST().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, nil, nil)
	if !apierrors.IsBadRequest(err) {
		t.Errorf("err = %v, want BadRequest", err)
	}
}
