// Package accessreview turns the access reviews of authorization.k8s.io
// into authorizer attributes and authorizer answers into review statuses,
// for the subject, local subject and self subject access reviews alike.
package accessreview

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/authorization"
	authorizationvalidation "k8s.io/kubernetes/pkg/apis/authorization/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Answer asks authz about attrs and fills a review status with the decision.
func Answer(ctx context.Context, authz authorizer.UnconditionalAuthorizer, attrs authorizer.AttributesRecord) authorizationv1.SubjectAccessReviewStatus {
	decision, reason, err := authz.Authorize(ctx, attrs)
	return authorizationv1.SubjectAccessReviewStatus{
		Allowed:         decision == authorizer.DecisionAllow,
		Denied:          decision == authorizer.DecisionDeny,
		Reason:          reason,
		EvaluationError: evaluationError(err, attrs),
	}
}

// SpecAttributes are the attributes of a (local) subject access review: the
// user is the one the spec names.
func SpecAttributes(spec authorizationv1.SubjectAccessReviewSpec) authorizer.AttributesRecord {
	var extra map[string][]string
	if spec.Extra != nil {
		extra = make(map[string][]string, len(spec.Extra))
		for k, v := range spec.Extra {
			extra[k] = []string(v)
		}
	}
	u := &user.DefaultInfo{Name: spec.User, Groups: spec.Groups, UID: spec.UID, Extra: extra}
	if spec.ResourceAttributes != nil {
		return ResourceAttributes(u, *spec.ResourceAttributes)
	}
	return NonResourceAttributes(u, *spec.NonResourceAttributes)
}

// ResourceAttributes are the attributes of a request on a resource. Label
// and field selectors that do not parse are kept as parse errors, which the
// authorizer may ignore and the status reports.
func ResourceAttributes(u user.Info, in authorizationv1.ResourceAttributes) authorizer.AttributesRecord {
	version := in.Version
	if version == "" {
		version = "*"
	}
	out := authorizer.AttributesRecord{
		User:            u,
		Verb:            in.Verb,
		Namespace:       in.Namespace,
		APIGroup:        in.Group,
		APIVersion:      version,
		Resource:        in.Resource,
		Subresource:     in.Subresource,
		Name:            in.Name,
		ResourceRequest: true,
	}
	if s := in.LabelSelector; s != nil {
		if s.RawSelector != "" {
			if sel, err := labels.Parse(s.RawSelector); err != nil {
				out.LabelSelectorRequirements, out.LabelSelectorParsingErr = nil, err
			} else {
				out.LabelSelectorRequirements, _ = sel.Requirements()
				out.LabelSelectorParsingErr = nil
			}
		}
		if len(s.Requirements) > 0 {
			out.LabelSelectorRequirements, out.LabelSelectorParsingErr = labelRequirements(s.Requirements)
		}
	}
	if s := in.FieldSelector; s != nil {
		if s.RawSelector != "" {
			if sel, err := fields.ParseSelector(s.RawSelector); err != nil {
				out.FieldSelectorRequirements, out.FieldSelectorParsingErr = nil, err
			} else {
				out.FieldSelectorRequirements, out.FieldSelectorParsingErr = sel.Requirements(), nil
			}
		}
		if len(s.Requirements) > 0 {
			out.FieldSelectorRequirements, out.FieldSelectorParsingErr = fieldRequirements(s.Requirements)
		}
	}
	return out
}

// NonResourceAttributes are the attributes of a request on a path.
func NonResourceAttributes(u user.Info, in authorizationv1.NonResourceAttributes) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Path: in.Path, Verb: in.Verb}
}

var labelOperators = map[metav1.LabelSelectorOperator]selection.Operator{
	metav1.LabelSelectorOpIn:           selection.In,
	metav1.LabelSelectorOpNotIn:        selection.NotIn,
	metav1.LabelSelectorOpExists:       selection.Exists,
	metav1.LabelSelectorOpDoesNotExist: selection.DoesNotExist,
}

