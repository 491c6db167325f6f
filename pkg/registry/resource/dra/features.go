package dra

import "k8s.io/component-base/featuregate"

// Upstream's DRA feature gates, by name. They are defined in
// k8s.io/kubernetes/pkg/features, which skiff does not import directly;
// upstream's rule packages register them in utilfeature.DefaultFeatureGate.
const (
	AdminAccess                              featuregate.Feature = "DRAAdminAccess"
	ConsumableCapacity                       featuregate.Feature = "DRAConsumableCapacity"
	DeviceBindingConditions                  featuregate.Feature = "DRADeviceBindingConditions"
	DeviceCompatibilityGroups                featuregate.Feature = "DRADeviceCompatibilityGroups"
	DeviceTaints                             featuregate.Feature = "DRADeviceTaints"
	ExtendedResource                         featuregate.Feature = "DRAExtendedResource"
	ListTypeAttributes                       featuregate.Feature = "DRAListTypeAttributes"
	NodeAllocatableResources                 featuregate.Feature = "DRANodeAllocatableResources"
	OptionalNodeOperations                   featuregate.Feature = "DRAOptionalNodeOperations"
	PartitionableDevices                     featuregate.Feature = "DRAPartitionableDevices"
	PartitionableDevicesType                 featuregate.Feature = "DRAPartitionableDevicesType"
	ResourceClaimDeviceStatus                featuregate.Feature = "DRAResourceClaimDeviceStatus"
	ResourceClaimGranularStatusAuthorization featuregate.Feature = "DRAResourceClaimGranularStatusAuthorization"
)
