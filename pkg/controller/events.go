package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// NewEventRecorder returns a recorder that posts events as component, and a
// function that starts sending them until ctx ends (call it from Run).
func NewEventRecorder(client kubernetes.Interface, component string) (record.EventRecorder, func(ctx context.Context)) {
	broadcaster := record.NewBroadcaster()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	start := func(ctx context.Context) {
		broadcaster.StartStructuredLogging(3)
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
		go func() {
			<-ctx.Done()
			broadcaster.Shutdown()
		}()
	}
	return recorder, start
}
