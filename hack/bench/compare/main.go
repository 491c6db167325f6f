// Command compare runs skiff and upstream's v1.37.2 binaries side by side
// on this machine and writes a markdown table of the ratios to
// _output/bench/.
//
// Sections (-sections, any of load,startup,allinone):
//
//	load:     each load scenario (hack/bench/load) against `skiff apiserver`
//	          and kube-apiserver, each over its own fresh etcd (the same
//	          binary and flags), alternating which side goes first, -rounds
//	          rounds; medians of ops/s, p50 and p99.
//	startup:  process start to /readyz on a fresh etcd (first start) and
//	          over the same etcd again (restart), then idle RSS after -idle
//	          with a small cluster state.
//	allinone: `skiff server` (embedded etcd, controllers, scheduler) against
//	          etcd + kube-apiserver + kube-controller-manager + kube-scheduler:
//	          start to /readyz, idle RSS, and RSS and CPU seconds under the
//	          mixed load.
//	scheduler: hack/bench/scheduler twice over the same kind of skiff server
//	          with -sched-nodes simulated nodes: skiff's scheduler, then
//	          kube-scheduler, the same pod batches (plain, topology spread,
//	          pod anti-affinity); pods/s and p99 create-to-bound.
//
// Every server listens on 127.0.0.1 only, on ports from -port-base; the
// run is bounded by -timeout. Build the upstream binaries first with
// hack/bench/build-upstream.sh (make bench does).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/hack/bench/load"
)

var (
	skiffBin    = flag.String("skiff", "bin/skiff", "skiff binary")
	upstreamDir = flag.String("upstream-bin", "_output/bench/bin", "directory of kube-apiserver, kube-controller-manager, kube-scheduler")
	etcdBin     = flag.String("etcd", "_output/bench/bin/etcd", "etcd binary (both sides' external etcd)")
	outDir      = flag.String("out", "_output/bench", "where the markdown report goes")
	workDir     = flag.String("work-dir", "", "data dirs (default: a fresh temporary directory, removed at the end)")
	sections    = flag.String("sections", "load,startup,allinone,scheduler", "sections to run: load, startup, allinone, scheduler")
	scenarios   = flag.String("scenarios", strings.Join(load.Scenarios, ","), "load scenarios to run")
	sides       = flag.String("sides", "skiff,upstream", "sides to run (one alone gives no ratio)")
	rounds      = flag.Int("rounds", 3, "rounds of each load scenario and of the start-up figures")
	portBase    = flag.Int("port-base", 17743, "first of the 10 loopback ports used")
	idle        = flag.Duration("idle", 60*time.Second, "idle time before the idle RSS figure")
	timeout     = flag.Duration("timeout", 40*time.Minute, "bound of the whole run")
	etcdNoFsync = flag.Bool("etcd-unsafe-no-fsync", false, "run both etcds without fsync (less disk noise; not production-like)")
	protobuf    = flag.Bool("protobuf", true, "clients speak protobuf (as controllers do); false: JSON (as kubectl does)")

	clients     = flag.Int("clients", 8, "concurrent clients (each its own connection)")
	qps         = flag.Float64("qps", 0, "total request rate cap (0: as fast as the server answers)")
	watchQPS    = flag.Float64("watch-qps", 100, "write rate of the watch scenario")
	objectSize  = flag.Int("object-size", 1024, "bytes of data per ConfigMap")
	duration    = flag.Duration("duration", 10*time.Second, "measured time of each scenario run")
	maxOps      = flag.Int("max-ops", 1_000_000, "bound on the operations of each scenario run")
	listObjects = flag.Int("list-objects", 10_000, "objects the list scenarios list")
	pageSize    = flag.Int64("page-size", 500, "page size of list-paged")
	watchers    = flag.Int("watchers", 100, "watchers of the watch scenario")

	schedNodes  = flag.Int("sched-nodes", 1000, "simulated nodes of the scheduler section")
	schedPlain  = flag.Int("sched-plain", 1000, "plain pods of the scheduler section")
	schedSpread = flag.Int("sched-spread", 500, "topology-spread pods of the scheduler section")
	schedAnti   = flag.Int("sched-anti", 300, "pod anti-affinity pods of the scheduler section")
)

