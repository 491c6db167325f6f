package endpoint

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWarnings(t *testing.T) {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "e"},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "fd00::0001"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
		}},
	}
	warnings := endpointsWarnings(ep)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "subsets[0].addresses[0].ip:") {
		t.Fatalf("warnings = %q, want one about subsets[0].addresses[0].ip", warnings)
	}
	ep.Labels = map[string]string{managedByLabel: endpointsController}
	if warnings := endpointsWarnings(ep); len(warnings) != 0 {
		t.Fatalf("the endpoints controller's objects got warnings: %q", warnings)
	}
}
