package servicecidrs

import (
	"context"
	"slices"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func cidr(name string, deletedAgo time.Duration, cidrs ...string) *networkingv1.ServiceCIDR {
	sc := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: cidrs}}
	if deletedAgo > 0 {
		t := metav1.NewTime(time.Now().Add(-deletedAgo))
		sc.DeletionTimestamp = &t
		sc.Finalizers = []string{Finalizer}
	}
	return sc
}

func serviceIP(addr string) *networkingv1.IPAddress {
	family := "IPv4"
	if slices.Contains([]byte(addr), ':') {
		family = "IPv6"
	}
	return &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: addr, Labels: map[string]string{
			networkingv1.LabelIPAddressFamily: family,
			networkingv1.LabelManagedBy:       ipAllocatorName,
		}},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "s"}},
	}
}

func TestSync(t *testing.T) {
	for name, tc := range map[string]struct {
		objects       []runtime.Object
		wantFinalizer bool
		// wantReady is the Ready condition's status and reason; "" = none.
		wantReady, wantReason string
		wantRequeue           bool
	}{
		"new range gets finalizer and Ready": {
			objects:       []runtime.Object{cidr("extra", 0, "10.2.0.0/24")},
			wantFinalizer: true, wantReady: "True",
		},
		"deleted, unused, past grace: released": {
			objects: []runtime.Object{cidr("extra", time.Minute, "10.2.0.0/24"), serviceIP("10.3.0.5")},
		},
		"deleted, unused, within grace: waits": {
			objects:       []runtime.Object{cidr("extra", time.Second, "10.2.0.0/24")},
			wantFinalizer: true, wantRequeue: true,
		},
		"deleted with a Service IP in it: kept, Terminating": {
			objects:       []runtime.Object{cidr("extra", time.Minute, "10.2.0.0/24"), serviceIP("10.2.0.7")},
			wantFinalizer: true, wantReady: "False", wantReason: networkingv1.ServiceCIDRReasonTerminating,
		},
		"deleted with its IP in an overlapping range: released": {
			objects: []runtime.Object{cidr("extra", time.Minute, "10.2.0.0/24"), cidr("big", 0, "10.2.0.0/28"), serviceIP("10.2.0.7")},
		},
		"deleted inside a parent range: released": {
			objects: []runtime.Object{cidr("extra", time.Minute, "10.2.0.0/24"), cidr("parent", 0, "10.0.0.0/8"), serviceIP("10.2.0.200")},
		},
		"an IP not allocated for Services does not block": {
			objects: []runtime.Object{cidr("extra", time.Minute, "10.2.0.0/24"), func() runtime.Object {
				ip := serviceIP("10.2.0.7")
				ip.Labels[networkingv1.LabelManagedBy] = "someone-else"
				return ip
			}()},
		},
		"dual-stack: the IPv6 half blocks": {
			objects:       []runtime.Object{cidr("extra", time.Minute, "10.2.0.0/24", "fd00:10::/112"), serviceIP("fd00:10::9")},
			wantFinalizer: true, wantReady: "False", wantReason: networkingv1.ServiceCIDRReasonTerminating,
		},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset(tc.objects...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := NewController(client, factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			cache.WaitForCacheSync(ctx.Done(), c.synced...)
			for c.queue.Len() > 0 { // drop the informers' initial adds
				key, _ := c.queue.Get()
				c.queue.Done(key)
				c.queue.Forget(key)
			}
			if err := c.sync(ctx, "extra"); err != nil {
				t.Fatal(err)
			}
			got, err := client.NetworkingV1().ServiceCIDRs().Get(ctx, "extra", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if has := slices.Contains(got.Finalizers, Finalizer); has != tc.wantFinalizer {
				t.Errorf("finalizers = %v, want protected %v", got.Finalizers, tc.wantFinalizer)
			}
			ready := apimeta.FindStatusCondition(got.Status.Conditions, networkingv1.ServiceCIDRConditionReady)
			switch {
			case tc.wantReady == "" && ready != nil:
				t.Errorf("Ready = %+v, want none", ready)
			case tc.wantReady != "" && (ready == nil || string(ready.Status) != tc.wantReady || ready.Reason != tc.wantReason):
				t.Errorf("Ready = %+v, want %s/%s", ready, tc.wantReady, tc.wantReason)
			}
			// The grace-period wait re-adds the key after a delay.
			if tc.wantRequeue {
				time.Sleep(100 * time.Millisecond)
				if c.queue.Len() != 0 {
					t.Errorf("requeued at once; want after the grace period")
				}
			}
		})
	}
}

func TestEventsEnqueueAffectedRanges(t *testing.T) {
	client := fake.NewClientset(cidr("a", 0, "10.2.0.0/24"), cidr("b", 0, "10.3.0.0/24"), cidr("c", 0, "10.2.0.0/16"))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Networking().V1().ServiceCIDRs(), factory.Networking().V1().IPAddresses())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	got := c.containing(serviceIP("10.2.0.9"))
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("ranges containing 10.2.0.9 = %v, want [a c]", got)
	}
	if got := c.overlapping(cidr("a", 0, "10.2.0.0/24")); !slices.Equal(got, []string{"c"}) {
		t.Errorf("ranges overlapping a = %v, want [c]", got)
	}
	other := serviceIP("10.2.0.9")
	other.Labels[networkingv1.LabelManagedBy] = "someone-else"
	if got := c.containing(other); len(got) != 0 {
		t.Errorf("an IP not managed by the allocator maps to %v, want none", got)
	}
}
