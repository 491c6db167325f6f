// Package secret serves core/v1 Secrets.
package secret

import (
	"context"
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// secretStrategy validates secrets with upstream's rules, which also keep
// immutable secrets and the type unchanged.
type secretStrategy struct {
	generic.Strategy
}

var strategy = secretStrategy{generic.NewStrategy(true)}

// PrepareForCreate folds stringData into data.
func (secretStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	mergeStringData(obj.(*corev1.Secret))
}

// PrepareForUpdate keeps the type when the update leaves it out and folds
// stringData into data.
func (secretStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s, oldS := obj.(*corev1.Secret), old.(*corev1.Secret)
	if s.Type == "" {
		s.Type = oldS.Type
	}
	mergeStringData(s)
}

// mergeStringData moves stringData into data, its values winning, as
// upstream's v1-to-internal conversion does: stringData is write-only and
// never stored.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		s.StringData = nil
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

func (secretStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateSecret)
}

func (secretStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(s, oldS *api.Secret) field.ErrorList {
		return corevalidation.ValidateSecretUpdate(s, oldS)
	})
}

func (secretStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(obj.(*corev1.Secret))
}

func (secretStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return warnings(obj.(*corev1.Secret))
}

// warnings reports a TLS secret whose certificate and key do not load.
func warnings(s *corev1.Secret) []string {
	if s.Type != corev1.SecretTypeTLS {
		return nil
	}
	if _, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err != nil {
		return []string{err.Error()}
	}
	return nil
}

// getAttrs gives secrets' labels and selectable fields (type).
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil, nil, fmt.Errorf("not a secret: %T", obj)
	}
	return s.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&s.ObjectMeta, true), fields.Set{
		"type": string(s.Type),
	}), nil
}
