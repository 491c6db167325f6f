package resourceclaim

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
)

func result(device string) resourcev1.DeviceRequestAllocationResult {
	return resourcev1.DeviceRequestAllocationResult{Request: "r", Driver: "d.example.com", Pool: "p", Device: device}
}

func deviceStatus(device string) resourcev1.AllocatedDeviceStatus {
	return resourcev1.AllocatedDeviceStatus{Driver: "d.example.com", Pool: "p", Device: device}
}

func claimWith(results []resourcev1.DeviceRequestAllocationResult, devices ...resourcev1.AllocatedDeviceStatus) *resourcev1.ResourceClaim {
	c := &resourcev1.ResourceClaim{}
	if results != nil {
		c.Status.Allocation = &resourcev1.AllocationResult{Devices: resourcev1.DeviceAllocationResult{Results: results}}
	}
	c.Status.Devices = devices
	return c
}

func TestDropDeallocatedDeviceStatus(t *testing.T) {
	tests := []struct {
		name       string
		old, claim *resourcev1.ResourceClaim
		want       []string
	}{
		{
			name:  "status of a device still allocated stays",
			old:   claimWith([]resourcev1.DeviceRequestAllocationResult{result("a")}),
			claim: claimWith([]resourcev1.DeviceRequestAllocationResult{result("a")}, deviceStatus("a")),
			want:  []string{"a"},
		},
		{
			name:  "status of a deallocated device goes",
			old:   claimWith([]resourcev1.DeviceRequestAllocationResult{result("a"), result("b")}),
			claim: claimWith([]resourcev1.DeviceRequestAllocationResult{result("a")}, deviceStatus("a"), deviceStatus("b")),
			want:  []string{"a"},
		},
		{
			name:  "whole allocation removed",
			old:   claimWith([]resourcev1.DeviceRequestAllocationResult{result("a")}),
			claim: claimWith(nil, deviceStatus("a")),
			want:  nil,
		},
		{
			name:  "status written before allocation stays",
			old:   claimWith(nil),
			claim: claimWith(nil, deviceStatus("x")),
			want:  []string{"x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dropDeallocatedDeviceStatus(tc.claim, tc.old)
			var got []string
			for _, d := range tc.claim.Status.Devices {
				got = append(got, d.Device)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("devices = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("devices = %v, want %v", got, tc.want)
				}
			}
			if tc.want == nil && tc.claim.Status.Devices != nil {
				t.Errorf("empty device status must be nil")
			}
		})
	}
}
