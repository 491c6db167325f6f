package history

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestCreateResolvesHashCollisions(t *testing.T) {
	parent := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid"}}
	kind := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	rev := NewRevision(parent, kind, map[string]string{"app": "web"}, runtime.RawExtension{Raw: []byte(`{"a":1}`)}, 1, ptr.To[int32](0))
	if rev.Name != Name("web", rev.Labels[ControllerRevisionHashLabel]) || rev.Labels["app"] != "web" || metav1.GetControllerOf(rev).UID != "uid" {
		t.Fatalf("revision %+v", rev.ObjectMeta)
	}
	// Another revision already holds that name with other data.
	squatter := rev.DeepCopy()
	squatter.Namespace = "ns"
	squatter.Data.Raw = []byte(`{"b":2}`)
	client := fake.NewClientset(squatter)
	factory := informers.NewSharedInformerFactory(client, 0)
	h := &History{Client: client, Lister: factory.Apps().V1().ControllerRevisions().Lister(), Indexer: factory.Apps().V1().ControllerRevisions().Informer().GetIndexer()}
	collisions := int32(0)
	created, err := h.Create(context.Background(), parent, rev, &collisions)
	if err != nil {
		t.Fatal(err)
	}
	if collisions != 1 || created.Name == squatter.Name || string(created.Data.Raw) != `{"a":1}` {
		t.Fatalf("collisions %d created %s", collisions, created.Name)
	}
	// Creating the same data again returns the existing revision.
	again, err := h.Create(context.Background(), parent, rev, &collisions)
	if err != nil || again.Name != created.Name || collisions != 1 {
		t.Fatalf("again %v %v collisions %d", again, err, collisions)
	}
	if Hash(rev, ptr.To[int32](0)) == Hash(rev, ptr.To[int32](1)) {
		t.Error("collision count does not change the hash")
	}
}

func TestSortAndEqual(t *testing.T) {
	a := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Revision: 2, Data: runtime.RawExtension{Raw: []byte("x")}}
	b := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Revision: 1, Data: runtime.RawExtension{Raw: []byte("x")}}
	c := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Revision: 3, Data: runtime.RawExtension{Raw: []byte("y")}}
	list := []*appsv1.ControllerRevision{c, a, b}
	Sort(list)
	if list[0] != b || list[1] != a || list[2] != c {
		t.Fatalf("order %s %s %s", list[0].Name, list[1].Name, list[2].Name)
	}
	if eq := FindEqual(list, a); len(eq) != 2 {
		t.Errorf("equal revisions %d", len(eq))
	}
}
