// Command conformance runs the upstream e2e.test against a cluster and
// summarises the result against the official v1.37 conformance list.
//
//	conformance preflight [-kubeconfig F]
//	conformance run -e2e BIN -out DIR [-focus RE] [-skip RE] [-nodes N] ... [-- E2E_FLAGS...]
//	conformance summarize -junit FILE [-baseline YAML] [-classes TSV] [-o FILE]
//	skiff image ls ... | conformance images-check [-node NAME]
//
// conformance/hack/run.sh is the usual entry point (make conformance).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-project/skiff/conformance/internal/images"
	"github.com/skiff-project/skiff/conformance/internal/progress"
	"github.com/skiff-project/skiff/conformance/internal/report"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "preflight":
		err = cmdPreflight(os.Args[2:])
	case "run":
		err = cmdRun(os.Args[2:])
	case "summarize":
		err = cmdSummarize(os.Args[2:])
	case "images-check":
		err = cmdImagesCheck(os.Args[2:], os.Stdin)
	default:
		usage()
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintf(os.Stderr, "[conformance] ERROR: %v\n", err)
		os.Exit(1)
	}
}

// exitError ends the program with a code, without printing anything more.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: conformance preflight|run|summarize|images-check [flags]; see -h of each")
	os.Exit(2)
}

// ---- preflight ----------------------------------------------------------

func cmdPreflight(args []string) error {
	fs := flag.NewFlagSet("preflight", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster under test")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the API server")
	_ = fs.Parse(args)
	_, err := preflight(*kubeconfig, *timeout, os.Stderr)
	return err
}

// preflight checks that the API server answers /version and reports the nodes,
// so that a run against a stopped server ends at once with a clear error
// instead of e2e.test retrying for many minutes. It returns the number of
// nodes (-1 when they cannot be listed).
func preflight(kubeconfig string, timeout time.Duration, log io.Writer) (int, error) {
	if kubeconfig == "" {
		return -1, errors.New("KUBECONFIG is not set: start a cluster (make up, then export KUBECONFIG=/var/lib/skiff/admin.kubeconfig) or point KUBECONFIG at a running one")
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		return -1, fmt.Errorf("kubeconfig %s: %w (start the cluster first, or fix KUBECONFIG)", kubeconfig, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return -1, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = timeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return -1, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return -1, fmt.Errorf("API server %s (from %s) is not reachable: %v\n"+
			"  start the cluster (make up) or point KUBECONFIG at a running one; nothing was run", cfg.Host, kubeconfig, err)
	}
	fmt.Fprintf(log, "[conformance] API server %s is up, version %s\n", cfg.Host, v.GitVersion)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(log, "[conformance] WARNING: cannot list nodes (%v): tests that run pods will fail\n", err)
		return -1, nil
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
				ready++
			}
		}
	}
	fmt.Fprintf(log, "[conformance] nodes: %d, ready: %d\n", len(nodes.Items), ready)
	if ready == 0 {
		fmt.Fprintln(log, "[conformance] WARNING: no ready node: only api-only tests can pass")
	}
	return len(nodes.Items), nil
}

// ---- run ----------------------------------------------------------------

type runOptions struct {
	e2e, ginkgo, kubectl, kubeconfig, focus, skip, out string
	baseline, classes                                  string
	nodes                                              int
	timeout, nodeSchedulableTimeout                    time.Duration
	verbose                                            bool
	extra                                              []string
}

func cmdRun(args []string) error {
	var o runOptions
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&o.e2e, "e2e", "_output/conformance/bin/e2e.test", "path of e2e.test")
	fs.StringVar(&o.ginkgo, "ginkgo", "_output/conformance/bin/ginkgo", "path of the ginkgo CLI (used when -nodes > 1)")
	fs.StringVar(&o.kubectl, "kubectl", "_output/conformance/bin/kubectl", "kubectl the kubectl tests run (v1.37.2, built by build.sh)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster under test")
	fs.StringVar(&o.focus, "focus", `\[Conformance\]`, "ginkgo focus regexp")
	fs.StringVar(&o.skip, "skip", "", "ginkgo skip regexp")
	focusFile := fs.String("focus-file", "", "file of test names, one a line (# comments): focus on exactly these, instead of -focus")
	fs.StringVar(&o.out, "out", "_output/conformance", "directory for junit_01.xml, e2e.log and summary.txt")
	fs.StringVar(&o.baseline, "baseline", "conformance/testdata/conformance-1.37.yaml", "official conformance list")
	fs.StringVar(&o.classes, "classes", "conformance/testdata/conformance-1.37.tsv", "codename -> class TSV")
	fs.IntVar(&o.nodes, "nodes", 1, "parallel ginkgo processes ([Serial] specs still run alone, at the end)")
	fs.DurationVar(&o.timeout, "timeout", 6*time.Hour, "suite timeout (ginkgo --timeout); the run is killed 10m after it")
	fs.DurationVar(&o.nodeSchedulableTimeout, "node-schedulable-timeout", 5*time.Minute, "how long e2e.test waits for nodes to be schedulable before the suite")
	fs.BoolVar(&o.verbose, "v", false, "also copy e2e.test's output to the screen")
	_ = fs.Parse(args)
	o.extra = fs.Args()
	if *focusFile != "" {
		re, n, err := focusFromFile(*focusFile)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "[conformance] focus: %d tests from %s\n", n, *focusFile)
		o.focus = re
	}
	return run(o)
}

