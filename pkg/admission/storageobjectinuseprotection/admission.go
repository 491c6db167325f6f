// Package storageobjectinuseprotection is upstream's
// StorageObjectInUseProtection admission plugin: new PersistentVolumes,
// PersistentVolumeClaims and VolumeAttributesClasses get the protection
// finalizer, which the protection controllers remove once nothing uses
// them.
package storageobjectinuseprotection

import (
	"context"
	"io"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"

	"github.com/skiff-project/skiff/pkg/features"
)

const (
	// PluginName is the plugin's name in --enable-admission-plugins.
	PluginName = "StorageObjectInUseProtection"

	PVProtectionFinalizer  = "kubernetes.io/pv-protection"
	PVCProtectionFinalizer = "kubernetes.io/pvc-protection"
	VACProtectionFinalizer = "kubernetes.io/vac-protection"
)

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the StorageObjectInUseProtection admission plugin.
type Plugin struct {
	*admission.Handler
}

var _ admission.MutationInterface = &Plugin{}

// New returns the plugin.
func New() *Plugin { return &Plugin{Handler: admission.NewHandler(admission.Create)} }

// Admit adds the finalizer.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" {
		return nil
	}
	var m *metav1.ObjectMeta
	var finalizer string
	switch o := a.GetObject().(type) {
	case *corev1.PersistentVolume:
		m, finalizer = &o.ObjectMeta, PVProtectionFinalizer
	case *corev1.PersistentVolumeClaim:
		m, finalizer = &o.ObjectMeta, PVCProtectionFinalizer
	case *storagev1.VolumeAttributesClass:
		if !features.Enabled("VolumeAttributesClass") {
			return nil
		}
		m, finalizer = &o.ObjectMeta, VACProtectionFinalizer
	default:
		return nil
	}
	if !slices.Contains(m.Finalizers, finalizer) {
		m.Finalizers = append(m.Finalizers, finalizer)
	}
	return nil
}
