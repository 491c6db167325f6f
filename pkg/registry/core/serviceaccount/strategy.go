// Package serviceaccount serves core/v1 ServiceAccounts. The token
// subresource belongs to the authentication work and is not served here.
package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// enforceMountableSecretsAnnotation is upstream's deprecated annotation
// (plugin/pkg/admission/serviceaccount, which skiff may not import) that
// limits the secrets pods of the account may mount.
const enforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"

type serviceAccountStrategy struct {
	generic.Strategy
}

var strategy = serviceAccountStrategy{generic.NewStrategy(true)}

func (serviceAccountStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	cleanSecretReferences(obj.(*corev1.ServiceAccount))
}

func (serviceAccountStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	cleanSecretReferences(obj.(*corev1.ServiceAccount))
}

// cleanSecretReferences keeps only the names of referenced secrets: they
// are always in the account's namespace, so nothing else means anything.
func cleanSecretReferences(sa *corev1.ServiceAccount) {
	for i, s := range sa.Secrets {
		sa.Secrets[i] = corev1.ObjectReference{Name: s.Name}
	}
}

func (serviceAccountStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateServiceAccount)
}

func (serviceAccountStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(sa, oldSA *api.ServiceAccount) field.ErrorList {
		return corevalidation.ValidateServiceAccountUpdate(sa, oldSA)
	})
}

func (serviceAccountStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return enforceMountableSecretsWarning(obj.(*corev1.ServiceAccount), nil)
}

func (serviceAccountStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return enforceMountableSecretsWarning(obj.(*corev1.ServiceAccount), old.(*corev1.ServiceAccount))
}

// enforceMountableSecretsWarning warns when the deprecated annotation is
// added (not when it was already there).
func enforceMountableSecretsWarning(sa, old *corev1.ServiceAccount) []string {
	if old != nil {
		if _, ok := old.Annotations[enforceMountableSecretsAnnotation]; ok {
			return nil
		}
	}
	if _, ok := sa.Annotations[enforceMountableSecretsAnnotation]; !ok {
		return nil
	}
	return []string{fmt.Sprintf("metadata.annotations[%s]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets", enforceMountableSecretsAnnotation)}
}