func run(o runOptions) error {
	for _, p := range []string{o.e2e, o.kubectl, o.baseline, o.classes} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (build it with conformance/hack/build.sh)", err)
		}
	}
	if o.nodes > 1 {
		if _, err := os.Stat(o.ginkgo); err != nil {
			return fmt.Errorf("-nodes %d needs the ginkgo CLI: %w (conformance/hack/build.sh ginkgo)", o.nodes, err)
		}
	}
	nodes, err := preflight(o.kubeconfig, 10*time.Second, os.Stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	junit := filepath.Join(o.out, "junit_01.xml")
	_ = os.Remove(junit) // never summarise a previous run's report

	tracker := progress.NewTracker(os.Stdout)

	e2eFlags := []string{
		"--kubeconfig=" + o.kubeconfig,
		"--kubectl-path=" + absPath(o.kubectl),
		"--provider=skeleton",
		"--report-dir=" + o.out,
		"--dump-logs-on-failure=false",
		"--node-schedulable-timeout=" + o.nodeSchedulableTimeout.String(),
		"--e2e-output-dir=" + filepath.Join(o.out, "e2e-output"),
	}
	if nodes == 0 {
		// e2e.test's setup fails with "no ready, schedulable nodes" unless
		// told the cluster has none; with it, api-only tests still run.
		fmt.Fprintln(os.Stderr, "[conformance] the cluster has no node: passing --num-nodes=0 so that api-only tests run")
		e2eFlags = append(e2eFlags, "--num-nodes=0")
	}
	e2eFlags = append(e2eFlags, o.extra...)
	var cmd *exec.Cmd
	if o.nodes > 1 {
		gargs := []string{
			"--nodes=" + fmt.Sprint(o.nodes),
			"--focus=" + o.focus,
			"--flake-attempts=1",
			"--timeout=" + o.timeout.String(),
			"--no-color",
			"-v",
			"--output-interceptor-mode=none",
		}
		if o.skip != "" {
			gargs = append(gargs, "--skip="+o.skip)
		}
		gargs = append(gargs, o.e2e, "--")
		cmd = exec.Command(o.ginkgo, append(gargs, e2eFlags...)...)
	} else {
		args := []string{
			"--ginkgo.focus=" + o.focus,
			"--ginkgo.flake-attempts=1",
			"--ginkgo.timeout=" + o.timeout.String(),
			"--ginkgo.no-color",
			"--ginkgo.v",
		}
		if o.skip != "" {
			args = append(args, "--ginkgo.skip="+o.skip)
		}
		cmd = exec.Command(o.e2e, append(args, e2eFlags...)...)
	}
	logPath := filepath.Join(o.out, "e2e.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating %s: %w", logPath, err)
	}
	defer logf.Close()
	// e2e.test's output goes to the log and, line by line, to the progress
	// parser (and to the screen with -v).
	var sink io.Writer = logf
	if o.verbose {
		sink = io.MultiWriter(logf, os.Stdout)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		parser := progress.NewParser(tracker)
		sc := bufio.NewScanner(io.TeeReader(pr, sink))
		sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
		for sc.Scan() {
			parser.Line(sc.Text())
		}
		parser.Flush()
		_, _ = io.Copy(sink, pr) // a line too long for the scanner: keep logging
	}()
	// Own process group (a terminal's Ctrl-C reaches only us; we forward it),
	// and e2e.test is told to stop if this runner dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// A closed screen (| head) must not kill the runner while e2e.test runs.
	signal.Ignore(syscall.SIGPIPE)
	fmt.Fprintf(os.Stderr, "[conformance] running: %s\n", strings.Join(quoteArgs(cmd.Args), " "))
	fmt.Fprintf(os.Stderr, "[conformance] e2e.test output: %s\n", logPath)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-parsed
		done <- err
	}()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	hardStop := time.After(o.timeout + 10*time.Minute)
	interrupted := 0
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-done:
			break loop
		case <-tick.C:
			tracker.Tick(2 * time.Minute)
		case s := <-sigs:
			interrupted++
			if interrupted == 1 {
				fmt.Fprintf(os.Stderr, "[conformance] %v: interrupting e2e.test (it writes its report); again to kill it\n", s)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			} else {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		case <-hardStop:
			fmt.Fprintf(os.Stderr, "[conformance] e2e.test ran past its %s timeout by 10m: killing it\n", o.timeout)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	wall := time.Since(start).Round(time.Second)

	summaryPath := filepath.Join(o.out, "summary.txt")
	var sumErr error
	if _, err := os.Stat(junit); err != nil {
		sumErr = fmt.Errorf("e2e.test wrote no %s (%v); last lines of %s:\n%s", junit, waitErr, logPath, tail(logPath, 15))
		done, failed, total := tracker.Counts()
		fmt.Fprintf(os.Stderr, "[conformance] progress before it ended: %d/%d done, %d failed\n", done, total, failed)
	} else {
		var s report.Summary
		s, sumErr = writeSummary(junit, o.baseline, o.classes, summaryPath, wall, os.Stdout)
		if sumErr == nil && s.Conformance.Ran()+s.Other.Ran() == 0 && len(s.SuiteErrors) == 0 {
			return fmt.Errorf("no test ran: the focus %q matched none (see %s)", o.focus, logPath)
		}
	}
	if sumErr != nil {
		return sumErr
	}
	if waitErr != nil {
		fmt.Fprintf(os.Stderr, "[conformance] e2e.test: %v (wall time %s); summary: %s, log: %s\n", waitErr, wall, summaryPath, logPath)
		return exitError(1)
	}
	fmt.Fprintf(os.Stderr, "[conformance] all selected tests passed (wall time %s); summary: %s\n", wall, summaryPath)
	return nil
}

