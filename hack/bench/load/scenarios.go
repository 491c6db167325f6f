package load

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Scenarios are the scenario names Run knows, in the order a full run
// takes them.
var Scenarios = []string{"create", "get", "list", "list-paged", "update", "apply", "watch", "mixed"}

// Describe says what one operation of a scenario is.
func Describe(scenario string, c Config) string {
	switch scenario {
	case "create":
		return "create a ConfigMap"
	case "get":
		return "get one of 100 ConfigMaps"
	case "list":
		return fmt.Sprintf("list %d ConfigMaps in one response", c.ListObjects)
	case "list-paged":
		return fmt.Sprintf("list %d ConfigMaps in pages of %d", c.ListObjects, c.PageSize)
	case "update":
		return "update the worker's own ConfigMap"
	case "apply":
		return "server-side apply the worker's own ConfigMap"
	case "watch":
		return fmt.Sprintf("one event delivered to one of %d watchers (latency: create start to event)", c.Watchers)
	case "mixed":
		return "40% get, 20% create, 20% update, 10% list (limit 100), 10% delete"
	}
	return ""
}

// Runner runs scenarios against one API server.
type Runner struct {
	cfg *rest.Config
	// Protobuf makes the clients talk protobuf, as controllers do; JSON
	// otherwise, as kubectl does.
	Protobuf bool
}

// NewRunner returns a Runner for the server of cfg, which must be on a
// loopback address.
func NewRunner(cfg *rest.Config) (*Runner, error) {
	if err := CheckLoopback(cfg.Host); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, Protobuf: true}, nil
}

func (r *Runner) client() (kubernetes.Interface, error) {
	c := rest.CopyConfig(r.cfg)
	if r.Protobuf {
		c.ContentType = "application/vnd.kubernetes.protobuf"
		c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	return NewClient(c)
}

// watchClient is a client whose requests have no timeout, for watches.
func (r *Runner) watchClient() (kubernetes.Interface, error) {
	c := rest.CopyConfig(r.cfg)
	if r.Protobuf {
		c.ContentType = "application/vnd.kubernetes.protobuf"
		c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	return newClient(c, 0)
}

// clients returns n clients, each with its own connection.
func (r *Runner) clients(n int) ([]kubernetes.Interface, error) {
	out := make([]kubernetes.Interface, n)
	for i := range out {
		c, err := r.client()
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// Run runs one scenario: it prepares the objects the scenario needs (not
// measured), then measures for c.Duration or c.MaxOps operations.
func (r *Runner) Run(ctx context.Context, scenario string, c Config) (Summary, error) {
	if err := c.validate(); err != nil {
		return Summary{}, err
	}
	cs, err := r.clients(c.Clients)
	if err != nil {
		return Summary{}, err
	}
	if err := ensureNamespace(ctx, cs[0], c.Namespace); err != nil {
		return Summary{}, err
	}
	ns := c.Namespace
	payload := strings.Repeat("x", c.ObjectSize)
	cm := func(name string, data map[string]string) *v1.ConfigMap {
		return &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": scenario}}, Data: data}
	}
	switch scenario {
	case "create":
		return runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
			_, err := cs[w].CoreV1().ConfigMaps(ns).Create(ctx, cm(fmt.Sprintf("create-%d-%d", w, i), map[string]string{"payload": payload}), metav1.CreateOptions{})
			return err
		}), nil

	case "get":
		const n = 100
		if err := prefill(ctx, cs, ns, "get", n, func(name string) *v1.ConfigMap { return cm(name, map[string]string{"payload": payload}) }); err != nil {
			return Summary{}, err
		}
		return runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
			_, err := cs[w].CoreV1().ConfigMaps(ns).Get(ctx, fmt.Sprintf("get-%d", (i*c.Clients+w)%n), metav1.GetOptions{})
			return err
		}), nil

	case "list", "list-paged":
		if err := prefill(ctx, cs, ns, "list", c.ListObjects, func(name string) *v1.ConfigMap { return cm(name, map[string]string{"payload": payload}) }); err != nil {
			return Summary{}, err
		}
		var limit int64
		if scenario == "list-paged" {
			limit = c.PageSize
		}
		return runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
			got, cont := 0, ""
			for {
				l, err := cs[w].CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: limit, Continue: cont})
				if err != nil {
					return err
				}
				got += len(l.Items)
				if cont = l.Continue; cont == "" {
					break
				}
			}
			if got < c.ListObjects {
				return fmt.Errorf("listed %d ConfigMaps, want %d", got, c.ListObjects)
			}
			return nil
		}), nil

	case "update":
		own := make([]*v1.ConfigMap, c.Clients)
		for w := range own {
			o, err := cs[w].CoreV1().ConfigMaps(ns).Create(ctx, cm(fmt.Sprintf("update-%d", w), map[string]string{"payload": payload, "n": "0"}), metav1.CreateOptions{})
			if err != nil {
				return Summary{}, fmt.Errorf("creating the objects to update: %w", err)
			}
			own[w] = o
		}
		return runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
			o := own[w].DeepCopy()
			o.Data["n"] = strconv.Itoa(i + 1)
			got, err := cs[w].CoreV1().ConfigMaps(ns).Update(ctx, o, metav1.UpdateOptions{})
			if err != nil {
				return err
			}
			own[w] = got
			return nil
		}), nil

	case "apply":
		return runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
			ac := corev1ac.ConfigMap(fmt.Sprintf("apply-%d", w), ns).
				WithLabels(map[string]string{"bench": scenario}).
				WithData(map[string]string{"payload": payload, "n": strconv.Itoa(i)})
			_, err := cs[w].CoreV1().ConfigMaps(ns).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "bench", Force: true})
			return err
		}), nil

	case "watch":
		return r.watchFanOut(ctx, cs, c, func(name string) *v1.ConfigMap { return cm(name, map[string]string{"payload": payload}) })

	case "mixed":
		return runMixed(ctx, cs, c, func(name string) *v1.ConfigMap { return cm(name, map[string]string{"payload": payload, "n": "0"}) }), nil
	}
	return Summary{}, fmt.Errorf("unknown scenario %q (known: %s)", scenario, strings.Join(Scenarios, ", "))
}

func ensureNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// prefillWorkers: etcd batches the fsyncs of concurrent writes, so many
// writers fill 10k objects much faster than a few.
const prefillWorkers = 32

// prefill creates n ConfigMaps prefix-0 .. prefix-(n-1) with prefillWorkers
// writers over the clients' connections; ones that exist already are kept.
func prefill(ctx context.Context, cs []kubernetes.Interface, ns, prefix string, n int, obj func(string) *v1.ConfigMap) error {
	var next atomic.Int64
	errs := make(chan error, prefillWorkers)
	var wg sync.WaitGroup
	for k := 0; k < prefillWorkers; k++ {
		c := cs[k%len(cs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, obj(fmt.Sprintf("%s-%d", prefix, i)), metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- fmt.Errorf("creating %s-%d: %w", prefix, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// watchFanOut starts c.Watchers watches of the namespace's ConfigMaps,
// each on its own connection, then creates ConfigMaps with c.Clients
// writers (paced by c.QPS) and measures, for every event every watcher
// receives, the time from the start of the create to the event. An event
// a watcher has not received within 30 s of the last write counts as an
// error.
func (r *Runner) watchFanOut(ctx context.Context, writers []kubernetes.Interface, c Config, obj func(string) *v1.ConfigMap) (Summary, error) {
	ns := c.Namespace
	l, err := writers[0].CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return Summary{}, fmt.Errorf("listing before the watch: %w", err)
	}
	rv := l.ResourceVersion
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()

	var started sync.Map // name -> time the create started
	var rec Recorder
	var delivered atomic.Int64
	var lastEvent atomic.Int64 // unix nanos
	var watchErrs atomic.Int64
	var wg sync.WaitGroup
	watches := make([]watch.Interface, c.Watchers)
	for i := range watches {
		wc, err := r.watchClient()
		if err != nil {
			return Summary{}, err
		}
		w, err := wc.CoreV1().ConfigMaps(ns).Watch(wctx, metav1.ListOptions{ResourceVersion: rv, LabelSelector: "bench=watch"})
		if err != nil {
			return Summary{}, fmt.Errorf("starting watch %d: %w", i, err)
		}
		watches[i] = w
	}
	for _, w := range watches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				now := time.Now()
				if ev.Type == watch.Error {
					if wctx.Err() == nil { // not the end of the run
						watchErrs.Add(1)
					}
					continue
				}
				o, ok := ev.Object.(*v1.ConfigMap)
				if !ok || ev.Type != watch.Added {
					continue
				}
				if t, ok := started.Load(o.Name); ok {
					rec.Record(now.Sub(t.(time.Time)), nil)
					delivered.Add(1)
					lastEvent.Store(now.UnixNano())
				}
			}
		}()
	}

	begin := time.Now()
	var created atomic.Int64
	writes := runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
		name := fmt.Sprintf("watch-%d-%d", w, i)
		o := obj(name)
		o.Labels["bench"] = "watch"
		started.Store(name, time.Now())
		if _, err := writers[w].CoreV1().ConfigMaps(ns).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			started.Delete(name)
			return err
		}
		created.Add(1)
		return nil
	})
	want := created.Load() * int64(c.Watchers)
	deadline := time.Now().Add(30 * time.Second)
	for delivered.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopWatches()
	wg.Wait()
	elapsed := time.Duration(lastEvent.Load() - begin.UnixNano())
	if elapsed <= 0 {
		elapsed = time.Since(begin)
	}
	s := rec.Summary(elapsed)
	s.Errors = int(want-delivered.Load()) + int(watchErrs.Load()) + writes.Errors
	if s.Errors < 0 {
		// More events than creates: a watcher saw an object twice.
		s.Errors = -s.Errors
	}
	if writes.FirstError != "" {
		s.FirstError = "create: " + writes.FirstError
	} else if s.Errors > 0 {
		s.FirstError = fmt.Sprintf("%d of %d events not delivered within 30 s", want-delivered.Load(), want)
	}
	return s, nil
}

