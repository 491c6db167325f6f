// Package componentstatus serves the deprecated core/v1 ComponentStatuses:
// get and list only, computed on each request by probing etcd (through the
// storage's own client configuration) and the controller manager's and
// scheduler's /healthz on their upstream default ports, as upstream does.
package componentstatus

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST answers get and list of ComponentStatuses.
type REST struct {
	rest.TableConvertor
	// servers returns the components to probe by name.
	servers func() map[string]Prober
}

var (
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.ShortNamesProvider   = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the storage of ComponentStatuses probing servers.
func NewREST(servers func() map[string]Prober) *REST {
	return &REST{TableConvertor: printers.NewTableConvertor(), servers: servers}
}

func (r *REST) New() runtime.Object     { return &corev1.ComponentStatus{} }
func (r *REST) NewList() runtime.Object { return &corev1.ComponentStatusList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "componentstatus" }
func (r *REST) ShortNames() []string    { return []string{"cs"} }

// Get probes one component.
func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	server, ok := r.servers()[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("componentstatus"), name)
	}
	return status(ctx, name, server), nil
}

// List probes every component concurrently. ComponentStatuses have no
// labels; selectors still apply (and then match nothing but metadata).
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	servers := r.servers()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out = &corev1.ComponentStatusList{Items: []corev1.ComponentStatus{}}
	)
	labelSel, fieldSel := labels.Everything(), fields.Everything()
	if options != nil {
		if options.LabelSelector != nil {
			labelSel = options.LabelSelector
		}
		if options.FieldSelector != nil {
			fieldSel = options.FieldSelector
		}
	}
	for name, server := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := status(ctx, name, server)
			fieldSet := apigeneric.AddObjectMetaFieldsSet(fields.Set{}, &cs.ObjectMeta, true)
			if !labelSel.Matches(labels.Set(cs.Labels)) || !fieldSel.Matches(fieldSet) {
				return
			}
			mu.Lock()
			out.Items = append(out.Items, *cs)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, nil
}

// status probes server and reports it as upstream does: one Healthy
// condition, True/False/Unknown, with the probe's output and error.
func status(ctx context.Context, name string, server Prober) *corev1.ComponentStatus {
	result, message, err := server.Probe(ctx)
	condition := corev1.ComponentCondition{Type: corev1.ComponentHealthy, Message: message}
	switch result {
	case Success:
		condition.Status = corev1.ConditionTrue
	case Failure:
		condition.Status = corev1.ConditionFalse
	default:
		condition.Status = corev1.ConditionUnknown
	}
	if err != nil {
		condition.Error = err.Error()
	}
	return &corev1.ComponentStatus{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Conditions: []corev1.ComponentCondition{condition},
	}
}

// NewStorage returns the storage of ComponentStatuses, probing etcd as the
// storage reaches it (its client configuration comes from optsGetter).
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*REST, error) {
	opts, err := optsGetter.GetRESTOptions(corev1.Resource("componentstatuses"), &corev1.ComponentStatus{})
	if err != nil {
		return nil, fmt.Errorf("storage options for componentstatuses: %w", err)
	}
	return NewREST(DefaultServers(opts.StorageConfig.Config)), nil
}
