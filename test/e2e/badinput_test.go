//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestBadInputGetsUpstreamErrors sends malformed and invalid requests and
// checks each gets upstream's 4xx status and reason, never a 500.
func TestBadInputGetsUpstreamErrors(t *testing.T) {
	ctx := context.Background()
	s := framework.StartServer(t)
	cfg := s.RESTConfig()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := cfg.Host

	// An object to update with a stale resourceVersion.
	if _, err := s.Kubectl(ctx, "", "create", "configmap", "stale", "--from-literal=a=1"); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Kubectl(ctx, "", "label", "configmap", "stale", "x=1"); err != nil {
		t.Fatal(out, err)
	}

	huge := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"` + strings.Repeat("x", 3*1024*1024+10) + `"}}`
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantCode    int
		wantReason  metav1.StatusReason
		wantMessage string
	}{
		{"malformed JSON", "POST", "/api/v1/namespaces/default/configmaps", "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":`, 400, metav1.StatusReasonBadRequest, ""},
		{"malformed YAML", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml",
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n", 400, metav1.StatusReasonBadRequest, ""},
		{"malformed protobuf", "POST", "/api/v1/namespaces/default/configmaps", "application/vnd.kubernetes.protobuf",
			"k8s\x00\x0a\x02garbage", 400, metav1.StatusReasonBadRequest, ""},
		{"unknown field with fieldValidation=Strict", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"bogus":1}`, 400, metav1.StatusReasonBadRequest, `strict decoding error: unknown field "bogus"`},
		{"invalid name", "POST", "/api/v1/namespaces/default/configmaps", "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}`, 422, metav1.StatusReasonInvalid, `metadata.name: Invalid value: "Bad_Name"`},
		{"body over 3 MiB", "POST", "/api/v1/namespaces/default/configmaps", "application/json",
			huge, 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		{"stale resourceVersion on update", "PUT", "/api/v1/namespaces/default/configmaps/stale", "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"stale","resourceVersion":"1"},"data":{"a":"2"}}`, 409, metav1.StatusReasonConflict, "the object has been modified"},
		{"create in a namespace that does not exist", "POST", "/api/v1/namespaces/nowhere/configmaps", "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, 404, metav1.StatusReasonNotFound, `namespaces "nowhere" not found`},
		{"wrong kind for the resource", "POST", "/api/v1/namespaces/default/configmaps", "application/json",
			`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"unknown apiVersion", "POST", "/api/v1/namespaces/default/configmaps", "application/json",
			`{"apiVersion":"nope/v9","kind":"ConfigMap","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"invalid label selector", "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(", "", "",
			400, metav1.StatusReasonBadRequest, "unable to parse requirement"},
		{"invalid field selector", "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=data.a%3Db", "", "",
			400, metav1.StatusReasonBadRequest, `"data.a" is not a known field selector`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.wantCode, readStatus(resp).Message)
			}
			status := readStatus(resp)
			if status.Reason != tc.wantReason {
				t.Errorf("reason %q, want %q (message %q)", status.Reason, tc.wantReason, status.Message)
			}
			if !strings.Contains(status.Message, tc.wantMessage) {
				t.Errorf("message %q does not contain %q", status.Message, tc.wantMessage)
			}
		})
	}
	// The server is still healthy afterwards.
	if _, err := s.Client().CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("server unhealthy after bad input: %v", err)
	}
}
