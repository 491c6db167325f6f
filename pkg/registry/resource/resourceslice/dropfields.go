package resourceslice

import (
	resourcev1 "k8s.io/api/resource/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"

	"github.com/skiff-project/skiff/pkg/registry/resource/dra"
)

// dropDisabledFields clears the fields of features that are off, unless the
// stored slice (nil on create) already uses them: upstream's rules.
func dropDisabledFields(slice, old *resourcev1.ResourceSlice) {
	gate := utilfeature.DefaultFeatureGate
	spec := &slice.Spec
	if !gate.Enabled(dra.DeviceTaints) && !anyDevice(old, func(d *resourcev1.Device) bool { return len(d.Taints) > 0 }) {
		for i := range spec.Devices {
			spec.Devices[i].Taints = nil
		}
	}
	if !gate.Enabled(dra.PartitionableDevices) && !usesPartitionableDevices(old) {
		spec.SharedCounters = nil
		spec.PerDeviceNodeSelection = nil
		for i := range spec.Devices {
			d := &spec.Devices[i]
			d.ConsumesCounters = nil
			d.NodeName = nil
			d.NodeSelector = nil
			d.AllNodes = nil
		}
	}
	bindingConditionsOn := gate.Enabled(dra.DeviceBindingConditions) && gate.Enabled(dra.ResourceClaimDeviceStatus)
	if !bindingConditionsOn && !anyDevice(old, func(d *resourcev1.Device) bool {
		return len(d.BindingConditions) > 0 || len(d.BindingFailureConditions) > 0 || d.BindsToNode != nil
	}) {
		for i := range spec.Devices {
			d := &spec.Devices[i]
			d.BindingConditions = nil
			d.BindingFailureConditions = nil
			d.BindsToNode = nil
		}
	}
	if !gate.Enabled(dra.ConsumableCapacity) && !anyDevice(old, usesConsumableCapacity) {
		for i := range spec.Devices {
			d := &spec.Devices[i]
			d.AllowMultipleAllocations = nil
			for name, c := range d.Capacity {
				c.RequestPolicy = nil
				d.Capacity[name] = c
			}
		}
	}
	if !gate.Enabled(dra.DeviceCompatibilityGroups) && !anyDevice(old, usesCompatibilityGroups) {
		for i := range spec.Devices {
			for j := range spec.Devices[i].ConsumesCounters {
				spec.Devices[i].ConsumesCounters[j].CompatibilityGroups = nil
			}
		}
	}
	if !gate.Enabled(dra.NodeAllocatableResources) && !anyDevice(old, func(d *resourcev1.Device) bool { return len(d.NodeAllocatableResources) > 0 }) {
		for i := range spec.Devices {
			spec.Devices[i].NodeAllocatableResources = nil
		}
	}
	if !gate.Enabled(dra.ListTypeAttributes) && !anyDevice(old, usesListAttributes) {
		for i := range spec.Devices {
			attrs := spec.Devices[i].Attributes
			for name, a := range attrs {
				a.BoolValues, a.IntValues, a.StringValues, a.VersionValues = nil, nil, nil, nil
				attrs[name] = a
			}
		}
	}
	if !gate.Enabled(dra.PartitionableDevicesType) && (old == nil || old.Spec.PartitionTypeAttribute == nil) {
		spec.PartitionTypeAttribute = nil
	}
	if !gate.Enabled(dra.OptionalNodeOperations) && (old == nil || len(old.Spec.SkipNodeOperations) == 0) {
		spec.SkipNodeOperations = nil
	}
}

// anyDevice reports whether some device of slice (which may be nil) uses a
// feature.
func anyDevice(slice *resourcev1.ResourceSlice, uses func(*resourcev1.Device) bool) bool {
	if slice == nil {
		return false
	}
	for i := range slice.Spec.Devices {
		if uses(&slice.Spec.Devices[i]) {
			return true
		}
	}
	return false
}

func usesPartitionableDevices(slice *resourcev1.ResourceSlice) bool {
	if slice == nil {
		return false
	}
	if len(slice.Spec.SharedCounters) > 0 || slice.Spec.PerDeviceNodeSelection != nil {
		return true
	}
	return anyDevice(slice, func(d *resourcev1.Device) bool {
		return len(d.ConsumesCounters) > 0 || d.NodeName != nil || d.NodeSelector != nil || d.AllNodes != nil
	})
}

func usesConsumableCapacity(d *resourcev1.Device) bool {
	if d.AllowMultipleAllocations != nil {
		return true
	}
	for _, c := range d.Capacity {
		if c.RequestPolicy != nil {
			return true
		}
	}
	return false
}

func usesCompatibilityGroups(d *resourcev1.Device) bool {
	for _, c := range d.ConsumesCounters {
		if len(c.CompatibilityGroups) > 0 {
			return true
		}
	}
	return false
}

func usesListAttributes(d *resourcev1.Device) bool {
	for _, a := range d.Attributes {
		if a.BoolValues != nil || a.IntValues != nil || a.StringValues != nil || a.VersionValues != nil {
			return true
		}
	}
	return false
}
