// Package clustertrustbundle serves certificates.k8s.io/v1 ClusterTrustBundles.
package clustertrustbundle

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/kubernetes/pkg/apis/certificates"
	certvalidation "k8s.io/kubernetes/pkg/apis/certificates/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// bundleStrategy validates ClusterTrustBundles with upstream's rules. As
// upstream, updates must name the resourceVersion they replace.
type bundleStrategy struct {
	generic.Strategy
}

var strategy = bundleStrategy{generic.NewStrategy(false)}

func (bundleStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (bundleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(b *certificates.ClusterTrustBundle) field.ErrorList {
		return certvalidation.ValidateClusterTrustBundle(b, certvalidation.ValidateClusterTrustBundleOptions{})
	})
}

func (bundleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, certvalidation.ValidateClusterTrustBundleUpdate)
}

// getAttrs adds spec.signerName to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	b, ok := obj.(*certificatesv1.ClusterTrustBundle)
	if !ok {
		return nil, nil, fmt.Errorf("not a clustertrustbundle: %T", obj)
	}
	return b.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&b.ObjectMeta, false), fields.Set{
		"spec.signerName": b.Spec.SignerName,
	}), nil
}
