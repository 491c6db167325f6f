package cleaner

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpired(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	c := &Controller{now: func() time.Time { return now }}
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	cond := func(t certificatesv1.RequestConditionType, at metav1.Time) []certificatesv1.CertificateSigningRequestCondition {
		return []certificatesv1.CertificateSigningRequestCondition{{Type: t, LastUpdateTime: at}}
	}
	for name, tc := range map[string]struct {
		csr  certificatesv1.CertificateSigningRequest
		gone bool
	}{
		"fresh pending":       {certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(time.Hour)}}, false},
		"old pending":         {certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(25 * time.Hour)}}, true},
		"recently denied":     {certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateDenied, ago(time.Minute))}}, false},
		"denied long ago":     {certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateDenied, ago(2*time.Hour))}}, true},
		"issued long ago":     {certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateApproved, ago(2*time.Hour)), Certificate: []byte("x")}}, true},
		"approved, unissued":  {certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateApproved, ago(2*time.Hour))}}, false},
		"failed an hour+ ago": {certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond(certificatesv1.CertificateFailed, ago(61*time.Minute))}}, true},
	} {
		if got := c.expired(&tc.csr) != ""; got != tc.gone {
			t.Errorf("%s: cleaned %v, want %v", name, got, tc.gone)
		}
	}
}
