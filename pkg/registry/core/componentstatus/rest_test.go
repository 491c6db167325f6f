package componentstatus

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/storage/storagebackend"
)

// fakeProber answers a fixed verdict.
type fakeProber struct {
	result  Result
	message string
	err     error
}

func (p fakeProber) Probe(context.Context) (Result, string, error) { return p.result, p.message, p.err }

func fakeServers() map[string]Prober {
	return map[string]Prober{
		"etcd-0":    fakeProber{result: Success, message: "ok"},
		"scheduler": fakeProber{result: Failure, message: "connection refused"},
		"broken":    fakeProber{result: Unknown, err: errors.New("no prober")},
	}
}

func TestGetAndList(t *testing.T) {
	r := NewREST(fakeServers)
	obj, err := r.Get(context.Background(), "etcd-0", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := obj.(*corev1.ComponentStatus)
	if c := cs.Conditions[0]; cs.Name != "etcd-0" || c.Type != corev1.ComponentHealthy || c.Status != corev1.ConditionTrue || c.Message != "ok" {
		t.Errorf("etcd-0 = %+v", cs)
	}
	if _, err := r.Get(context.Background(), "nope", &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("unknown component: %v", err)
	}

	list, err := r.List(context.Background(), &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items := list.(*corev1.ComponentStatusList).Items
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	want := map[string]corev1.ComponentCondition{
		"broken":    {Type: corev1.ComponentHealthy, Status: corev1.ConditionUnknown, Error: "no prober"},
		"etcd-0":    {Type: corev1.ComponentHealthy, Status: corev1.ConditionTrue, Message: "ok"},
		"scheduler": {Type: corev1.ComponentHealthy, Status: corev1.ConditionFalse, Message: "connection refused"},
	}
	if len(items) != len(want) {
		t.Fatalf("%d items, want %d", len(items), len(want))
	}
	for _, item := range items {
		if item.Conditions[0] != want[item.Name] {
			t.Errorf("%s: %+v, want %+v", item.Name, item.Conditions[0], want[item.Name])
		}
	}

	selected, err := r.List(context.Background(), &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "scheduler")})
	if err != nil {
		t.Fatal(err)
	}
	if items := selected.(*corev1.ComponentStatusList).Items; len(items) != 1 || items[0].Name != "scheduler" {
		t.Errorf("field selector metadata.name=scheduler: %+v", items)
	}
}

func TestHTTPProber(t *testing.T) {
	healthy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer healthy.Close()
	sick := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad", http.StatusInternalServerError) }))
	defer sick.Close()
	// The prober does not verify the components' certificates, as upstream.
	client := DefaultServers(storagebackend.Config{})()["scheduler"].(*HTTPProber).Client

	if result, msg, err := (&HTTPProber{URL: healthy.URL + "/healthz", Client: client}).Probe(context.Background()); result != Success || msg != "ok" || err != nil {
		t.Errorf("healthy: %v %q %v", result, msg, err)
	}
	if result, msg, err := (&HTTPProber{URL: sick.URL + "/healthz", Client: client}).Probe(context.Background()); result != Failure || msg != "HTTP probe failed with statuscode: 500" || err != nil {
		t.Errorf("unhealthy: %v %q %v", result, msg, err)
	}
	addr := healthy.Listener.Addr().String()
	healthy.Close()
	result, msg, err := (&HTTPProber{URL: "https://" + addr + "/healthz", Client: client}).Probe(context.Background())
	if result != Failure || !strings.Contains(msg, "connection refused") || err != nil {
		t.Errorf("down: %v %q %v", result, msg, err)
	}
}
