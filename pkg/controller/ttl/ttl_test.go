package ttl

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func TestBands(t *testing.T) {
	c := &Controller{}
	// Growing: the band moves once the count passes a band's maximum.
	for n, want := range map[int]int{100: 0, 101: 15, 500: 15, 501: 30, 1001: 60, 2001: 300, 5000: 300} {
		c.nodeCount, c.step = 0, 0
		for range n {
			c.count(+1)
		}
		if got := c.desiredTTL(); got != want {
			t.Errorf("%d nodes, growing: ttl %d, want %d", n, got, want)
		}
	}
	// Shrinking from 600 nodes: the band falls only below its minimum.
	c.nodeCount, c.step = 0, 0
	for range 600 {
		c.count(+1)
	}
	steps := map[int]int{500: 30, 450: 30, 449: 15, 100: 15, 90: 15, 89: 0}
	for n := 599; n >= 89; n-- {
		c.count(-1)
		if want, ok := steps[n]; ok && c.desiredTTL() != want {
			t.Errorf("%d nodes, shrinking: ttl %d, want %d", n, c.desiredTTL(), want)
		}
	}
}

func TestAnnotatesNodes(t *testing.T) {
	var objects []runtime.Object
	for i := range 120 {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i)}}
		if i == 0 {
			node.Annotations = map[string]string{corev1.ObjectTTLAnnotationKey: "15", "keep": "me"}
		}
		objects = append(objects, node)
	}
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Nodes())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.synced)
	for _, name := range []string{"n0", "n7"} {
		if err := c.sync(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	patches := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("patches = %d, want 1 (n0 already has the 120-node ttl)", patches)
	}
	n7, _ := client.CoreV1().Nodes().Get(ctx, "n7", metav1.GetOptions{})
	if got := n7.Annotations[corev1.ObjectTTLAnnotationKey]; got != "15" {
		t.Errorf("n7 ttl = %q, want 15 for 120 nodes", got)
	}
	n0, _ := client.CoreV1().Nodes().Get(ctx, "n0", metav1.GetOptions{})
	if n0.Annotations["keep"] != "me" {
		t.Errorf("n0 lost its other annotations: %v", n0.Annotations)
	}
}
