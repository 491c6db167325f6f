package serviceaccount

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/audit"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	authenticationtokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/klog/v2"

	authenticationinternal "k8s.io/kubernetes/pkg/apis/authentication"
	authenticationvalidation "k8s.io/kubernetes/pkg/apis/authentication/validation"

	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// warnOnlyBoundTokenExpiration is the lifetime the kubelet asks for
	// projected tokens by default; with ExtendExpiration such pod-bound
	// tokens really last extendedExpiration.
	warnOnlyBoundTokenExpiration = (60*60 + 7) * time.Second
	extendedExpiration           = 365 * 24 * time.Hour
)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// TokenREST is the serviceaccounts/token subresource: create a TokenRequest
// and get back a signed, bound service-account token.
type TokenREST struct {
	serviceAccounts rest.Getter
	pods            rest.Getter
	secrets         rest.Getter
	// nodes may be nil when nodes are not served: pod-bound tokens then
	// name the pod's node without its UID.
	nodes     rest.Getter
	config    generic.ServiceAccountTokenConfig
	audiences []string
}

var (
	_ rest.NamedCreater                   = &TokenREST{}
	_ rest.GroupVersionKindProvider       = &TokenREST{}
	_ rest.SubresourceObjectMetaPreserver = &TokenREST{}
	_ rest.Scoper                         = &TokenREST{}
	_ rest.SingularNameProvider           = &TokenREST{}
)

// NewTokenREST answers TokenRequests for the service accounts in
// serviceAccounts, binding tokens to objects read through pods, secrets
// and nodes (nil when not served).
func NewTokenREST(serviceAccounts, pods, secrets, nodes rest.Getter, config generic.ServiceAccountTokenConfig, audiences []string) *TokenREST {
	return &TokenREST{serviceAccounts: serviceAccounts, pods: pods, secrets: secrets, nodes: nodes, config: config, audiences: audiences}
}

// New implements rest.Storage.
func (r *TokenREST) New() runtime.Object { return &authenticationv1.TokenRequest{} }

// Destroy implements rest.Storage.
func (r *TokenREST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *TokenREST) NamespaceScoped() bool { return true }

// GetSingularName implements rest.SingularNameProvider.
func (r *TokenREST) GetSingularName() string { return "token" }

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (r *TokenREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return tokenRequestKind
}

// PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate keeps the
// request's UID, which names the service account it is for.
func (r *TokenREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool { return true }

// Create implements rest.NamedCreater.
func (r *TokenREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	req, ok := obj.(*authenticationv1.TokenRequest)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a TokenRequest: %T", obj))
	}
	namespace, ok := genericapirequest.NamespaceFrom(ctx)
	if !ok || namespace == "" {
		return nil, apierrors.NewBadRequest("namespace is required")
	}
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata").Child("name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata").Child("namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	saObj, err := r.serviceAccounts.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	sa := saObj.(*corev1.ServiceAccount)
	if req.UID != "" && req.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestKind.Group, Resource: tokenRequestKind.Kind}, name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}

	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = r.audiences
	}
	if req.Name == "" {
		req.Name = sa.Name
	}
	if req.Namespace == "" {
		req.Namespace = sa.Namespace
	}
	if req.UID == "" {
		req.UID = sa.UID
	}
	// The status's expiry must not be later than the token's.
	now := time.Now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = ptrTo(int64(3600))
	}

	if errs := generic.Validate(req, func(tr *authenticationinternal.TokenRequest) field.ErrorList {
		return authenticationvalidation.ValidateTokenRequest(tr)
	}); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), "", errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, req.DeepCopyObject()); err != nil {
			return nil, err
		}
	}

	binding, err := r.binding(ctx, name, namespace, req.Spec.BoundObjectRef)
	if err != nil {
		return nil, err
	}

	expiration := time.Duration(*req.Spec.ExpirationSeconds) * time.Second
	if r.config.MaxExpiration > 0 && expiration > r.config.MaxExpiration {
		warning.AddWarning(ctx, "", fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", *req.Spec.ExpirationSeconds, int64(r.config.MaxExpiration.Seconds())))
		expiration = r.config.MaxExpiration
		req.Spec.ExpirationSeconds = ptrTo(int64(expiration.Seconds()))
	}
	tokenLifetime, warnAfter := expiration, time.Duration(0)
	if r.config.ExtendExpiration && binding.Pod != nil && expiration == warnOnlyBoundTokenExpiration && sets.New(r.audiences...).HasAll(req.Spec.Audiences...) {
		tokenLifetime, warnAfter = extendedExpiration, expiration
	}

	claims, private, err := serviceaccount.BoundClaims(sa, binding, now, tokenLifetime, warnAfter, req.Spec.Audiences)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	token, err := r.config.Generator.GenerateToken(claims, private)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	out := req.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               token,
		ExpirationTimestamp: metav1.NewTime(now.Add(expiration)),
	}
	if claims.ID != "" {
		audit.AddAuditAnnotation(ctx, apiserverserviceaccount.IssuedCredentialIDAuditAnnotationKey, authenticationtokenjwt.CredentialIDForJTI(claims.ID))
	}
	return out, nil
}

