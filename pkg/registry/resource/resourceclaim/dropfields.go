package resourceclaim

import (
	resourcev1 "k8s.io/api/resource/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"

	"github.com/skiff-project/skiff/pkg/registry/resource/dra"
)

// dropDisabledStatusFields clears status fields of disabled features, unless
// the stored claim already uses them (upstream's rules).
func dropDisabledStatusFields(claim, old *resourcev1.ResourceClaim) {
	gate := utilfeature.DefaultFeatureGate
	if !gate.Enabled(dra.ResourceClaimDeviceStatus) && !usesDeviceStatus(old) {
		claim.Status.Devices = nil
	}
	results := allocationResults(claim)
	if !gate.Enabled(dra.AdminAccess) && !usesAdminAccess(old) {
		for i := range results {
			results[i].AdminAccess = nil
		}
	}
	if !gate.Enabled(dra.ConsumableCapacity) && !usesConsumableCapacity(old) {
		for i := range results {
			results[i].ShareID = nil
			results[i].ConsumedCapacity = nil
		}
		for i := range claim.Status.Devices {
			claim.Status.Devices[i].ShareID = nil
		}
	}
	if !gate.Enabled(dra.DeviceBindingConditions) && !usesBindingConditions(old) {
		for i := range results {
			results[i].BindingConditions = nil
			results[i].BindingFailureConditions = nil
		}
	}
	if !gate.Enabled(dra.OptionalNodeOperations) && !usesSkipNodeOperations(old) {
		for i := range results {
			results[i].SkipNodeOperations = nil
		}
	}
}

func allocationResults(claim *resourcev1.ResourceClaim) []resourcev1.DeviceRequestAllocationResult {
	if claim == nil || claim.Status.Allocation == nil {
		return nil
	}
	return claim.Status.Allocation.Devices.Results
}

func usesDeviceStatus(claim *resourcev1.ResourceClaim) bool {
	return claim != nil && len(claim.Status.Devices) > 0
}

func usesAdminAccess(claim *resourcev1.ResourceClaim) bool {
	if claim == nil {
		return false
	}
	if dra.ClaimSpecUsesAdminAccess(&claim.Spec) {
		return true
	}
	for _, r := range allocationResults(claim) {
		if r.AdminAccess != nil {
			return true
		}
	}
	return false
}

func usesConsumableCapacity(claim *resourcev1.ResourceClaim) bool {
	if claim == nil {
		return false
	}
	if dra.ClaimSpecUsesConsumableCapacity(&claim.Spec) {
		return true
	}
	for _, r := range allocationResults(claim) {
		if r.ShareID != nil || r.ConsumedCapacity != nil {
			return true
		}
	}
	for _, d := range claim.Status.Devices {
		if d.ShareID != nil {
			return true
		}
	}
	return false
}

func usesBindingConditions(claim *resourcev1.ResourceClaim) bool {
	for _, r := range allocationResults(claim) {
		if r.BindingConditions != nil || r.BindingFailureConditions != nil {
			return true
		}
	}
	return false
}

func usesSkipNodeOperations(claim *resourcev1.ResourceClaim) bool {
	for _, r := range allocationResults(claim) {
		if len(r.SkipNodeOperations) > 0 {
			return true
		}
	}
	return false
}

// deviceKey identifies an allocated device (and its share).
type deviceKey struct{ driver, pool, device, shareID string }

// dropDeallocatedDeviceStatus removes the status of devices that were
// allocated before this update and are not any more.
func dropDeallocatedDeviceStatus(claim, old *resourcev1.ResourceClaim) {
	if !utilfeature.DefaultFeatureGate.Enabled(dra.ResourceClaimDeviceStatus) && !usesDeviceStatus(old) {
		return
	}
	deallocated := map[deviceKey]bool{}
	for _, r := range allocationResults(old) {
		deallocated[resultKey(r)] = true
	}
	for _, r := range allocationResults(claim) {
		delete(deallocated, resultKey(r))
	}
	kept := claim.Status.Devices[:0]
	for _, d := range claim.Status.Devices {
		k := deviceKey{driver: d.Driver, pool: d.Pool, device: d.Device}
		if d.ShareID != nil {
			k.shareID = *d.ShareID
		}
		if !deallocated[k] {
			kept = append(kept, d)
		}
	}
	claim.Status.Devices = kept
	if len(claim.Status.Devices) == 0 {
		claim.Status.Devices = nil
	}
}

func resultKey(r resourcev1.DeviceRequestAllocationResult) deviceKey {
	k := deviceKey{driver: r.Driver, pool: r.Pool, device: r.Device}
	if r.ShareID != nil {
		k.shareID = string(*r.ShareID)
	}
	return k
}
