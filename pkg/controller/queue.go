package controller

import (
	"context"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// NewQueue returns the default rate-limited queue of object keys.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name},
	)
}

// RunWorkers waits for the informers, then runs workers goroutines that
// take keys from queue and pass them to sync until ctx ends; a failed key
// is retried with back-off, a successful one forgotten. It blocks.
func RunWorkers(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], workers int, syncKey func(ctx context.Context, key string) error, synced ...cache.InformerSynced) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting controller", "controller", name)
	var wg sync.WaitGroup
	defer func() {
		logger.Info("Shutting down controller", "controller", name)
		queue.ShutDown()
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for ProcessNext(ctx, queue, syncKey) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
}

// ProcessNext syncs one key from queue; false when the queue shut down.
func ProcessNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], syncKey func(ctx context.Context, key string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := syncKey(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Sync failed", "key", key)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

// ObjectFromTombstone unwraps a DeletedFinalStateUnknown.
func ObjectFromTombstone(obj interface{}) interface{} {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
