package persistentvolume

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/reference"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// syncVolume keeps a volume's phase: Available without a claim, Bound
// with one, Released (then reclaimed) when its claim is gone.
func (c *Controller) syncVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	if volume.Spec.ClaimRef == nil || volume.Spec.ClaimRef.UID == "" {
		// Unused, or reserved for a claim that has not bound it yet.
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
		return err
	}
	ref := volume.Spec.ClaimRef
	claim, err := c.pvcLister.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if apierrors.IsNotFound(err) {
		claim = nil
	}
	if claim != nil && claim.UID != ref.UID {
		// A claim of the same name replaced the bound one: check the API,
		// the cache may be old.
		claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if apierrors.IsNotFound(err) || claim.UID != ref.UID {
			claim = nil
		}
	}
	if claim == nil && volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
		// Confirm with the API that the claim is really gone.
		live, err := c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil && live.UID == ref.UID {
			claim = live
		}
	}

	switch {
	case claim == nil:
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, volume)
	case claim.Spec.VolumeName == "":
		if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
			c.recorder.Event(volume, corev1.EventTypeWarning, reasonVolumeMismatch,
				fmt.Sprintf("Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name))
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonVolumeMismatch,
				fmt.Sprintf("Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", volume.Name))
			return nil
		}
		// The claim has not caught up with the volume (a pre-bound
		// volume, or a binding in progress): the claim's sync binds it.
		c.claimQueue.Add(claimKey(claim))
		return nil
	case claim.Spec.VolumeName == volume.Name:
		_, err = c.updateVolumePhase(ctx, volume, corev1.VolumeBound, "")
		return err
	}
	// The claim is bound to another volume.
	if metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) && volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
		// Provisioned for this claim but no longer used: release it.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, volume)
	}
	// Bound by the controller to a claim that ended up with another
	// volume, or pre-bound by the user to a claim that chose another one:
	// the volume is free again (keeping a user's claim name).
	return c.unbindVolume(ctx, volume)
}

// unbindVolume removes the claim reference the controller set.
func (c *Controller) unbindVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	updated := volume.DeepCopy()
	if metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnBoundByController) {
		updated.Spec.ClaimRef = nil
		delete(updated.Annotations, storagehelpers.AnnBoundByController)
	} else {
		updated.Spec.ClaimRef.UID = ""
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	_, err = c.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return err
}

// reclaim applies a released volume's reclaim policy.
func (c *Controller) reclaim(ctx context.Context, volume *corev1.PersistentVolume) error {
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		klog.FromContext(ctx).V(4).Info("Volume is released and reclaim policy is Retain", "volume", volume.Name)
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		_, err := c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedRecycle, "No recycler plugin found for the volume!")
		return err
	case corev1.PersistentVolumeReclaimDelete:
		return c.deleteVolume(ctx, volume)
	}
	_, err := c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeUnknownReclaim, "Volume has unrecognized PersistentVolumeReclaimPolicy")
	return err
}

// errExternalDeleter means an external provisioner deletes the volume.
var errExternalDeleter = errors.New("external deleter")

// deleteVolume deletes the storage of a Delete volume (when an in-process
// provisioner made it) and then the PersistentVolume.
func (c *Controller) deleteVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	if volume.Status.Phase == corev1.VolumeFailed {
		return nil // a failed deletion is not retried (upstream's)
	}
	p, err := c.deleterFor(volume)
	if errors.Is(err, errExternalDeleter) {
		klog.FromContext(ctx).V(4).Info("Volume is deleted by an external provisioner", "volume", volume.Name)
		return nil
	}
	if err != nil {
		_, err = c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedDelete, err.Error())
		return err
	}
	// A volume that is bound again (a user rebound it) is not deleted.
	if used, err := c.volumeInUse(ctx, volume); err != nil || used {
		return err
	}
	if err := p.Delete(ctx, volume); err != nil {
		_, uerr := c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedDelete, err.Error())
		if uerr != nil {
			return uerr
		}
		return err
	}
	if volume.DeletionTimestamp == nil {
		if err := c.client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete persistent volume %s: %w", volume.Name, err)
		}
	}
	return c.removeDeletionFinalizer(ctx, volume.Name)
}

