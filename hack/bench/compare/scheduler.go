package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// schedRow is one phase of hack/bench/scheduler -json.
type schedRow struct {
	Phase            string  `json:"phase"`
	Pods             int     `json:"pods"`
	Bound            int     `json:"bound"`
	PodsPerSec       float64 `json:"podsPerSec"`
	P50              float64 `json:"p50Seconds"`
	P99              float64 `json:"p99Seconds"`
	SchedulerCPU     float64 `json:"schedulerCPUSeconds"`
	SchedulerPeakRSS int64   `json:"schedulerPeakRSSBytes"`
}

// runScheduler runs hack/bench/scheduler once per side: the same skiff
// server, simulated nodes and pod batches, with skiff's scheduler or with
// kube-scheduler (the same client rate) as the only scheduler.
func runScheduler(ctx context.Context, work string, sideList []string, rep *report) error {
	bench := filepath.Join(work, "scheduler-bench")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bench, "./hack/bench/scheduler").CombinedOutput(); err != nil {
		return fmt.Errorf("building hack/bench/scheduler: %w\n%s", err, out)
	}
	for _, side := range sideList {
		jsonPath := filepath.Join(work, "scheduler-"+side+".json")
		args := []string{"-bin", *skiffBin, "-port", strconv.Itoa(*portBase), "-nodes", strconv.Itoa(*schedNodes),
			"-plain", strconv.Itoa(*schedPlain), "-spread", strconv.Itoa(*schedSpread), "-anti", strconv.Itoa(*schedAnti),
			"-phase-timeout", "5m", "-json", jsonPath}
		if side == upstream {
			args = append(args, "-kube-scheduler", filepath.Join(*upstreamDir, "kube-scheduler"))
		}
		logf("scheduler %s: %d nodes, %d plain, %d spread, %d anti-affinity pods", side, *schedNodes, *schedPlain, *schedSpread, *schedAnti)
		cmd := exec.CommandContext(ctx, bench, args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		// Its own process group, with the servers it starts: when it
		// fails or the run is cancelled, SIGTERM to the group stops them
		// all (it exits on errors without stopping its children).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = time.Minute
		err := cmd.Run()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if err != nil {
			return fmt.Errorf("scheduler bench (%s): %w", side, err)
		}
		data, err := os.ReadFile(jsonPath)
		if err != nil {
			return err
		}
		var rows []schedRow
		if err := json.Unmarshal(data, &rows); err != nil {
			return fmt.Errorf("scheduler bench (%s) output: %w", side, err)
		}
		rep.scheduler[side] = rows
	}
	return nil
}
