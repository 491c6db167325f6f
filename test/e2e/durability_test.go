//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestKillDuringConcurrentCreatesLosesNothing kills the server with SIGKILL
// while 200 creates are in flight, restarts it, and checks that every
// object whose create returned 201 is there.
func TestKillDuringConcurrentCreatesLosesNothing(t *testing.T) {
	ctx := context.Background()
	s := framework.StartServer(t)
	c := s.Client()

	const n = 200
	var (
		mu        sync.Mutex
		created   []string
		succeeded atomic.Int32
		wg        sync.WaitGroup
		killAfter = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("durable-%03d", i)
			_, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)},
			}, metav1.CreateOptions{})
			if err == nil {
				mu.Lock()
				created = append(created, name)
				mu.Unlock()
				// Kill while the other half is still in flight.
				if succeeded.Add(1) == n/4 {
					close(killAfter)
				}
			}
		}(i)
	}
	select {
	case <-killAfter:
	case <-time.After(60 * time.Second):
		t.Fatal("creates did not succeed")
	}
	s.Kill()
	wg.Wait()
	t.Logf("%d of %d creates returned 201 before the kill", len(created), n)

	s.Start()
	c = s.Client()
	for _, name := range created {
		if err := getSurvivingConnectionErrors(ctx, c, name); err != nil {
			t.Errorf("configmap %s was acknowledged but is gone after SIGKILL: %v", name, err)
		}
	}
}

// getSurvivingConnectionErrors gets a ConfigMap, retrying for a few seconds
// when the request fails before the API answers at all: a pooled
// connection dialled to the killed process can still be handed out once
// after the restart. An answer from the API (NotFound included) is final.
func getSurvivingConnectionErrors(ctx context.Context, c kubernetes.Interface, name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
		var status apierrors.APIStatus
		if err == nil || errors.As(err, &status) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