// runMixed: each worker owns its objects and rotates through 40% get,
// 20% create, 20% update, 10% list (limit 100) and 10% delete.
func runMixed(ctx context.Context, cs []kubernetes.Interface, c Config, obj func(string) *v1.ConfigMap) Summary {
	ns := c.Namespace
	own := make([][]*v1.ConfigMap, c.Clients)
	return runWorkers(ctx, c, func(ctx context.Context, w, i int) error {
		api := cs[w].CoreV1().ConfigMaps(ns)
		mine := own[w]
		kind := i % 10
		if len(mine) == 0 {
			kind = 0 // nothing to read yet: create
		}
		switch kind {
		case 0, 1:
			o, err := api.Create(ctx, obj(fmt.Sprintf("mixed-%d-%d", w, i)), metav1.CreateOptions{})
			if err == nil {
				own[w] = append(mine, o)
			}
			return err
		case 2, 3, 4, 5:
			_, err := api.Get(ctx, mine[i%len(mine)].Name, metav1.GetOptions{})
			return err
		case 6, 7:
			k := i % len(mine)
			o := mine[k].DeepCopy()
			o.Data["n"] = strconv.Itoa(i)
			got, err := api.Update(ctx, o, metav1.UpdateOptions{})
			if err == nil {
				mine[k] = got
			}
			return err
		case 8:
			_, err := api.List(ctx, metav1.ListOptions{Limit: 100, LabelSelector: "bench=mixed"})
			return err
		default:
			err := api.Delete(ctx, mine[0].Name, metav1.DeleteOptions{})
			if err == nil {
				own[w] = mine[1:]
			}
			return err
		}
	})
}
