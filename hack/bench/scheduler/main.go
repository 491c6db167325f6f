// Command scheduler benchmarks skiff's scheduler with simulated nodes.
//
// It starts `skiff server --disable scheduler`, a separate `skiff
// scheduler` (so its CPU and memory can be measured alone) and `skiff
// sim-nodes`, then:
//
//	-mode pods:  on -nodes simulated nodes, schedules -plain pods, then
//	             -spread pods with a zone topology spread constraint, then
//	             -anti pods with a required pod anti-affinity on the node
//	             name, and prints pods/s, p50/p99 latency (create to bound,
//	             as seen by a watch) and the scheduler's and API server's
//	             CPU and RSS. -kube-scheduler runs upstream's kube-scheduler
//	             binary instead of skiff's, with the same client rate, for
//	             hack/bench/compare; -json writes the rows to a file.
//	-mode nodes: keeps -nodes simulated nodes for -duration and prints, every
//	             -interval, how many are Ready with a fresh Lease and the API
//	             server's CPU and RSS.
//
// Usage: go run ./hack/bench/scheduler -bin bin/skiff [-mode pods|nodes]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-project/skiff/hack/bench/internal/benchproc"
)

var (
	bin          = flag.String("bin", "bin/skiff", "skiff binary")
	mode         = flag.String("mode", "pods", "pods or nodes")
	nodes        = flag.Int("nodes", 1000, "simulated nodes")
	zones        = flag.Int("zones", 10, "zones the nodes are spread over")
	plain        = flag.Int("plain", 10000, "plain pods")
	spread       = flag.Int("spread", 5000, "pods with a topology spread constraint")
	workers      = flag.Int("create-workers", 32, "parallel pod creators")
	duration     = flag.Duration("duration", 10*time.Minute, "how long -mode nodes keeps the nodes")
	interval     = flag.Duration("interval", time.Minute, "how often -mode nodes reports")
	anti         = flag.Int("anti", 500, "pods with a required pod anti-affinity (one per node); at most -nodes")
	port         = flag.Int("port", 17443, "API server port")
	upstream     = flag.String("kube-scheduler", "", "upstream kube-scheduler binary to run instead of skiff's scheduler")
	phaseTimeout = flag.Duration("phase-timeout", 30*time.Minute, "how long a phase waits for its pods to be bound")
	jsonOut      = flag.String("json", "", "also write the pods rows as JSON to this file")
	backlog      = flag.Bool("backlog", false, "create each phase's pods while the scheduler is paused (SIGSTOP), then measure how fast it drains them; latency is then measured from the resume")
	noFsync      = flag.Bool("etcd-unsafe-no-fsync", false, "run the embedded etcd without fsync (when the disk, not the scheduler, limits the run)")
	keep         = flag.Bool("keep", false, "keep the data directory")
)

// start runs `skiff args...` logging to dir/name.log.
func start(dir, name string, args ...string) *benchproc.Proc {
	return startBin(*bin, dir, name, args...)
}

