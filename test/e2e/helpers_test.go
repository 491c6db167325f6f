//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// readStatus decodes a metav1.Status response body (empty if it is not one).
func readStatus(resp *http.Response) metav1.Status {
	var st metav1.Status
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &st)
	if st.Message == "" {
		st.Message = string(data)
	}
	return st
}
