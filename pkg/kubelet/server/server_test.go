package server

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
)

type fakeHost struct{ Host }

func (fakeHost) NodeName() string { return "n1" }

func TestAttributes(t *testing.T) {
	s := &Server{host: fakeHost{}}
	u := &user.DefaultInfo{Name: "kube-apiserver-kubelet-client"}
	for _, tt := range []struct{ method, path, verb, sub string }{
		{"GET", "/stats/summary", "get", "stats"},
		{"GET", "/metrics/cadvisor", "get", "metrics"},
		{"GET", "/containerLogs/ns/p/c", "get", "proxy"},
		{"POST", "/exec/ns/p/c", "create", "proxy"},
		{"GET", "/pods", "get", "pods"},
		{"GET", "/healthz", "get", "healthz"},
	} {
		a := s.attributes(u, httptest.NewRequest(tt.method, tt.path, nil))
		if a.GetVerb() != tt.verb || a.GetResource() != "nodes" || a.GetSubresource() != tt.sub || a.GetName() != "n1" {
			t.Errorf("%s %s -> %s nodes/%s %s", tt.method, tt.path, a.GetVerb(), a.GetSubresource(), a.GetName())
		}
	}
}

func TestLogOptions(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	q, _ := url.ParseQuery("follow=true&timestamps=true&tailLines=5&limitBytes=100&sinceSeconds=60")
	o, err := logOptions(q, now)
	if err != nil || !o.Follow || !o.Timestamp || *o.TailLines != 5 || *o.LimitBytes != 100 || !o.Since.Equal(now.Add(-time.Minute)) {
		t.Fatalf("options = %+v, %v", o, err)
	}
	q, _ = url.ParseQuery("sinceTime=2026-01-01T11:00:00Z")
	if o, err := logOptions(q, now); err != nil || !o.Since.Equal(now.Add(-time.Hour)) {
		t.Errorf("sinceTime: %+v %v", o, err)
	}
	for _, bad := range []string{"tailLines=-1", "limitBytes=0", "sinceSeconds=x", "sinceTime=yesterday"} {
		q, _ := url.ParseQuery(bad)
		if _, err := logOptions(q, now); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestStreamFlags(t *testing.T) {
	q, _ := url.ParseQuery("input=1&output=1&tty=1")
	if in, out, errs, tty := streamFlags(q); !in || !out || errs || !tty {
		t.Errorf("flags = %v %v %v %v", in, out, errs, tty)
	}
}