func main() {
	klog.InitFlags(nil)
	flag.Parse()
	if err := run(); err != nil {
		stopAll()
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func loadConfig(scenario string) load.Config {
	c := load.Config{
		Namespace: "bench-" + scenario, Clients: *clients, QPS: *qps, ObjectSize: *objectSize,
		Duration: *duration, MaxOps: *maxOps, ListObjects: *listObjects, PageSize: *pageSize, Watchers: *watchers,
	}
	if scenario == "watch" {
		c.QPS = *watchQPS
	}
	return c
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	defer stopAll()

	sideList := split(*sides)
	for _, s := range sideList {
		if s != skiff && s != upstream {
			return fmt.Errorf("-sides: unknown side %q (skiff, upstream)", s)
		}
	}
	need := []string{*skiffBin, *etcdBin}
	if contains(sideList, upstream) {
		need = append(need, filepath.Join(*upstreamDir, "kube-apiserver"))
		if contains(split(*sections), "allinone") || contains(split(*sections), "scheduler") {
			need = append(need, filepath.Join(*upstreamDir, "kube-controller-manager"), filepath.Join(*upstreamDir, "kube-scheduler"))
		}
	}
	for _, b := range need {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("missing binary (run hack/bench/build-upstream.sh and make build): %w", err)
		}
	}
	work := *workDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "skiff-bench-compare-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	rep := newReport(sideList)
	begin := time.Now()
	for _, sec := range split(*sections) {
		var err error
		switch sec {
		case "load":
			err = runLoad(ctx, work, sideList, rep)
		case "startup":
			err = runStartup(ctx, work, sideList, rep)
		case "allinone":
			err = runAllInOne(ctx, work, sideList, rep)
		case "scheduler":
			err = runScheduler(ctx, work, sideList, rep)
		default:
			err = fmt.Errorf("unknown section %q (load, startup, allinone, scheduler)", sec)
		}
		if err != nil {
			// Write what was measured before the failure.
			_ = rep.write(*outDir, time.Since(begin))
			return fmt.Errorf("section %s: %w", sec, err)
		}
	}
	return rep.write(*outDir, time.Since(begin))
}

// ordered is sides in the order of round r: alternating which goes first.
func ordered(sides []string, r int) []string {
	out := append([]string(nil), sides...)
	if r%2 == 1 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

func runLoad(ctx context.Context, work string, sideList []string, rep *report) error {
	scs := split(*scenarios)
	for _, sc := range scs {
		if !contains(load.Scenarios, sc) {
			return fmt.Errorf("unknown scenario %q (known: %s)", sc, strings.Join(load.Scenarios, ", "))
		}
	}
	for r := 0; r < *rounds; r++ {
		for _, sc := range scs {
			for _, side := range ordered(sideList, r) {
				dir := filepath.Join(work, fmt.Sprintf("load-%s-%s-%d", sc, side, r))
				st, err := newAPIStack(ctx, side, dir)
				if err != nil {
					return fmt.Errorf("%s %s: %w", side, sc, err)
				}
				s, err := runScenario(ctx, st, sc, loadConfig(sc))
				st.stop()
				if err != nil {
					return fmt.Errorf("%s %s round %d: %w (logs in %s)", side, sc, r+1, err, dir)
				}
				logf("round %d %-10s %-8s %s", r+1, sc, side, s)
				if s.FirstError != "" {
					logf("  first error: %s", s.FirstError)
				}
				rep.addLoad(sc, side, s)
				if *workDir == "" {
					_ = os.RemoveAll(dir)
				}
			}
		}
	}
	return nil
}

func runScenario(ctx context.Context, st *stack, sc string, c load.Config) (load.Summary, error) {
	cfg, err := st.restConfig()
	if err != nil {
		return load.Summary{}, err
	}
	r, err := load.NewRunner(cfg)
	if err != nil {
		return load.Summary{}, err
	}
	r.Protobuf = *protobuf
	return r.Run(ctx, sc, c)
}

// smallState is the "small cluster state" of the idle figures: a few
// namespaces with ConfigMaps and Secrets.
func smallState(ctx context.Context, st *stack) error {
	cfg, err := st.restConfig()
	if err != nil {
		return err
	}
	r, err := load.NewRunner(cfg)
	if err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		c := loadConfig("get")
		c.Namespace = fmt.Sprintf("idle-%d", i)
		c.Duration, c.MaxOps, c.Clients = time.Second, 1, 1
		// The get scenario creates 100 ConfigMaps and reads one.
		if _, err := r.Run(ctx, "get", c); err != nil {
			return err
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func runStartup(ctx context.Context, work string, sideList []string, rep *report) error {
	kept := map[string]*stack{}
	defer func() {
		for _, st := range kept {
			st.stop()
		}
	}()
	for r := 0; r < *rounds; r++ {
		for _, side := range ordered(sideList, r) {
			st, err := newAPIStack(ctx, side, filepath.Join(work, fmt.Sprintf("startup-%s-%d", side, r)))
			if err != nil {
				return fmt.Errorf("%s first start: %w", side, err)
			}
			first := st.ready
			if err := st.restartAPI(ctx); err != nil {
				st.stop()
				return fmt.Errorf("%s restart: %w", side, err)
			}
			logf("round %d %-8s first start %s, restart %s", r+1, side, first.Round(time.Millisecond), st.ready.Round(time.Millisecond))
			rep.addStartup(side, first, st.ready)
			if r == *rounds-1 {
				kept[side] = st
			} else {
				st.stop()
			}
		}
	}
	// Both sides idle at the same time: an idle server hardly uses the CPU.
	for _, side := range sideList {
		if err := smallState(ctx, kept[side]); err != nil {
			return fmt.Errorf("%s small state: %w", side, err)
		}
	}
	logf("idle for %s", *idle)
	if err := sleepCtx(ctx, *idle); err != nil {
		return err
	}
	for _, side := range sideList {
		st := kept[side]
		rep.addIdle(side, st.api.usage(), st.etcd.usage())
	}
	return nil
}

func runAllInOne(ctx context.Context, work string, sideList []string, rep *report) error {
	for _, side := range sideList {
		st, err := newFullStack(ctx, side, filepath.Join(work, "allinone-"+side))
		if err != nil {
			return fmt.Errorf("%s: %w", side, err)
		}
		res, err := allInOne(ctx, st)
		st.stop()
		if err != nil {
			return fmt.Errorf("%s: %w (logs in %s)", side, err, st.dir)
		}
		logf("all-in-one %-8s ready %s, idle RSS %.0f MiB, mixed: %s, CPU %.1fs, RSS %.0f MiB",
			side, res.ready.Round(time.Millisecond), mib(res.idle.rss), res.mixed, res.cpu.Seconds(), mib(res.loaded.rss))
		rep.allInOne[side] = res
	}
	return nil
}

type allInOneResult struct {
	procs  int
	ready  time.Duration
	idle   usage
	mixed  load.Summary
	cpu    time.Duration // CPU seconds of all processes during the mixed load
	loaded usage         // RSS at the end of the mixed load; peak since start
}

func allInOne(ctx context.Context, st *stack) (allInOneResult, error) {
	res := allInOneResult{procs: len(st.procs()), ready: st.ready}
	if err := smallState(ctx, st); err != nil {
		return res, err
	}
	logf("all-in-one %s: idle for %s", st.side, *idle)
	if err := sleepCtx(ctx, *idle); err != nil {
		return res, err
	}
	res.idle = usageOf(st.procs())
	var err error
	if res.mixed, err = runScenario(ctx, st, "mixed", loadConfig("mixed")); err != nil {
		return res, err
	}
	after := usageOf(st.procs())
	res.cpu = after.cpu - res.idle.cpu
	res.loaded = after
	return res, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
