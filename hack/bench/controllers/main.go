// Command controllers benchmarks skiff's controller-manager with
// simulated nodes.
//
// It starts `skiff server --disable-agent --disable controller-manager`
// on loopback, the controllers as a separate `skiff controller-manager`
// (so that their CPU and memory are measured alone; -embedded runs them
// inside the server instead), and -nodes simulated nodes (`skiff
// sim-nodes`). It then creates -deployments Deployments of -replicas
// replicas each and prints how long until every one is available (all
// replicas updated and available, as `kubectl rollout status` sees it),
// and the CPU seconds and RSS (current and peak) of the controller-manager
// and the server over that time.
//
// Usage: go run ./hack/bench/controllers -bin bin/skiff [-nodes 20] [-deployments 100] [-replicas 10]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/hack/bench/internal/benchproc"
)

var (
	bin         = flag.String("bin", "bin/skiff", "skiff binary")
	nodes       = flag.Int("nodes", 20, "simulated nodes (110 pods each)")
	deployments = flag.Int("deployments", 100, "Deployments to create")
	replicas    = flag.Int("replicas", 10, "replicas of each Deployment")
	workers     = flag.Int("create-workers", 8, "parallel Deployment creators")
	embedded    = flag.Bool("embedded", false, "run the controllers inside skiff server (measured with it) instead of a separate skiff controller-manager")
	timeout     = flag.Duration("timeout", 10*time.Minute, "give up after this long")
	port        = flag.Int("port", 17443, "API server port (loopback)")
	keep        = flag.Bool("keep", false, "keep the data directory")
)

// start runs `skiff args...` logging to dir/name.log.
func start(dir, name string, args ...string) *benchproc.Proc {
	p, err := benchproc.Start(*bin, dir, name, args...)
	must(err)
	return p
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func main() {
	flag.Parse()
	if *nodes < 1 || *deployments < 1 || *replicas < 1 || *workers < 1 {
		must(fmt.Errorf("-nodes, -deployments, -replicas and -create-workers must be positive"))
	}
	if need := *deployments * *replicas; need > *nodes*110 {
		must(fmt.Errorf("%d pods do not fit on %d nodes of 110 pods", need, *nodes))
	}
	dir, err := os.MkdirTemp("", "skiff-bench-controllers-")
	must(err)
	if !*keep {
		defer os.RemoveAll(dir)
	}
	data := filepath.Join(dir, "data")
	args := []string{"server", "--disable-agent", "--data-dir", data, "--cleanup-on-exit",
		"--secure-port", strconv.Itoa(*port), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1"}
	if !*embedded {
		args = append(args, "--disable", "controller-manager")
	}
	server := start(dir, "server", args...)
	defer server.Stop()
	kubeconfig := filepath.Join(data, "admin.kubeconfig")
	must(server.WaitForLog("API server ready", 2*time.Minute))

	cm := server
	if !*embedded {
		// As skiff server runs it: its own identity, the cluster CA for
		// CSRs, the service-account key for token Secrets.
		pki := filepath.Join(data, "tls")
		cm = start(dir, "controller-manager", "controller-manager",
			"--kubeconfig", filepath.Join(data, "controller-manager.kubeconfig"),
			"--controllers", "*,bootstrap-signer-controller,token-cleaner-controller",
			"--default-local-storage-path", filepath.Join(data, "storage"),
			"--cluster-signing-cert-file", filepath.Join(pki, "ca.crt"), "--cluster-signing-key-file", filepath.Join(pki, "ca.key"),
			"--service-account-private-key-file", filepath.Join(pki, "service-account.key"))
		defer cm.Stop()
		must(cm.WaitForLog("Controllers started", time.Minute))
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(err)
	cfg.QPS, cfg.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(cfg)
	must(err)

	simStart := time.Now()
	sim := start(dir, "sim-nodes", "sim-nodes", "--kubeconfig", kubeconfig, "--count", strconv.Itoa(*nodes),
		"--cpu", "64", "--memory", "256Gi", "--pods", "110", "--taints=", "--pod-stop-duration=0s")
	defer sim.Stop()
	must(sim.WaitForLog("Simulated nodes registered", 5*time.Minute))
	fmt.Printf("%d simulated nodes registered in %s\n", *nodes, time.Since(simStart).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	run(ctx, client, cm, server)
}

func available(d *appsv1.Deployment) bool {
	r := ptr.Deref(d.Spec.Replicas, 1)
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == r &&
		d.Status.AvailableReplicas == r && d.Status.Replicas == r
}

// run creates the Deployments in their own namespace and measures until
// all are available.
func run(ctx context.Context, client kubernetes.Interface, cm, server *benchproc.Proc) {
	const ns = "bench"
	_, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(err)
	// Pods need the namespace's default ServiceAccount (admission).
	for {
		if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			must(fmt.Errorf("no default ServiceAccount in %s: %w", ns, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}

	var mu sync.Mutex
	ready := map[string]bool{}
	var nReady atomic.Int64
	allReady := make(chan struct{})
	observe := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || !available(d) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ready[d.Name] {
			return
		}
		ready[d.Name] = true
		if nReady.Add(1) == int64(*deployments) {
			close(allReady)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	informer := factory.Apps().V1().Deployments().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	}); err != nil {
		must(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go informer.Run(stop)
	cache.WaitForCacheSync(stop, informer.HasSynced)

	cm0, srv0 := cm.Usage().CPU, server.Usage().CPU
	begin := time.Now()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	go func() {
		for range progress.C {
			fmt.Fprintf(os.Stderr, "%d of %d deployments available after %s\n", nReady.Load(), *deployments, time.Since(begin).Round(time.Second))
		}
	}()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("d-%d", i)
				labels := map[string]string{"app": name}
				d := &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.DeploymentSpec{
						Replicas: ptr.To(int32(*replicas)),
						Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: v1.PodTemplateSpec{
							ObjectMeta: metav1.ObjectMeta{Labels: labels},
							Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
								Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("10m"), v1.ResourceMemory: resource.MustParse("10Mi")}}}}},
						},
					},
				}
				for ctx.Err() == nil {
					_, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
					if err == nil {
						break
					}
					fmt.Fprintln(os.Stderr, "create:", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	for i := range *deployments {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	createdIn := time.Since(begin)
	select {
	case <-allReady:
	case <-ctx.Done():
		fmt.Fprintf(os.Stderr, "only %d of %d deployments available when the -timeout ran out\n", nReady.Load(), *deployments)
	}
	elapsed := time.Since(begin)
	cu, su := cm.Usage(), server.Usage()
	row := fmt.Sprintf("| %d x %d | %d | %s | %s |", *deployments, *replicas, *nodes, createdIn.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	head := "| deployments x replicas | nodes | created in | all available after |"
	if cm != server {
		head += " controller-manager CPU | controller-manager RSS (peak) |"
		row += fmt.Sprintf(" %.2fs (%.0f%% of a core) | %s (%s) |", (cu.CPU - cm0).Seconds(), 100*(cu.CPU-cm0).Seconds()/elapsed.Seconds(), benchproc.MiB(cu.RSS), benchproc.MiB(cu.Peak))
	}
	head += " server CPU | server RSS (peak) |"
	row += fmt.Sprintf(" %.2fs (%.0f%% of a core) | %s (%s) |", (su.CPU - srv0).Seconds(), 100*(su.CPU-srv0).Seconds()/elapsed.Seconds(), benchproc.MiB(su.RSS), benchproc.MiB(su.Peak))
	fmt.Printf("\n%s\n|%s\n%s\n", head, strings.Repeat("---|", strings.Count(head, "|")-1), row)
}
