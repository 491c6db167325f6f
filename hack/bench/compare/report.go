package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/skiff-project/skiff/hack/bench/load"
)

type report struct {
	sides     []string
	order     []string                             // scenarios in first-seen order
	load      map[string]map[string][]load.Summary // scenario -> side -> rounds
	first     map[string][]time.Duration
	restart   map[string][]time.Duration
	idleAPI   map[string]usage
	idleEtcd  map[string]usage
	allInOne  map[string]allInOneResult
	scheduler map[string][]schedRow
}

func newReport(sides []string) *report {
	return &report{
		sides: sides, load: map[string]map[string][]load.Summary{},
		first: map[string][]time.Duration{}, restart: map[string][]time.Duration{},
		idleAPI: map[string]usage{}, idleEtcd: map[string]usage{}, allInOne: map[string]allInOneResult{},
		scheduler: map[string][]schedRow{},
	}
}

func (r *report) addLoad(sc, side string, s load.Summary) {
	if r.load[sc] == nil {
		r.load[sc] = map[string][]load.Summary{}
		r.order = append(r.order, sc)
	}
	r.load[sc][side] = append(r.load[sc][side], s)
}

func (r *report) addStartup(side string, first, restart time.Duration) {
	r.first[side] = append(r.first[side], first)
	r.restart[side] = append(r.restart[side], restart)
}