func startBin(bin, dir, name string, args ...string) *benchproc.Proc {
	p, err := benchproc.Start(bin, dir, name, args...)
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
	dir, err := os.MkdirTemp("", "skiff-bench-scheduler-")
	must(err)
	if !*keep {
		defer os.RemoveAll(dir)
	}
	data := filepath.Join(dir, "data")
	serverArgs := []string{"server", "--disable-agent", "--disable", "scheduler", "--data-dir", data,
		"--secure-port", strconv.Itoa(*port), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1"}
	if *noFsync {
		serverArgs = append(serverArgs, "--etcd-unsafe-no-fsync")
	}
	server := start(dir, "server", serverArgs...)
	defer server.Stop()
	kubeconfig := filepath.Join(data, "admin.kubeconfig")
	must(server.WaitForLog("API server ready", 2*time.Minute))

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(err)
	cfg.QPS, cfg.Burst = 5000, 10000
	client, err := kubernetes.NewForConfig(cfg)
	must(err)

	simStart := time.Now()
	sim := start(dir, "sim-nodes", "sim-nodes", "--kubeconfig", kubeconfig, "--count", strconv.Itoa(*nodes),
		"--zones", strconv.Itoa(*zones), "--cpu", "64", "--memory", "256Gi", "--pods", "110", "--taints=", "--workers", "32",
		"--kube-api-qps", "5000", "--kube-api-burst", "10000")
	defer sim.Stop()
	must(sim.WaitForLog("Simulated nodes registered", 10*time.Minute))
	fmt.Printf("%d simulated nodes registered in %s\n", *nodes, time.Since(simStart).Round(time.Millisecond))

	switch *mode {
	case "nodes":
		watchNodes(client, server, sim)
	case "pods":
		var sched *benchproc.Proc
		if *upstream != "" {
			// The same client rate as skiff's; no serving port (the
			// default, 10259, may be another's).
			sched = startBin(*upstream, dir, "scheduler", "--kubeconfig", kubeconfig, "--kube-api-qps", "5000",
				"--kube-api-burst", "10000", "--secure-port", "0", "--leader-elect=true")
		} else {
			sched = start(dir, "scheduler", "scheduler", "--kubeconfig", kubeconfig, "--kube-api-qps", "5000", "--kube-api-burst", "10000", "--leader-elect=false")
		}
		defer sched.Stop()
		if *upstream != "" {
			must(sched.WaitForLog("Successfully acquired lease", time.Minute))
		} else {
			must(sched.WaitForLog("Scheduler caches synced", time.Minute))
		}
		fmt.Printf("\n| phase | pods | pods/s (avg) | pods/s (median 1s window) | p50 | p99 | scheduler CPU | scheduler RSS (peak) | server CPU | server RSS (peak) |\n")
		fmt.Printf("|---|---|---|---|---|---|---|---|---|---|\n")
		runPhase(client, "plain", *plain, sched, server, func(p *v1.Pod) {})
		runPhase(client, "topology spread", *spread, sched, server, func(p *v1.Pod) {
			p.Labels["app"] = "spread"
			p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
			}}
		})
		if *anti > 0 {
			runPhase(client, "pod anti-affinity", min(*anti, *nodes), sched, server, func(p *v1.Pod) {
				p.Labels["app"] = "anti"
				p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
						TopologyKey:   v1.LabelHostname,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}},
					}},
				}}
			})
		}
		if *jsonOut != "" {
			data, err := json.MarshalIndent(rows, "", "  ")
			must(err)
			must(os.WriteFile(*jsonOut, data, 0o644))
		}
	default:
		must(fmt.Errorf("unknown -mode %q", *mode))
	}
}

// Row is one phase's result, for -json.
type Row struct {
	Phase            string  `json:"phase"`
	Pods             int     `json:"pods"`
	Bound            int     `json:"bound"`
	PodsPerSec       float64 `json:"podsPerSec"`
	P50              float64 `json:"p50Seconds"`
	P99              float64 `json:"p99Seconds"`
	SchedulerCPU     float64 `json:"schedulerCPUSeconds"`
	SchedulerPeakRSS int64   `json:"schedulerPeakRSSBytes"`
	ServerCPU        float64 `json:"serverCPUSeconds"`
}

var rows []Row

