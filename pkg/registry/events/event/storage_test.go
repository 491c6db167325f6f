package event

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/component-base/compatibility"

	"github.com/skiff-project/skiff/pkg/api/scheme"
	"github.com/skiff-project/skiff/pkg/etcd"
)

const testTTL = 1000 * time.Second

// newTestStorage starts a throwaway etcd and builds the events.k8s.io store
// over a storage factory set up as the server's is (protobuf, both event
// resources cohabiting).
func newTestStorage(t *testing.T) (*REST, *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server, err := etcd.Start(ctx, etcd.Config{Dir: t.TempDir(), FastElection: true, UnsafeNoFsync: true})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(server.Close)

	etcdOpts := genericoptions.NewEtcdOptions(storagebackend.NewDefaultConfig("/registry", nil))
	etcdOpts.StorageConfig.Transport.ServerList = []string{server.ClientURL}
	etcdOpts.EnableWatchCache = false
	resources := serverstorage.NewResourceConfig()
	resources.EnableVersions(scheme.GroupVersions()...)
	encoding := serverstorage.NewDefaultResourceEncodingConfigForEffectiveVersion(scheme.Scheme, compatibility.NewEffectiveVersionFromString("1.37", "", ""))
	factory := serverstorage.NewDefaultStorageFactory(etcdOpts.StorageConfig, runtime.ContentTypeProtobuf, scheme.Codecs, encoding, resources, nil)
	factory.AddCohabitatingResources(schema.GroupResource{Resource: "events"}, schema.GroupResource{Group: "events.k8s.io", Resource: "events"})

	r, err := NewREST(&genericoptions.StorageFactoryRestOptionsFactory{Options: *etcdOpts, StorageFactory: factory}, testTTL)
	if err != nil {
		t.Fatalf("new REST: %v", err)
	}
	t.Cleanup(r.Destroy)

	client, err := clientv3.New(clientv3.Config{Endpoints: []string{server.ClientURL}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return r, client
}

func requestContext(group, version string) context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: group, APIVersion: version, Resource: "events", Namespace: "default",
	})
}

func TestEventsK8sIOEventIsStoredAsCoreEventWithTTL(t *testing.T) {
	r, client := newTestStorage(t)
	ctx := requestContext("events.k8s.io", "v1")

	in := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "ev1", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)),
		ReportingController: "example.com/ctrl",
		ReportingInstance:   "ctrl-1",
		Action:              "Testing",
		Reason:              "Tested",
		Type:                corev1.EventTypeNormal,
		Note:                "hello",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p1", APIVersion: "v1"},
	}
	// The API server converts the events.k8s.io/v1 body to the internal
	// form, which is the core/v1 struct in skiff's scheme.
	internal := &corev1.Event{}
	if err := scheme.Scheme.Convert(in, internal, nil); err != nil {
		t.Fatalf("convert to internal: %v", err)
	}
	if _, err := r.Create(ctx, internal, rest.ValidateAllObjectFunc, &metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}

	resp, err := client.Get(context.Background(), "/registry/events/default/ev1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd get /registry/events/default/ev1: %v, %d keys", err, len(resp.Kvs))
	}
	kv := resp.Kvs[0]

	// Stored as a core/v1 Event: what the core/v1 events API reads.
	stored, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(kv.Value, nil, nil)
	if err != nil {
		t.Fatalf("decode stored event: %v", err)
	}
	if *gvk != corev1.SchemeGroupVersion.WithKind("Event") {
		t.Fatalf("stored as %v, want v1 Event", gvk)
	}
	core := stored.(*corev1.Event)
	if core.Message != "hello" || core.InvolvedObject.Name != "p1" || core.ReportingController != "example.com/ctrl" || core.Action != "Testing" {
		t.Errorf("core/v1 view lost fields: message %q, involvedObject %+v, reportingController %q, action %q",
			core.Message, core.InvolvedObject, core.ReportingController, core.Action)
	}

	// And back to the events.k8s.io/v1 shape.
	out := &eventsv1.Event{}
	if err := scheme.Scheme.Convert(core, out, nil); err != nil {
		t.Fatalf("convert to events.k8s.io/v1: %v", err)
	}
	if out.Note != in.Note || out.Regarding != in.Regarding || !out.EventTime.Equal(&in.EventTime) {
		t.Errorf("events.k8s.io/v1 view differs: note %q, regarding %+v, eventTime %v", out.Note, out.Regarding, out.EventTime)
	}

	// The etcd lease carries the TTL (upstream adds up to 5%, at most a
	// minute, so that events can share leases).
	if kv.Lease == 0 {
		t.Fatal("event stored without a lease")
	}
	ttl, err := client.TimeToLive(context.Background(), clientv3.LeaseID(kv.Lease))
	if err != nil {
		t.Fatalf("lease TTL: %v", err)
	}
	if want := int64(testTTL.Seconds()); ttl.GrantedTTL < want || ttl.GrantedTTL > want+60 {
		t.Errorf("lease granted for %ds, want %d to %d", ttl.GrantedTTL, want, want+60)
	}
}

func TestValidationFollowsRequestVersion(t *testing.T) {
	// A legacy event: no eventTime, count and source set.
	legacy := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "legacy", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p1"},
		Reason:         "Pulled",
		Message:        "pulled",
		Type:           corev1.EventTypeNormal,
		Count:          2,
		Source:         corev1.EventSource{Component: "kubelet"},
	}
	if errs := strategy.Validate(requestContext("", "v1"), legacy); len(errs) != 0 {
		t.Errorf("core/v1 rejected a legacy event: %v", errs)
	}
	errs := strategy.Validate(requestContext("events.k8s.io", "v1"), legacy)
	want := map[string]bool{"eventTime": true, "count": true, "source": true}
	for _, e := range errs {
		delete(want, e.Field)
	}
	if len(want) != 0 {
		t.Errorf("events.k8s.io/v1 accepted legacy fields %v (errors: %v)", want, errs)
	}
}

func TestSelectableFields(t *testing.T) {
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Name: "p1", UID: "u1"},
		Reason:              "R",
		Type:                corev1.EventTypeWarning,
		ReportingController: "ctrl",
	}
	_, f, err := getAttrs(ev)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"metadata.name": "e", "metadata.namespace": "ns", "involvedObject.kind": "Pod", "involvedObject.name": "p1",
		"involvedObject.uid": "u1", "reason": "R", "type": "Warning", "reportingComponent": "ctrl",
		// Without source.component, the reporting controller is the source.
		"source": "ctrl",
	} {
		if f[k] != v {
			t.Errorf("field %s = %q, want %q", k, f[k], v)
		}
	}
}