func (r *report) addIdle(side string, api, etcd usage) {
	r.idleAPI[side], r.idleEtcd[side] = api, etcd
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf(ss []load.Summary, f func(load.Summary) float64) float64 {
	var xs []float64
	for _, s := range ss {
		xs = append(xs, f(s))
	}
	return median(xs)
}

func durMedian(ds []time.Duration) float64 {
	var xs []float64
	for _, d := range ds {
		xs = append(xs, d.Seconds())
	}
	return median(xs)
}

// ratio is skiff/upstream, or a dash when either is missing.
func ratio(s, u float64) string {
	if s == 0 || u == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", s/u)
}

func fmtMs(sec float64) string {
	switch {
	case sec == 0:
		return "—"
	case sec < 0.01:
		return fmt.Sprintf("%.2f ms", sec*1000)
	case sec < 1:
		return fmt.Sprintf("%.1f ms", sec*1000)
	}
	return fmt.Sprintf("%.2f s", sec)
}

func (r *report) markdown(elapsed time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# skiff vs upstream v1.37.2\n\n")
	w("%s, %d CPUs, %s. skiff: %s. Run took %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(),
		memTotal(), skiffVersion(), elapsed.Round(time.Second))
	fsync := "fsync on"
	if *etcdNoFsync {
		fsync = "--unsafe-no-fsync"
	}
	enc := "protobuf"
	if !*protobuf {
		enc = "JSON"
	}
	w("Each side has its own etcd (same binary and flags, %s) on loopback. Load: %d clients (own connections, %s), "+
		"%d B objects, %s per run, %d round(s) alternating which side goes first, medians over rounds; ratios are skiff/upstream "+
		"(ops/s: higher is better for skiff; latency: lower is better).\n\n",
		fsync, *clients, enc, *objectSize, *duration, *rounds)
	w("The load generator runs in the bench's process on the same machine, so it takes CPU from the server it measures (alike for both sides). " +
		"kube-apiserver has kubeadm's flags plus --endpoint-reconciler-type=none (it refuses to advertise a loopback address), and API Priority and Fairness on, its default. " +
		"A first start of skiff includes making its certificates; upstream's are made by the bench beforehand.\n\n")
	if len(r.order) > 0 {
		w("## API server alone (`skiff apiserver` vs `kube-apiserver`)\n\n")
		w("| scenario | operation | skiff ops/s | upstream ops/s | ratio | skiff p50 | upstream p50 | skiff p99 | upstream p99 | p99 ratio | errors (skiff/upstream) |\n")
		w("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, sc := range r.order {
			s, u := r.load[sc][skiff], r.load[sc][upstream]
			ops := func(x load.Summary) float64 { return x.OpsPerSec }
			p50 := func(x load.Summary) float64 { return x.P50.Seconds() }
			p99 := func(x load.Summary) float64 { return x.P99.Seconds() }
			errs := func(ss []load.Summary) int {
				n := 0
				for _, x := range ss {
					n += x.Errors
				}
				return n
			}
			w("| %s | %s | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %d/%d |\n", sc, load.Describe(sc, loadConfig(sc)),
				medianOf(s, ops), medianOf(u, ops), ratio(medianOf(s, ops), medianOf(u, ops)),
				fmtMs(medianOf(s, p50)), fmtMs(medianOf(u, p50)), fmtMs(medianOf(s, p99)), fmtMs(medianOf(u, p99)),
				ratio(medianOf(s, p99), medianOf(u, p99)), errs(s), errs(u))
		}
		w("\n")
	}
	if len(r.first) > 0 {
		w("## Start-up and idle (API server alone, external etcd)\n\n")
		w("| figure | skiff | upstream | ratio |\n|---|---|---|---|\n")
		list := func(ds []time.Duration) string {
			var parts []string
			for _, d := range ds {
				parts = append(parts, fmt.Sprintf("%.2f", d.Seconds()))
			}
			return fmt.Sprintf("%.2f s (%s)", durMedian(ds), strings.Join(parts, ", "))
		}
		w("| start to /readyz, fresh etcd (median (rounds)) | %s | %s | %s |\n", list(r.first[skiff]), list(r.first[upstream]),
			ratio(durMedian(r.first[skiff]), durMedian(r.first[upstream])))
		w("| restart to /readyz, same etcd | %s | %s | %s |\n", list(r.restart[skiff]), list(r.restart[upstream]),
			ratio(durMedian(r.restart[skiff]), durMedian(r.restart[upstream])))
		if len(r.idleAPI) > 0 {
			a, e := r.idleAPI, r.idleEtcd
			w("| API server RSS after %s idle | %.0f MiB | %.0f MiB | %s |\n", *idle, mib(a[skiff].rss), mib(a[upstream].rss), ratio(mib(a[skiff].rss), mib(a[upstream].rss)))
			w("| its etcd's RSS (same binary) | %.0f MiB | %.0f MiB | %s |\n", mib(e[skiff].rss), mib(e[upstream].rss), ratio(mib(e[skiff].rss), mib(e[upstream].rss)))
			w("| API server CPU since start | %.1f s | %.1f s | %s |\n", a[skiff].cpu.Seconds(), a[upstream].cpu.Seconds(), ratio(a[skiff].cpu.Seconds(), a[upstream].cpu.Seconds()))
		}
		w("\n")
	}
	if len(r.allInOne) > 0 {
		s, u := r.allInOne[skiff], r.allInOne[upstream]
		w("## Whole control plane (`skiff server` vs etcd + kube-apiserver + kube-controller-manager + kube-scheduler)\n\n")
		w("skiff server runs without its node agent and addons (coredns, servicelb, local-storage); both sides run all default controllers and leader election.\n\n")
		w("| figure | skiff (%d process) | upstream (%d processes) | ratio |\n|---|---|---|---|\n", s.procs, u.procs)
		w("| first process start to /readyz | %.2f s | %.2f s | %s |\n", s.ready.Seconds(), u.ready.Seconds(), ratio(s.ready.Seconds(), u.ready.Seconds()))
		w("| RSS after %s idle (sum) | %.0f MiB | %.0f MiB | %s |\n", *idle, mib(s.idle.rss), mib(u.idle.rss), ratio(mib(s.idle.rss), mib(u.idle.rss)))
		w("| CPU seconds from start to end of idle | %.1f s | %.1f s | %s |\n", s.idle.cpu.Seconds(), u.idle.cpu.Seconds(), ratio(s.idle.cpu.Seconds(), u.idle.cpu.Seconds()))
		w("| mixed load ops/s | %.1f | %.1f | %s |\n", s.mixed.OpsPerSec, u.mixed.OpsPerSec, ratio(s.mixed.OpsPerSec, u.mixed.OpsPerSec))
		w("| mixed load p99 | %s | %s | %s |\n", fmtMs(s.mixed.P99.Seconds()), fmtMs(u.mixed.P99.Seconds()), ratio(s.mixed.P99.Seconds(), u.mixed.P99.Seconds()))
		w("| CPU seconds during the mixed load | %.1f s | %.1f s | %s |\n", s.cpu.Seconds(), u.cpu.Seconds(), ratio(s.cpu.Seconds(), u.cpu.Seconds()))
		sPer, uPer := 0.0, 0.0
		if s.mixed.Ops > 0 && u.mixed.Ops > 0 {
			sPer, uPer = 1000*s.cpu.Seconds()/float64(s.mixed.Ops), 1000*u.cpu.Seconds()/float64(u.mixed.Ops)
		}
		w("| CPU ms per operation | %.2f | %.2f | %s |\n", sPer, uPer, ratio(sPer, uPer))
		w("| RSS after the mixed load (sum) | %.0f MiB | %.0f MiB | %s |\n", mib(s.loaded.rss), mib(u.loaded.rss), ratio(mib(s.loaded.rss), mib(u.loaded.rss)))
		w("| peak RSS (sum of each process's peak) | %.0f MiB | %.0f MiB | %s |\n", mib(s.loaded.peak), mib(u.loaded.peak), ratio(mib(s.loaded.peak), mib(u.loaded.peak)))
		w("\n")
	}
	if len(r.scheduler) > 0 {
		w("## Scheduler (skiff's vs kube-scheduler, each alone over a `skiff server --disable scheduler` with %d simulated nodes)\n\n", *schedNodes)
		w("Latency is pod create to bound, as a watch sees it; pods are created by 32 clients as fast as the server takes them, " +
			"so on a small machine the server's CPU bounds pods/s and each scheduler's API calls per pod count as much as its algorithm. " +
			"Both schedulers have the client rate 5000/10000.\n\n")
		w("| pods | skiff pods/s | upstream pods/s | ratio | skiff p50 | upstream p50 | skiff p99 | upstream p99 | p99 ratio | scheduler CPU s (skiff/upstream) | scheduler peak RSS (skiff/upstream) | bound (skiff/upstream) |\n")
		w("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for i, s := range r.scheduler[skiff] {
			var u schedRow
			if i < len(r.scheduler[upstream]) {
				u = r.scheduler[upstream][i]
			}
			w("| %d %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %.1f / %.1f | %.0f / %.0f MiB | %d / %d |\n", s.Pods, s.Phase,
				s.PodsPerSec, u.PodsPerSec, ratio(s.PodsPerSec, u.PodsPerSec), fmtMs(s.P50), fmtMs(u.P50), fmtMs(s.P99), fmtMs(u.P99),
				ratio(s.P99, u.P99), s.SchedulerCPU, u.SchedulerCPU, mib(s.SchedulerPeakRSS), mib(u.SchedulerPeakRSS), s.Bound, u.Bound)
		}
		w("\n")
	}
	return b.String()
}

func (r *report) write(dir string, elapsed time.Duration) error {
	md := r.markdown(elapsed)
	fmt.Print(md)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, "compare-"+time.Now().UTC().Format("20060102-150405")+".md")
	if err := os.WriteFile(name, []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "compare.md"), []byte(md), 0o644); err != nil {
		return err
	}
	logf("report written to %s and %s", name, filepath.Join(dir, "compare.md"))
	return nil
}

func skiffVersion() string {
	out, err := exec.Command(*skiffBin, "--version").Output()
	v := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if err != nil || v == "" {
		v = "unknown version"
	}
	if commit, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		v += " at commit " + strings.TrimSpace(string(commit))
	}
	return v
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}
	var kb int64
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		}
	}
	return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
}
