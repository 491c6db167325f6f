package main

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-project/skiff/pkg/controllermanager"
)

func TestParseControllerManagerArgs(t *testing.T) {
	cm := controllermanager.NewOptions()
	if err := parseControllerManagerArgs(cm, []string{"node-monitor-grace-period=10s", "--concurrent-syncs=2"}); err != nil {
		t.Fatal(err)
	}
	if cm.NodeLifecycle.MonitorGracePeriod != 10*time.Second || cm.ConcurrentSyncs != 2 {
		t.Errorf("grace period %v, concurrent syncs %d", cm.NodeLifecycle.MonitorGracePeriod, cm.ConcurrentSyncs)
	}
	for _, bad := range []string{"no-such-flag=1", "node-monitor-grace-period=soon"} {
		if err := parseControllerManagerArgs(cm, []string{bad}); err == nil || !strings.Contains(err.Error(), "--kube-controller-manager-arg") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