// binding looks up the object the token is to be bound to.
func (r *TokenREST) binding(ctx context.Context, saName, namespace string, ref *authenticationv1.BoundObjectReference) (serviceaccount.Binding, error) {
	var b serviceaccount.Binding
	if ref == nil {
		return b, nil
	}
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid string
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := r.pods.Get(withRequestInfo(ctx, "pods", ref.Name, namespace, gvk), ref.Name, &metav1.GetOptions{})
		if err != nil {
			return b, err
		}
		b.Pod = obj.(*corev1.Pod)
		if b.Pod.Spec.ServiceAccountName != saName {
			return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		uid = string(b.Pod.UID)
		if node := b.Pod.Spec.NodeName; node != "" {
			b.Node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
			if r.nodes != nil {
				nodeCtx := withRequestInfo(ctx, "nodes", node, "", corev1.SchemeGroupVersion.WithKind("Node"))
				obj, err := r.nodes.Get(nodeCtx, node, &metav1.GetOptions{ResourceVersion: "0"})
				if err != nil {
					obj, err = r.nodes.Get(nodeCtx, node, &metav1.GetOptions{})
				}
				switch {
				case apierrors.IsNotFound(err):
					// The token still names the node, without its UID.
					klog.V(4).InfoS("Node of a token-bound pod not found", "pod", klog.KObj(b.Pod), "node", node)
				case err != nil:
					return b, apierrors.NewInternalError(err)
				default:
					b.Node = obj.(*corev1.Node)
				}
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		if r.nodes == nil {
			return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk))
		}
		obj, err := r.nodes.Get(withRequestInfo(ctx, "nodes", ref.Name, "", gvk), ref.Name, &metav1.GetOptions{})
		if err != nil {
			return b, err
		}
		b.Node = obj.(*corev1.Node)
		uid = string(b.Node.UID)
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := r.secrets.Get(withRequestInfo(ctx, "secrets", ref.Name, namespace, gvk), ref.Name, &metav1.GetOptions{})
		if err != nil {
			return b, err
		}
		b.Secret = obj.(*corev1.Secret)
		uid = string(b.Secret.UID)
	default:
		return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk))
	}
	if ref.UID != "" && string(ref.UID) != uid {
		return b, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return b, nil
}

// withRequestInfo makes ctx look like a get of the bound object, which the
// stores expect.
func withRequestInfo(ctx context.Context, resource, name, namespace string, gvk schema.GroupVersionKind) context.Context {
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true,
		Verb:              "get",
		Namespace:         namespace,
		Resource:          resource,
		Name:              name,
		Parts:             []string{resource, name},
		APIGroup:          gvk.Group,
		APIVersion:        gvk.Version,
	})
}

func ptrTo[T any](v T) *T { return &v }