// volumeInUse re-reads the volume: its claim may have come back.
func (c *Controller) volumeInUse(ctx context.Context, volume *corev1.PersistentVolume) (bool, error) {
	if volume.Spec.ClaimRef == nil {
		return false, nil
	}
	claim, err := c.client.CoreV1().PersistentVolumeClaims(volume.Spec.ClaimRef.Namespace).Get(ctx, volume.Spec.ClaimRef.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return claim.UID == volume.Spec.ClaimRef.UID && claim.Spec.VolumeName == volume.Name, nil
}

// deleterFor is the in-process provisioner that made the volume.
func (c *Controller) deleterFor(volume *corev1.PersistentVolume) (Provisioner, error) {
	name, ok := volume.Annotations[storagehelpers.AnnDynamicallyProvisioned]
	if !ok {
		return nil, fmt.Errorf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", volume.Name)
	}
	if p, ok := c.provisioners[name]; ok {
		return p, nil
	}
	return nil, errExternalDeleter
}

// removeDeletionFinalizer drops kubernetes.io/pv-controller, which kept
// the PersistentVolume until its storage was deleted.
func (c *Controller) removeDeletionFinalizer(ctx context.Context, name string) error {
	volume, err := c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(volume.Finalizers, storagehelpers.PVDeletionInTreeProtectionFinalizer) {
		return nil
	}
	volume = volume.DeepCopy()
	volume.Finalizers = slices.DeleteFunc(volume.Finalizers, func(f string) bool { return f == storagehelpers.PVDeletionInTreeProtectionFinalizer })
	if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, volume, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("persistent volume controller can't update finalizer: %w", err)
	}
	return nil
}

// provision creates a volume for a claim of a storage class: in process
// when a provisioner serves the class, otherwise by naming the external
// provisioner on the claim and waiting.
func (c *Controller) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	class, err := c.classLister.Get(className)
	if err != nil {
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
		return nil
	}
	p, ok := c.provisioners[class.Provisioner]
	if !ok || class.Provisioner == storagehelpers.NotSupportedProvisioner {
		claim, err = c.setClaimProvisioner(ctx, claim, class.Provisioner)
		if err != nil {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("Error saving claim: %v", err))
			return err
		}
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonExternalProvisioning, fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' "+
			"or manually by the system administrator. If volume creation is delayed, please verify that "+
			"the provisioner is running and correctly registered.", class.Provisioner))
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if claim.Spec.DataSource != nil {
		msg := fmt.Sprintf("plugin %q is not a CSI plugin. Only CSI plugin can provision a claim with a datasource", p.Name())
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, msg)
		return errors.New(msg)
	}
	if claim, err = c.setClaimProvisioner(ctx, claim, class.Provisioner); err != nil {
		return err
	}
	pvName := provisionedVolumeNamePrefix + string(claim.UID)
	if _, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err == nil {
		return nil // provisioned already; the volume's sync binds it
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	var node *corev1.Node
	if name, ok := claim.Annotations[storagehelpers.AnnSelectedNode]; ok {
		if node, err = c.nodeLister.Get(name); err != nil {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("Failed to get target node: %v", err))
			return err
		}
	}
	volume, err := p.Provision(ctx, claim, class, node, pvName)
	if err != nil {
		c.rescheduleProvisioning(ctx, claim)
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("Failed to provision volume with StorageClass %q: %v", class.Name, err))
		return err
	}
	ref, err := reference.GetReference(scheme.Scheme, claim)
	if err != nil {
		return err
	}
	volume.Name = pvName
	volume.Spec.ClaimRef = ref
	volume.Spec.StorageClassName = class.Name
	volume.Status.Phase = corev1.VolumeBound
	metav1.SetMetaDataAnnotation(&volume.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
	metav1.SetMetaDataAnnotation(&volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned, p.Name())
	if volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
		volume.Finalizers = []string{storagehelpers.PVDeletionInTreeProtectionFinalizer}
	}
	for i := 0; i < createProvisionedPVRetries; i++ {
		if _, err = c.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{}); err == nil || apierrors.IsAlreadyExists(err) {
			err = nil
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(createProvisionedPVRetryWait):
		}
	}
	if err != nil {
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("Error creating provisioned PV object for claim %s: %v. Deleting the volume.", claimKey(claim), err))
		if derr := p.Delete(ctx, volume); derr != nil {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningCleanup,
				fmt.Sprintf("Error cleaning provisioned volume for claim %s: %v. Please delete manually.", claimKey(claim), derr))
		}
		return err
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, reasonProvisioningSucceeded, fmt.Sprintf("Successfully provisioned volume %s using %s", pvName, p.Name()))
	return nil
}

// setClaimProvisioner names the provisioner on the claim (both the GA and
// the beta annotation).
func (c *Controller) setClaimProvisioner(ctx context.Context, claim *corev1.PersistentVolumeClaim, name string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] == name && claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] == name {
		return claim, nil
	}
	updated := claim.DeepCopy()
	metav1.SetMetaDataAnnotation(&updated.ObjectMeta, storagehelpers.AnnStorageProvisioner, name)
	metav1.SetMetaDataAnnotation(&updated.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, name)
	return c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
}

// rescheduleProvisioning drops the selected node after a failed
// provisioning, so that the scheduler can pick another.
func (c *Controller) rescheduleProvisioning(ctx context.Context, claim *corev1.PersistentVolumeClaim) {
	if _, ok := claim.Annotations[storagehelpers.AnnSelectedNode]; !ok {
		return
	}
	updated := claim.DeepCopy()
	delete(updated.Annotations, storagehelpers.AnnSelectedNode)
	if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		logSyncError(ctx, err, "Failed to delete annotation 'volume.kubernetes.io/selected-node' for PersistentVolumeClaim", "claim", claimKey(claim))
	}
}
