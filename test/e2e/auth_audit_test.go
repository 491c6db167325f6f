//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestAuthAuditAndEncryption: with an audit policy, each request writes
// one JSON event with its user, verb, object and status; with an
// encryption config, Secrets are not plaintext in etcd yet read back fine.
func TestAuthAuditAndEncryption(t *testing.T) {
	cfgDir := t.TempDir()
	policy := filepath.Join(cfgDir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
- level: Metadata
`), 0o600); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	encryption := filepath.Join(cfgDir, "encryption.yaml")
	if err := os.WriteFile(encryption, []byte(fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys: [{name: key1, secret: %s}]
  - identity: {}
`, base64.StdEncoding.EncodeToString(key))), 0o600); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(cfgDir, "audit.log")
	s := framework.StartServer(t, framework.WithArgs("--audit-policy-file="+policy, "--audit-log-path="+auditLog,
		"--audit-log-maxsize=1", "--encryption-provider-config="+encryption))

	kubectlMust(t, s, "", "create", "namespace", "audited")
	kubectlMust(t, s, "", "create", "secret", "generic", "db", "-n", "audited", "--from-literal=password=hunter2-plaintext")

	t.Run("audit events", func(t *testing.T) {
		var created *auditv1.Event
		var events int
		eventually(t, 15*time.Second, "audit event for the secret", func() (bool, error) {
			created, events = nil, 0
			f, err := os.Open(auditLog)
			if err != nil {
				return false, err
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var ev auditv1.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					return false, fmt.Errorf("not JSON lines: %v: %s", err, sc.Text())
				}
				if ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.ObjectRef.Name == "db" && ev.Verb == "create" {
					events++
					created = &ev
				}
			}
			return created != nil, nil
		})
		if events != 1 {
			t.Errorf("%d events for one create, want 1", events)
		}
		if created.User.Username != "kubernetes-admin" || created.ObjectRef.Namespace != "audited" ||
			created.ResponseStatus == nil || created.ResponseStatus.Code != 201 || created.Stage != auditv1.StageResponseComplete || created.Level != "Metadata" {
			t.Errorf("event = %+v", created)
		}
		if bytes.Contains(mustRead(t, auditLog), []byte("hunter2-plaintext")) {
			t.Error("Metadata level leaked the secret into the audit log")
		}
	})

	t.Run("secrets encrypted at rest", func(t *testing.T) {
		out := kubectlMust(t, s, "", "get", "secret", "db", "-n", "audited", "-o", "jsonpath={.data.password}")
		if v, _ := base64.StdEncoding.DecodeString(out); string(v) != "hunter2-plaintext" {
			t.Errorf("read back %q", v)
		}
		raw := etcdValue(t, s, "/registry/secrets/audited/db")
		if !bytes.HasPrefix(raw, []byte("k8s:enc:aescbc:v1:key1:")) || bytes.Contains(raw, []byte("hunter2")) {
			t.Errorf("stored value is not encrypted: %q", raw[:min(len(raw), 80)])
		}
		// Other resources stay as they were.
		kubectlMust(t, s, "", "create", "configmap", "plain", "-n", "audited", "--from-literal=k=visible-value")
		if raw := etcdValue(t, s, "/registry/configmaps/audited/plain"); !bytes.Contains(raw, []byte("visible-value")) {
			t.Errorf("configmap unexpectedly transformed: %q", raw[:min(len(raw), 80)])
		}
	})

	t.Run("components never use the admin identity", func(t *testing.T) {
		checkComponentIdentities(t, s)
		// The controller-manager's requests in the audit log are its own
		// or its controllers' service accounts'.
		eventually(t, 15*time.Second, "controller-manager requests in the audit log", func() (bool, error) {
			seen := 0
			for _, line := range bytes.Split(mustRead(t, auditLog), []byte("\n")) {
				var ev auditv1.Event
				if json.Unmarshal(line, &ev) != nil || !strings.Contains(ev.UserAgent, "/skiff-controller-manager/") {
					continue
				}
				seen++
				if u := ev.User.Username; u != "system:kube-controller-manager" && !strings.HasPrefix(u, "system:serviceaccount:kube-system:") {
					t.Errorf("controller-manager request as %q (%s %s)", u, ev.Verb, ev.RequestURI)
				}
			}
			return seen > 0, nil
		})
	})
}

// checkComponentIdentities reads every kubeconfig skiff wrote and checks
// that only admin.kubeconfig holds the admin (system:masters) certificate.
func checkComponentIdentities(t *testing.T, s *framework.Server) {
	t.Helper()
	want := map[string]string{
		"controller-manager.kubeconfig": "system:kube-controller-manager",
		"scheduler.kubeconfig":          "system:kube-scheduler",
		"kube-proxy.kubeconfig":         "system:kube-proxy",
	}
	files, err := filepath.Glob(filepath.Join(s.DataDir, "*.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "admin.kubeconfig" {
			continue
		}
		cfg, err := clientcmd.LoadFromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, auth := range cfg.AuthInfos {
			cert, err := parseCert(auth.ClientCertificateData)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, o := range cert.Subject.Organization {
				if o == "system:masters" {
					t.Errorf("%s is in system:masters", name)
				}
			}
			if cert.Subject.CommonName == "kubernetes-admin" {
				t.Errorf("%s holds the admin certificate", name)
			}
			if u, ok := want[name]; ok && cert.Subject.CommonName != u {
				t.Errorf("%s is %q, want %q", name, cert.Subject.CommonName, u)
			}
			if name == "kubelet.kubeconfig" && (!strings.HasPrefix(cert.Subject.CommonName, "system:node:") || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes") {
				t.Errorf("kubelet identity = %v", cert.Subject)
			}
			found[name] = true
		}
	}
	for name := range want {
		if !found[name] {
			t.Errorf("%s was not written", name)
		}
	}
	if !found["kubelet.kubeconfig"] {
		t.Error("kubelet.kubeconfig was not written")
	}
}

func parseCert(pemData []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, fmt.Errorf("no certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var etcdURL = regexp.MustCompile(`Embedded etcd ready" url="([^"]+)"`)

// etcdValue reads key from the embedded etcd through its JSON gateway.
func etcdValue(t *testing.T, s *framework.Server, key string) []byte {
	t.Helper()
	m := etcdURL.FindSubmatch(mustRead(t, filepath.Join(s.DataDir, "skiff.log")))
	if m == nil {
		t.Fatal("embedded etcd URL not in the log")
	}
	body := fmt.Sprintf(`{"key":%q}`, base64.StdEncoding.EncodeToString([]byte(key)))
	resp, err := http.Post(string(m[1])+"/v3/kv/range", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		KVs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.KVs) != 1 {
		t.Fatalf("etcd key %s: %d values", key, len(out.KVs))
	}
	return out.KVs[0].Value
}