// runPhase creates n pods in their own namespace and measures until all
// are bound.
func runPhase(client kubernetes.Interface, name string, n int, sched, server *benchproc.Proc, mutate func(*v1.Pod)) {
	ctx := context.Background()
	ns := "bench-" + strings.ReplaceAll(name, " ", "-")
	_, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(err)
	time.Sleep(2 * time.Second) // let the service account controller catch up

	var mu sync.Mutex
	created := make(map[string]time.Time, n)
	var latencies []time.Duration
	var bound atomic.Int64
	perSecond := map[int64]int{}
	allBound := make(chan struct{})
	seen := map[string]bool{}
	observe := func(obj any) {
		p, ok := obj.(*v1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if seen[p.Name] {
			return
		}
		seen[p.Name] = true
		if t, ok := created[p.Name]; ok {
			latencies = append(latencies, now.Sub(t))
		}
		perSecond[now.Unix()]++
		if bound.Add(1) == int64(n) {
			close(allBound)
		}
	}
	// An informer, not a bare watch: it re-watches if the server ends the
	// stream.
	informer := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns)).Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	}); err != nil {
		must(err)
	}
	stopInformer := make(chan struct{})
	defer close(stopInformer)
	go informer.Run(stopInformer)
	cache.WaitForCacheSync(stopInformer, informer.HasSynced)

	if *backlog {
		must(sched.Cmd.Process.Signal(syscall.SIGSTOP))
	}
	cpu0, srv0 := sched.Usage().CPU, server.Usage().CPU
	begin := time.Now()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	go func() {
		for range progress.C {
			fmt.Fprintf(os.Stderr, "%s: %d of %d pods bound after %s\n", name, bound.Load(), n, time.Since(begin).Round(time.Second))
		}
	}()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := &v1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Labels: map[string]string{}},
					Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
						Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("10m"), v1.ResourceMemory: resource.MustParse("10Mi")}}}}},
				}
				mutate(p)
				mu.Lock()
				created[p.Name] = time.Now()
				mu.Unlock()
				for {
					if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err == nil {
						break
					} else {
						fmt.Fprintln(os.Stderr, "create:", err)
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	createdIn := time.Since(begin)
	if *backlog {
		// Measure from the resume: every pod waits in the backlog.
		mu.Lock()
		begin = time.Now()
		for k := range created {
			created[k] = begin
		}
		mu.Unlock()
		cpu0, srv0 = sched.Usage().CPU, server.Usage().CPU
		must(sched.Cmd.Process.Signal(syscall.SIGCONT))
	}
	select {
	case <-allBound:
	case <-time.After(*phaseTimeout):
		fmt.Fprintf(os.Stderr, "%s: only %d of %d pods bound after %s\n", name, bound.Load(), n, *phaseTimeout)
	}
	elapsed := time.Since(begin)
	su, vu := sched.Usage(), server.Usage()

	mu.Lock()
	defer mu.Unlock()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(q float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(float64(len(latencies)-1)*q)].Round(time.Millisecond)
	}
	var windows []int
	for _, c := range perSecond {
		windows = append(windows, c)
	}
	sort.Ints(windows)
	median := 0
	if len(windows) > 0 {
		median = windows[len(windows)/2]
	}
	schedCPU := su.CPU - cpu0
	srvCPU := vu.CPU - srv0
	fmt.Printf("| %s | %d | %.0f | %d | %s | %s | %.2fs (%.0f%% of a core) | %s (%s) | %.2fs (%.0f%%) | %s (%s) |\n",
		name, n, float64(bound.Load())/elapsed.Seconds(), median, pct(0.5), pct(0.99),
		schedCPU.Seconds(), 100*schedCPU.Seconds()/elapsed.Seconds(), benchproc.MiB(su.RSS), benchproc.MiB(su.Peak),
		srvCPU.Seconds(), 100*srvCPU.Seconds()/elapsed.Seconds(), benchproc.MiB(vu.RSS), benchproc.MiB(vu.Peak))
	rows = append(rows, Row{Phase: name, Pods: n, Bound: int(bound.Load()), PodsPerSec: float64(bound.Load()) / elapsed.Seconds(),
		P50: pct(0.5).Seconds(), P99: pct(0.99).Seconds(), SchedulerCPU: schedCPU.Seconds(), SchedulerPeakRSS: su.Peak,
		ServerCPU: srvCPU.Seconds()})
	fmt.Fprintf(os.Stderr, "%s: created %d pods in %s, all bound after %s\n", name, n, createdIn.Round(time.Millisecond), elapsed.Round(time.Millisecond))
}

// watchNodes reports every interval how many nodes are Ready with a Lease
// renewed within its duration, and the API server's and simulator's usage.
func watchNodes(client kubernetes.Interface, server, sim *benchproc.Proc) {
	ctx := context.Background()
	fmt.Printf("\n| elapsed | Ready nodes | fresh leases | oldest lease age | server CPU (interval) | server RSS (peak) | sim-nodes CPU | sim-nodes RSS |\n|---|---|---|---|---|---|---|---|\n")
	begin := time.Now()
	lastSrv, lastSim, last := server.Usage().CPU, sim.Usage().CPU, time.Now()
	for time.Since(begin) < *duration {
		time.Sleep(*interval)
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		must(err)
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
					ready++
				}
			}
		}
		leases, err := client.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		must(err)
		fresh := 0
		var oldest time.Duration
		now := time.Now()
		for _, l := range leases.Items {
			if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
				continue
			}
			age := now.Sub(l.Spec.RenewTime.Time)
			oldest = max(oldest, age)
			if age < time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second {
				fresh++
			}
		}
		su, mu := server.Usage(), sim.Usage()
		span := time.Since(last).Seconds()
		fmt.Printf("| %s | %d/%d | %d | %s | %.0f%% of a core | %s (%s) | %.0f%% | %s |\n",
			time.Since(begin).Round(time.Second), ready, len(nodes.Items), fresh, oldest.Round(100*time.Millisecond),
			100*(su.CPU-lastSrv).Seconds()/span, benchproc.MiB(su.RSS), benchproc.MiB(su.Peak), 100*(mu.CPU-lastSim).Seconds()/span, benchproc.MiB(mu.RSS))
		lastSrv, lastSim, last = su.CPU, mu.CPU, time.Now()
	}
}
