//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// corednsBinary is SKIFF_COREDNS_BIN, or the binary
// hack/images/coredns/build.sh leaves in _output/cache.
func corednsBinary(t *testing.T) string {
	if b := os.Getenv("SKIFF_COREDNS_BIN"); b != "" {
		return b
	}
	_, file, _, _ := runtime.Caller(0)
	b := filepath.Join(filepath.Dir(file), "..", "..", "_output", "cache", "coredns-v1.14.7", "coredns")
	if _, err := os.Stat(b); err != nil {
		t.Skip("no CoreDNS binary: run hack/images/coredns/build.sh or set SKIFF_COREDNS_BIN")
	}
	return b
}

// TestClusterDNSRecords runs the CoreDNS that the addon deploys, with the
// addon's kubernetes plugin settings, on loopback against skiff, and
// checks the records pods get: Services (A, SRV), headless services and
// their pods' hostnames, ExternalName CNAMEs. It has no forward plugin:
// no query leaves the host.
func TestClusterDNSRecords(t *testing.T) {
	bin := corednsBinary(t)
	s := framework.StartServer(t, framework.WithArgs("--disable", "coredns"))
	c := s.Client()
	ctx := context.Background()

	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = c.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hl"},
		Spec:       v1.ServiceSpec{ClusterIP: v1.ClusterIPNone, Ports: []v1.ServicePort{{Name: "http", Port: 80}}},
	}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = c.DiscoveryV1().EndpointSlices("default").Create(ctx, &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "hl-abc", Labels: map[string]string{discovery.LabelServiceName: "hl"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(v1.ProtocolTCP)}},
		Endpoints: []discovery.Endpoint{
			{Addresses: []string{"10.244.7.10"}, Hostname: ptr.To("pod-a"), Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.244.7.11"}, Hostname: ptr.To("pod-b"), Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}},
		},
	}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = c.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeExternalName, ExternalName: "db.example.invalid"},
	}, metav1.CreateOptions{})
	mustCreate(err)
	web, err := c.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	mustCreate(err)

	// CoreDNS on a free loopback port.
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	dir := t.TempDir()
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    errors
    ready 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       kubeconfig %s
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    loadbalance
}
`, port, s.Kubeconfig())
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-conf", filepath.Join(dir, "Corefile"))
	logf, _ := os.Create(filepath.Join(dir, "coredns.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "coredns.log"))
			t.Logf("coredns log:\n%s", b)
		}
	})
	server := fmt.Sprintf("127.0.0.1:%d", port)

	check := func(name string, qtype dnsmessage.Type, want ...string) {
		t.Helper()
		sort.Strings(want)
		var got []string
		waitUntil(t, 20*time.Second, fmt.Sprintf("%s %s = %v", name, qtype, want), func() (bool, string) {
			var err error
			got, err = query(server, name, qtype)
			if err != nil {
				return false, err.Error()
			}
			return strings.Join(got, " ") == strings.Join(want, " "), strings.Join(got, " ")
		})
	}
	check("web.default.svc.cluster.local.", dnsmessage.TypeA, web.Spec.ClusterIP)
	check("_http._tcp.web.default.svc.cluster.local.", dnsmessage.TypeSRV, "0 100 80 web.default.svc.cluster.local.")
	check("hl.default.svc.cluster.local.", dnsmessage.TypeA, "10.244.7.10", "10.244.7.11")
	check("pod-a.hl.default.svc.cluster.local.", dnsmessage.TypeA, "10.244.7.10")
	check("ext.default.svc.cluster.local.", dnsmessage.TypeCNAME, "db.example.invalid.")
	check("kubernetes.default.svc.cluster.local.", dnsmessage.TypeA, "10.96.0.1")
	check("nothere.default.svc.cluster.local.", dnsmessage.TypeA, "NXDOMAIN")
}

// query sends one DNS question over UDP and returns the answers as text
// ("NXDOMAIN" for a name error).
func query(server, name string, qtype dnsmessage.Type) ([]string, error) {
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: 42, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET}},
	}
	packed, err := msg.Pack()
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("udp", server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(packed); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	var resp dnsmessage.Message
	if err := resp.Unpack(buf[:n]); err != nil {
		return nil, err
	}
	if resp.RCode == dnsmessage.RCodeNameError {
		return []string{"NXDOMAIN"}, nil
	}
	var out []string
	for _, a := range resp.Answers {
		switch b := a.Body.(type) {
		case *dnsmessage.AResource:
			out = append(out, net.IP(b.A[:]).String())
		case *dnsmessage.SRVResource:
			out = append(out, fmt.Sprintf("%d %d %d %s", b.Priority, b.Weight, b.Port, b.Target))
		case *dnsmessage.CNAMEResource:
			out = append(out, b.CNAME.String())
		}
	}
	sort.Strings(out)
	return out, nil
}
