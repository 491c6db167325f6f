package volume

import (
	"encoding/pem"
	"fmt"
	"sort"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// clusterTrustBundleFile is a projected clusterTrustBundle source: the
// certificates of one ClusterTrustBundle (by name), or of every bundle of a
// signer whose labels match the selector, deduplicated, as PEM. An optional
// source that matches nothing gives an empty file, as upstream.
func (sc *setupContext) clusterTrustBundleFile(src *v1.ClusterTrustBundleProjection, defaultMode *int32) (file, error) {
	optional := src.Optional != nil && *src.Optional
	mode := modeOf(defaultMode, 0o644)
	bundles := sc.m.cfg.Client.CertificatesV1().ClusterTrustBundles()
	var matched []certificatesv1.ClusterTrustBundle
	switch {
	case src.Name != nil:
		ctb, err := bundles.Get(sc.ctx, *src.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && optional {
			return file{Data: []byte{}, Mode: mode}, nil
		}
		if err != nil {
			return file{}, fmt.Errorf("get ClusterTrustBundle %q: %w", *src.Name, err)
		}
		matched = append(matched, *ctb)
	case src.SignerName != nil:
		// A nil selector matches nothing; an empty one matches every
		// bundle of the signer.
		selector, err := metav1.LabelSelectorAsSelector(src.LabelSelector)
		if err != nil {
			return file{}, fmt.Errorf("ClusterTrustBundle label selector: %w", err)
		}
		list, err := bundles.List(sc.ctx, metav1.ListOptions{
			LabelSelector: selector.String(),
			FieldSelector: fields.OneTermEqualSelector("spec.signerName", *src.SignerName).String(),
		})
		if err != nil {
			return file{}, fmt.Errorf("list ClusterTrustBundles of signer %q: %w", *src.SignerName, err)
		}
		for _, b := range list.Items {
			if src.LabelSelector != nil && b.Spec.SignerName == *src.SignerName {
				matched = append(matched, b)
			}
		}
		if len(matched) == 0 {
			if optional {
				return file{Data: []byte{}, Mode: mode}, nil
			}
			return file{}, fmt.Errorf("combination of signerName and labelSelector matched zero ClusterTrustBundles")
		}
	default:
		return file{}, fmt.Errorf("ClusterTrustBundle projection requires either name or signerName to be set")
	}
	return file{Data: normalizeTrustAnchors(matched), Mode: mode}, nil
}

// normalizeTrustAnchors re-encodes the bundles' certificates once each, in
// a stable order.
func normalizeTrustAnchors(bundles []certificatesv1.ClusterTrustBundle) []byte {
	seen := map[string]bool{}
	var ders []string
	for _, b := range bundles {
		rest := []byte(b.Spec.TrustBundle)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if der := string(block.Bytes); !seen[der] {
				seen[der] = true
				ders = append(ders, der)
			}
		}
	}
	sort.Strings(ders)
	out := []byte{}
	for _, der := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(der)})...)
	}
	return out
}
