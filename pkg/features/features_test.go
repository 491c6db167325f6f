package features

import "testing"

func TestUpstreamGatesAreRegistered(t *testing.T) {
	// Beta and on by default in v1.37; a panic means the gates are unknown.
	if !Enabled("PodLevelResources") {
		t.Errorf("PodLevelResources is off; upstream v1.37 has it on by default")
	}
	if Enabled("EvictionRequestAPI") {
		t.Errorf("EvictionRequestAPI is on; it is alpha (off) in upstream v1.37")
	}
}