// focusFromFile turns a list of test names into one anchored regexp.
func focusFromFile(path string) (string, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, fmt.Errorf("reading focus file: %w", err)
	}
	var alts []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		alts = append(alts, regexp.QuoteMeta(l))
	}
	if len(alts) == 0 {
		return "", 0, fmt.Errorf("focus file %s names no test", path)
	}
	// ginkgo matches focus against "<suite description> <spec text>".
	return `(?:^|\s)(?:` + strings.Join(alts, "|") + `)$`, len(alts), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, ` \[]*?$'"`) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// ---- summarize ----------------------------------------------------------

func cmdSummarize(args []string) error {
	fs := flag.NewFlagSet("summarize", flag.ExitOnError)
	junit := fs.String("junit", "_output/conformance/junit_01.xml", "JUnit report written by e2e.test --report-dir")
	baseline := fs.String("baseline", "conformance/testdata/conformance-1.37.yaml", "official conformance list")
	classes := fs.String("classes", "conformance/testdata/conformance-1.37.tsv", "codename -> class TSV")
	out := fs.String("o", "", "also write the summary to this file")
	_ = fs.Parse(args)
	_, err := writeSummary(*junit, *baseline, *classes, *out, 0, os.Stdout)
	return err
}

func writeSummary(junit, baseline, classes, out string, wall time.Duration, screen io.Writer) (report.Summary, error) {
	results, err := report.ReadJUnitFile(junit)
	if err != nil {
		return report.Summary{}, err
	}
	tests, err := report.ReadBaseline(baseline)
	if err != nil {
		return report.Summary{}, err
	}
	cls, err := report.ReadClasses(classes)
	if err != nil {
		return report.Summary{}, err
	}
	s := report.Summarize(results, tests, cls)
	var b strings.Builder
	if wall > 0 {
		fmt.Fprintf(&b, "Wall time: %s\n", wall)
	}
	if err := s.Write(&b); err != nil {
		return s, fmt.Errorf("formatting summary: %w", err)
	}
	fmt.Fprint(screen, b.String())
	if out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			return s, fmt.Errorf("writing summary: %w", err)
		}
	}
	return s, nil
}

// ---- images-check -------------------------------------------------------

// cmdImagesCheck reads a node's `skiff image ls` from stdin and fails unless
// every conformance image reference (as e2e.test resolves it) is there.
func cmdImagesCheck(args []string, in io.Reader) error {
	fs := flag.NewFlagSet("images-check", flag.ExitOnError)
	node := fs.String("node", "the node", "the node's name, for the message")
	_ = fs.Parse(args)
	missing, err := images.MissingImported(in)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %d of %d conformance images: %s", *node, len(missing), len(images.Conformance), strings.Join(missing, ", "))
	}
	fmt.Fprintf(os.Stderr, "[conformance] %s has all %d conformance images\n", *node, len(images.Conformance))
	return nil
}