// labelRequirements keeps the requirements that parse and reports the rest.
func labelRequirements(in []metav1.LabelSelectorRequirement) (labels.Requirements, error) {
	var reqs labels.Requirements
	var errs []error
	for _, r := range in {
		op, ok := labelOperators[r.Operator]
		if !ok {
			errs = append(errs, fmt.Errorf("%q is not a valid label selector operator", r.Operator))
			continue
		}
		values := r.Values
		if len(values) == 0 {
			values = nil
		}
		req, err := labels.NewRequirement(r.Key, op, values)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		reqs = append(reqs, *req)
	}
	return reqs, utilerrors.NewAggregate(errs)
}

// fieldRequirements keeps the requirements that parse (one value, In or
// NotIn) and reports the rest.
func fieldRequirements(in []metav1.FieldSelectorRequirement) (fields.Requirements, error) {
	var reqs fields.Requirements
	var errs []error
	for _, r := range in {
		if len(r.Values) > 1 {
			errs = append(errs, fmt.Errorf("fieldSelectors do not yet support multiple values"))
			continue
		}
		switch r.Operator {
		case metav1.FieldSelectorOpIn, metav1.FieldSelectorOpNotIn:
			if len(r.Values) != 1 {
				if r.Operator == metav1.FieldSelectorOpIn {
					errs = append(errs, fmt.Errorf("fieldSelectors in must have one value"))
				} else {
					errs = append(errs, fmt.Errorf("fieldSelectors not in must have one value"))
				}
				continue
			}
			op := selection.Equals
			if r.Operator == metav1.FieldSelectorOpNotIn {
				op = selection.NotEquals
			}
			reqs = append(reqs, fields.Requirement{Field: r.Key, Operator: op, Value: r.Values[0]})
		case metav1.FieldSelectorOpExists, metav1.FieldSelectorOpDoesNotExist:
			errs = append(errs, fmt.Errorf("fieldSelectors do not yet support %v", r.Operator))
		default:
			errs = append(errs, fmt.Errorf("%q is not a valid field selector operator", r.Operator))
		}
	}
	return reqs, utilerrors.NewAggregate(errs)
}

// evaluationError joins the authorizer's error with notes about selectors
// that were (partly) ignored because they did not parse.
func evaluationError(err error, attrs authorizer.AttributesRecord) string {
	var msgs []string
	if err != nil {
		msgs = append(msgs, err.Error())
	}
	if reqs, err := attrs.GetFieldSelector(); err != nil {
		if len(reqs) > 0 {
			msgs = append(msgs, "spec.resourceAttributes.fieldSelector partially ignored due to parse error")
		} else {
			msgs = append(msgs, "spec.resourceAttributes.fieldSelector ignored due to parse error")
		}
	}
	if reqs, err := attrs.GetLabelSelector(); err != nil {
		if len(reqs) > 0 {
			msgs = append(msgs, "spec.resourceAttributes.labelSelector partially ignored due to parse error")
		} else {
			msgs = append(msgs, "spec.resourceAttributes.labelSelector ignored due to parse error")
		}
	}
	return strings.Join(msgs, "; ")
}

// ValidateSubjectAccessReview runs upstream's validation (handwritten and
// declarative) of a SubjectAccessReview.
func ValidateSubjectAccessReview(ctx context.Context, sar *authorizationv1.SubjectAccessReview) field.ErrorList {
	return generic.Validate(sar, func(in *authorization.SubjectAccessReview) field.ErrorList {
		return authorizationvalidation.ValidateSubjectAccessReviewCreate(ctx, legacyscheme.Scheme, in)
	})
}

// ValidateLocalSubjectAccessReview runs upstream's validation of a
// LocalSubjectAccessReview.
func ValidateLocalSubjectAccessReview(ctx context.Context, sar *authorizationv1.LocalSubjectAccessReview) field.ErrorList {
	return generic.Validate(sar, func(in *authorization.LocalSubjectAccessReview) field.ErrorList {
		return authorizationvalidation.ValidateLocalSubjectAccessReviewCreate(ctx, legacyscheme.Scheme, in)
	})
}

// ValidateSelfSubjectAccessReview runs upstream's validation of a
// SelfSubjectAccessReview.
func ValidateSelfSubjectAccessReview(ctx context.Context, sar *authorizationv1.SelfSubjectAccessReview) field.ErrorList {
	return generic.Validate(sar, func(in *authorization.SelfSubjectAccessReview) field.ErrorList {
		return authorizationvalidation.ValidateSelfSubjectAccessReviewCreate(ctx, legacyscheme.Scheme, in)
	})
}
