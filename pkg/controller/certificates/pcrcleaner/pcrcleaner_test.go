package pcrcleaner

import (
	"context"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func TestSweepDeletesOnlyOldRequests(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	request := func(name string, age time.Duration) *certificatesv1.PodCertificateRequest {
		return &certificatesv1.PodCertificateRequest{ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(-age))}}
	}
	client := fake.NewClientset(request("fresh", time.Minute), request("edge", 14*time.Minute+59*time.Second), request("old", 16*time.Minute), request("ancient", 48*time.Hour))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewController(client, factory.Certificates().V1().PodCertificateRequests())
	c.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.synced)

	c.sweep(ctx)
	list, err := client.CertificatesV1().PodCertificateRequests("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range list.Items {
		left = append(left, p.Name)
	}
	if len(left) != 2 || !(left[0] == "edge" && left[1] == "fresh" || left[0] == "fresh" && left[1] == "edge") {
		t.Errorf("left %v, want [edge fresh]", left)
	}
}
