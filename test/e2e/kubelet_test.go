//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// kubectlFunc runs one of the two kubectls against the server.
type kubectlFunc func(ctx context.Context, stdin string, args ...string) (string, error)

func kubectls(s *framework.Server) map[string]kubectlFunc {
	return map[string]kubectlFunc{"kubectl": s.Kubectl, "skiff-kubectl": s.KubectlNew}
}

// eventuallyState polls cond every 200 ms until it holds or timeout passes.
func eventuallyState(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %s)", what, timeout, last)
}

func waitNodeReady(t *testing.T, c kubernetes.Interface, node string) {
	t.Helper()
	eventuallyState(t, 30*time.Second, "node Ready", func() (bool, string) {
		n, err := c.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == v1.NodeReady {
				return cond.Status == v1.ConditionTrue, cond.Message
			}
		}
		return false, "no Ready condition"
	})
}

func getPod(t *testing.T, c kubernetes.Interface, name string) *v1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitRunning(t *testing.T, c kubernetes.Interface, name string, timeout time.Duration) *v1.Pod {
	t.Helper()
	var pod *v1.Pod
	eventuallyState(t, timeout, "pod "+name+" Running with an IP", func() (bool, string) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return p.Status.Phase == v1.PodRunning && p.Status.PodIP != "" && isReady(p), fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	return pod
}

func isReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func apply(t *testing.T, s *framework.Server, yaml string) {
	t.Helper()
	if out, err := s.Kubectl(context.Background(), yaml, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

func countEntries(dir string) int {
	entries, _ := os.ReadDir(dir)
	return len(entries)
}

// TestKubeletPods runs real pods on a real containerd: the acceptance list
// of the node agent.
func TestKubeletPods(t *testing.T) {
	s := framework.StartServer(t, framework.WithArgs("--disable", "coredns")) // only the test's pods on the node
	a := framework.StartAgent(t, s)
	c := s.Client()
	ctx := context.Background()
	waitNodeReady(t, c, a.NodeName)
	on := fmt.Sprintf(`{"spec":{"nodeName":%q}}`, a.NodeName)

	t.Run("run busybox: Running with an IP within 5s", func(t *testing.T) {
		start := time.Now()
		if out, err := s.Kubectl(ctx, "", "run", "b", "--image=busybox", "--overrides="+on, "--", "sleep", "3600"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		pod := waitRunning(t, c, "b", 5*time.Second)
		t.Logf("pod b Running with IP %s after %v", pod.Status.PodIP, time.Since(start).Round(time.Millisecond))
	})

	apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: %s
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080}]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: att}
spec:
  nodeName: %s
  containers:
  - name: c
    image: busybox
    stdin: true
    command: ["sh", "-c", "while read l; do echo got $l; done"]
`, a.NodeName, a.NodeName))
	web := waitRunning(t, c, "web", 20*time.Second)
	waitRunning(t, c, "att", 20*time.Second)

	for name, kubectl := range kubectls(s) {
		t.Run(name+" logs", func(t *testing.T) {
			out, err := kubectl(ctx, "", "logs", "web")
			if err != nil || strings.TrimSpace(out) != "serving" {
				t.Fatalf("logs = %q, %v", out, err)
			}
			out, err = kubectl(ctx, "", "logs", "web", "--timestamps", "--tail=1")
			if err != nil || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT[0-9:.]+Z serving\n$`).MatchString(out) {
				t.Fatalf("logs --timestamps = %q, %v", out, err)
			}
		})
		t.Run(name+" exec", func(t *testing.T) {
			out, err := kubectl(ctx, "", "exec", "b", "--", "ls", "/")
			if err != nil || !strings.Contains(out, "bin\n") || !strings.Contains(out, "etc\n") {
				t.Fatalf("exec ls / = %q, %v", out, err)
			}
			out, err = kubectl(ctx, "", "exec", "b", "--", "sh", "-c", "exit 3")
			if err == nil || !strings.Contains(out, "exit code 3") {
				t.Fatalf("exit code not propagated: %q, %v", out, err)
			}
		})
		t.Run(name+" exec -it via a pty", func(t *testing.T) {
			bin, args := kubectlCommand(s, name, "exec", "-it", "b", "--", "sh")
			cmd := exec.CommandContext(ctx, "script", "-qec", shellJoin(append([]string{bin}, args...)), "/dev/null")
			cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig())
			cmd.Stdin = strings.NewReader("echo TTY=$(tty); exit\n")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "TTY=/dev/pts/") {
				t.Fatalf("exec -it: %v\n%s", err, out)
			}
		})
		t.Run(name+" attach", func(t *testing.T) {
			bin, args := kubectlCommand(s, name, "attach", "-i", "att")
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, bin, args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig())
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			word := "w" + strings.ReplaceAll(name, "-", "")
			go func() {
				time.Sleep(time.Second)
				fmt.Fprintf(stdin, "%s\n", word)
			}()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "got "+word {
					return
				}
			}
			t.Fatal("attach: the echo never came back")
		})
		t.Run(name+" port-forward", func(t *testing.T) {
			bin, args := kubectlCommand(s, name, "port-forward", "pod/web", ":8080")
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, bin, args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig())
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			sc := bufio.NewScanner(stdout)
			port := ""
			for sc.Scan() {
				if m := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+)`).FindStringSubmatch(sc.Text()); m != nil {
					port = m[1]
					break
				}
			}
			if port == "" {
				t.Fatal("port-forward printed no local port")
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			resp, err := http.Get("http://127.0.0.1:" + port + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(body)) != "hello-from-web" {
				t.Fatalf("through port-forward: %q", body)
			}
		})
	}

	t.Run("pod IP answers HTTP from another pod", func(t *testing.T) {
		out, err := s.Kubectl(ctx, "", "exec", "b", "--", "timeout", "5", "wget", "-q", "-O-", "http://"+web.Status.PodIP+":8080/")
		if err != nil || strings.TrimSpace(out) != "hello-from-web" {
			t.Fatalf("wget from b: %q, %v", out, err)
		}
	})

	t.Run("failing liveness probe restarts the container", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "touch /tmp/ok; sleep 3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/ok"]}
      periodSeconds: 1
      failureThreshold: 1
`, a.NodeName))
		waitRunning(t, c, "live", 20*time.Second)
		if out, err := s.Kubectl(ctx, "", "exec", "live", "--", "rm", "/tmp/ok"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		eventuallyState(t, 30*time.Second, "restartCount up", func() (bool, string) {
			p := getPod(t, c, "live")
			if len(p.Status.ContainerStatuses) == 0 {
				return false, "no status"
			}
			return p.Status.ContainerStatuses[0].RestartCount >= 1, fmt.Sprintf("%+v", p.Status.ContainerStatuses[0])
		})
	})

	t.Run("crashing container reaches CrashLoopBackOff", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: %s
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "echo dying; exit 1"]}
`, a.NodeName))
		eventuallyState(t, 30*time.Second, "CrashLoopBackOff", func() (bool, string) {
			p := getPod(t, c, "crash")
			if len(p.Status.ContainerStatuses) == 0 {
				return false, "no status"
			}
			cs := p.Status.ContainerStatuses[0]
			return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.LastTerminationState.Terminated != nil &&
				cs.LastTerminationState.Terminated.ExitCode == 1, fmt.Sprintf("%+v", cs)
		})
		out, err := s.Kubectl(ctx, "", "logs", "crash", "--previous")
		if err != nil || strings.TrimSpace(out) != "dying" {
			t.Errorf("logs --previous = %q, %v", out, err)
		}
	})

	t.Run("configMap update and downward API labels inside the pod", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cm1}
data: {key: v1}
---
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {app: vols, tier: front}}
spec:
  nodeName: %s
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: cm, mountPath: /cm}
    - {name: dw, mountPath: /dw}
  volumes:
  - {name: cm, configMap: {name: cm1}}
  - name: dw
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
`, a.NodeName))
		waitRunning(t, c, "vols", 20*time.Second)
		out, err := s.Kubectl(ctx, "", "exec", "vols", "--", "cat", "/dw/labels")
		if err != nil || out != "app=\"vols\"\ntier=\"front\"" {
			t.Fatalf("downward API labels = %q, %v", out, err)
		}
		if out, err := s.Kubectl(ctx, "", "exec", "vols", "--", "cat", "/cm/key"); err != nil || out != "v1" {
			t.Fatalf("configMap key = %q, %v", out, err)
		}
		if out, err := s.Kubectl(ctx, "", "patch", "configmap", "cm1", "-p", `{"data":{"key":"v2"}}`); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		start := time.Now()
		eventuallyState(t, 60*time.Second, "configMap update in the pod", func() (bool, string) {
			out, err := s.Kubectl(ctx, "", "exec", "vols", "--", "cat", "/cm/key")
			return err == nil && out == "v2", out
		})
		t.Logf("configMap update visible after %v", time.Since(start).Round(time.Second))
	})

	t.Run("image volume: the image's files, read-only; unmounted at deletion", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: imgvol}
spec:
  nodeName: %s
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    volumeMounts: [{name: img, mountPath: /img}]
  volumes:
  - {name: img, image: {reference: busybox, pullPolicy: Always}}
`, a.NodeName))
		pod := waitRunning(t, c, "imgvol", 20*time.Second)
		// busybox's image holds /bin/busybox; the container sees it at /img.
		if out, err := s.Kubectl(ctx, "", "exec", "imgvol", "--", "ls", "/img/bin/busybox"); err != nil || strings.TrimSpace(out) != "/img/bin/busybox" {
			t.Fatalf("ls /img/bin/busybox = %q, %v", out, err)
		}
		if out, err := s.Kubectl(ctx, "", "exec", "imgvol", "--", "touch", "/img/new"); err == nil || !strings.Contains(out, "Read-only file system") {
			t.Errorf("writing into the image volume: err %v, output %q; want Read-only file system", err, out)
		}
		mounted := func() bool {
			data, _ := os.ReadFile("/proc/self/mountinfo")
			return strings.Contains(string(data), string(pod.UID)+"/volumes/kubernetes.io~image/img")
		}
		if !mounted() {
			t.Fatal("no image volume mount on the host")
		}
		// The volume is a containerd snapshot view, removed with the pod.
		views := func() string {
			out, _ := exec.Command("ctr", "--address", filepath.Join(a.Dir, "agent", "containerd", "containerd.sock"),
				"-n", "k8s.io", "snapshots", "ls").CombinedOutput()
			return string(out)
		}
		// Imported images are pinned: image GC must not remove what no
		// registry can give back.
		if out, _ := exec.Command("ctr", "--address", filepath.Join(a.Dir, "agent", "containerd", "containerd.sock"),
			"-n", "k8s.io", "images", "ls", "name==docker.io/library/busybox:latest").CombinedOutput(); !strings.Contains(string(out), "io.cri-containerd.pinned=pinned") {
			t.Errorf("busybox is not pinned:\n%s", out)
		}
		view := "skiff-image-volume/" + string(pod.UID) + "/img"
		if !strings.Contains(views(), view) {
			t.Fatalf("no snapshot view %s in:\n%s", view, views())
		}
		if out, err := s.Kubectl(ctx, "", "delete", "pod", "imgvol", "--grace-period=0", "--force"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		eventuallyState(t, 30*time.Second, "image volume unmounted", func() (bool, string) { return !mounted(), "still mounted" })
		eventuallyState(t, 30*time.Second, "snapshot view removed", func() (bool, string) { return !strings.Contains(views(), view), "still there" })
	})

	t.Run("image volume of an absent image", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: imgabsent}
spec:
  nodeName: %s
  containers:
  - {name: c, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: img, mountPath: /img}]}
  volumes:
  - {name: img, image: {reference: example.invalid/absent:1, pullPolicy: Never}}
`, a.NodeName))
		eventuallyState(t, 20*time.Second, "FailedMount event", func() (bool, string) {
			evs, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=imgabsent,reason=FailedMount"})
			if err != nil || len(evs.Items) == 0 {
				return false, "no event"
			}
			return strings.Contains(evs.Items[0].Message, `image "example.invalid/absent:1" is not present on the node`), evs.Items[0].Message
		})
	})

	t.Run("a pod bound past the node's allocatable is rejected: OutOfcpu", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  nodeName: %s
  containers:
  - {name: c, image: busybox, command: ["sleep", "3600"], resources: {requests: {cpu: "1000"}}}
`, a.NodeName))
		eventuallyState(t, 20*time.Second, "Failed with OutOfcpu", func() (bool, string) {
			p := getPod(t, c, "huge")
			return p.Status.Phase == v1.PodFailed && p.Status.Reason == "OutOfcpu" &&
				strings.HasPrefix(p.Status.Message, "Pod was rejected: Node didn't have enough resource: cpu, requested: 1000000, used: "), p.Status.Reason + ": " + p.Status.Message
		})
	})

	t.Run("absent image with pull policy Never", func(t *testing.T) {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  nodeName: %s
  containers:
  - {name: c, image: example.invalid/absent:1, imagePullPolicy: Never}
`, a.NodeName))
		eventuallyState(t, 20*time.Second, "ErrImageNeverPull", func() (bool, string) {
			p := getPod(t, c, "never")
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return false, "no waiting state"
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w.Reason == "ErrImageNeverPull" && w.Message == `Container image "example.invalid/absent:1" is not present with pull policy of Never`, w.Reason
		})
	})

	t.Run("preStop hook runs before SIGTERM; deletion removes sandbox, netns and cgroup", func(t *testing.T) {
		hookDir := t.TempDir()
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: stop}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 10
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'echo TERM >> /hook/log; exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: hook, mountPath: /hook}]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo PRESTOP >> /hook/log"]}
  volumes:
  - {name: hook, hostPath: {path: %s}}
`, a.NodeName, hookDir))
		pod := waitRunning(t, c, "stop", 20*time.Second)
		netnsDir := filepath.Join(a.StateDir(), "io.containerd.grpc.v1.cri", "netns")
		tasksDir := filepath.Join(a.StateDir(), "io.containerd.runtime.v2.task", "k8s.io")
		cgroup := filepath.Join(framework.CgroupRoot(), a.CgroupParent(), "pod"+string(pod.UID))
		if _, err := os.Stat(cgroup); err != nil {
			t.Fatalf("no pod cgroup while running: %v", err)
		}
		netnsBefore, tasksBefore := countEntries(netnsDir), countEntries(tasksDir)
		if out, err := s.Kubectl(ctx, "", "delete", "pod", "stop", "--wait=true", "--timeout=30s"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		data, _ := os.ReadFile(filepath.Join(hookDir, "log"))
		if string(data) != "PRESTOP\nTERM\n" {
			t.Errorf("hook log = %q, want the preStop hook before SIGTERM", data)
		}
		if n := countEntries(netnsDir); n != netnsBefore-1 {
			t.Errorf("netns: %d before, %d after deletion", netnsBefore, n)
		}
		if n := countEntries(tasksDir); n != tasksBefore-2 {
			t.Errorf("runtime tasks (pause + container): %d before, %d after deletion", tasksBefore, n)
		}
		if _, err := os.Stat(cgroup); !os.IsNotExist(err) {
			t.Errorf("pod cgroup %s still there: %v", cgroup, err)
		}
	})
}

// TestKubeletSurvivesContainerdRestart kills containerd under running pods:
// the agent restarts it and the pods are Running again, with no orphaned
// sandboxes.
func TestKubeletSurvivesContainerdRestart(t *testing.T) {
	s := framework.StartServer(t, framework.WithArgs("--disable", "coredns")) // only the test's pods on the node
	a := framework.StartAgent(t, s)
	c := s.Client()
	ctx := context.Background()
	waitNodeReady(t, c, a.NodeName)
	for _, name := range []string{"r1", "r2"} {
		if out, err := s.Kubectl(ctx, "", "run", name, "--image=busybox", fmt.Sprintf(`--overrides={"spec":{"nodeName":%q}}`, a.NodeName), "--", "sleep", "3600"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	before := map[string]string{}
	for _, name := range []string{"r1", "r2"} {
		before[name] = waitRunning(t, c, name, 20*time.Second).Status.ContainerStatuses[0].ContainerID
	}
	old := a.ContainerdPID()
	if old == 0 {
		t.Fatal("no containerd pid")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventuallyState(t, 30*time.Second, "containerd restarted", func() (bool, string) {
		pid := a.ContainerdPID()
		return pid != 0 && pid != old, fmt.Sprint(pid)
	})
	for _, name := range []string{"r1", "r2"} {
		eventuallyState(t, 30*time.Second, name+" Running after the restart", func() (bool, string) {
			p := getPod(t, c, name)
			ok := p.Status.Phase == v1.PodRunning && isReady(p) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
			return ok, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
		})
		// The runtime answers again once the new containerd is up.
		eventuallyState(t, 30*time.Second, "exec in "+name+" after the restart", func() (bool, string) {
			out, err := s.Kubectl(ctx, "", "exec", name, "--", "echo", "alive")
			return err == nil && strings.TrimSpace(out) == "alive", out
		})
	}
	// A sandbox replaced after the restart goes with its network namespace
	// once the kubelet's relist removes it.
	eventuallyState(t, 30*time.Second, "one network namespace per pod", func() (bool, string) {
		netns := countEntries(filepath.Join(a.StateDir(), "io.containerd.grpc.v1.cri", "netns"))
		return netns == 2, fmt.Sprintf("%d pod network namespaces for 2 pods", netns)
	})
	for _, name := range []string{"r1", "r2"} {
		if id := getPod(t, c, name).Status.ContainerStatuses[0].ContainerID; id != before[name] {
			t.Logf("%s: container replaced (%s -> %s)", name, before[name], id)
		}
	}
}

// TestKubeletPodStartLatency starts pods and reports create-to-Ready
// latency (p50/p99) and the agent's RSS: 30 pods one at a time, then 30
// at once (there the runtime's own throughput, about 8 sandboxes a second
// on 2 cores, dominates).
func TestKubeletPodStartLatency(t *testing.T) {
	s := framework.StartServer(t, framework.WithArgs("--disable", "coredns"))
	a := framework.StartAgent(t, s)
	c := s.Client()
	ctx := context.Background()
	waitNodeReady(t, c, a.NodeName)
	w, err := c.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", a.NodeName).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	ready := map[string]time.Duration{}
	readyCh := make(chan string, 100)
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1.Pod)
			if !ok || ev.Type == watch.Deleted || !isReady(p) {
				continue
			}
			mu.Lock()
			if _, seen := ready[p.Name]; !seen {
				if t0, ok := created[p.Name]; ok {
					ready[p.Name] = time.Since(t0)
					readyCh <- p.Name
				}
			}
			mu.Unlock()
		}
	}()
	create := func(name string) {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PodSpec{NodeName: a.NodeName, TerminationGracePeriodSeconds: new(int64),
			Containers: []v1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}}}
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Error(err)
		}
	}
	waitReady := func(n int) {
		for i := 0; i < n; i++ {
			select {
			case <-readyCh:
			case <-time.After(60 * time.Second):
				t.Fatalf("only %d of %d pods Ready after 60s", i, n)
			}
		}
	}
	cpuAgent, cpuContainerd := a.CPUSeconds()
	report := func(label string, names []string) {
		agentNow, containerdNow := a.CPUSeconds()
		cpu := fmt.Sprintf("CPU agent %.2fs containerd %.2fs", agentNow-cpuAgent, containerdNow-cpuContainerd)
		cpuAgent, cpuContainerd = agentNow, containerdNow
		mu.Lock()
		var d []time.Duration
		for _, n := range names {
			d = append(d, ready[n])
		}
		mu.Unlock()
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond) }
		t.Logf("%s: %d pods, create->Ready p50 %v p99 %v max %v; agent RSS %.1f MiB; %s", label, len(d), p(0.5), p(0.99), d[len(d)-1].Round(time.Millisecond), float64(a.RSS())/(1<<20), cpu)
		fmt.Printf("BENCH %s pods=%d p50=%v p99=%v agent_rss_mib=%.1f %s\n", label, len(d), p(0.5), p(0.99), float64(a.RSS())/(1<<20), cpu)
	}
	var seq []string
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("seq-%d", i)
		seq = append(seq, name)
		create(name)
		waitReady(1)
	}
	report("one at a time", seq)
	mu.Lock()
	var worst time.Duration
	for _, n := range seq {
		worst = max(worst, ready[n])
	}
	mu.Unlock()
	if worst > 5*time.Second {
		t.Errorf("a pod started one at a time took %v to be Ready", worst)
	}
	var batch []string
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("batch-%d", i)
		batch = append(batch, name)
		wg.Add(1)
		go func() { defer wg.Done(); create(name) }()
	}
	wg.Wait()
	waitReady(30)
	report("30 at once", batch)
}

// kubectlCommand is the command line of one of the two kubectls.
func kubectlCommand(s *framework.Server, which string, args ...string) (string, []string) {
	if which == "skiff-kubectl" {
		return os.Getenv("SKIFF_BIN"), append([]string{"kubectl"}, args...)
	}
	return framework.KubectlBinary(), args
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// TestKubeletStaticPod runs a pod from a manifest file and mirrors it in
// the API; removing the file removes both.
func TestKubeletStaticPod(t *testing.T) {
	s := framework.StartServer(t)
	manifests := t.TempDir()
	a := framework.StartAgent(t, s, "--pod-manifest-path", manifests)
	c := s.Client()
	ctx := context.Background()
	waitNodeReady(t, c, a.NodeName)
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: static-web}\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'echo static; sleep 3600']}\n"
	if err := os.WriteFile(filepath.Join(manifests, "web.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	name := "static-web-" + a.NodeName
	pod := waitRunning(t, c, name, 30*time.Second)
	if pod.Annotations["kubernetes.io/config.mirror"] == "" || pod.Annotations["kubernetes.io/config.source"] != "file" {
		t.Errorf("mirror pod annotations = %v", pod.Annotations)
	}
	if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "Node" {
		t.Errorf("mirror pod owners = %v", pod.OwnerReferences)
	}
	if out, err := s.Kubectl(ctx, "", "logs", name); err != nil || strings.TrimSpace(out) != "static" {
		t.Errorf("logs of the static pod = %q, %v", out, err)
	}
	// Deleting the mirror does not stop the static pod: the mirror returns.
	if out, err := s.Kubectl(ctx, "", "delete", "pod", name, "--wait=false"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventuallyState(t, 30*time.Second, "mirror pod recreated", func() (bool, string) {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.UID != pod.UID && p.DeletionTimestamp == nil, fmt.Sprint(err)
	})
	if err := os.Remove(filepath.Join(manifests, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	eventuallyState(t, 30*time.Second, "mirror pod removed with its manifest", func() (bool, string) {
		_, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err != nil, "still there"
	})
}

// TestKubeletTwoNodesOnOneHost joins two agents to one server: both nodes
// are Ready and a pod on one reaches a pod on the other.
func TestKubeletTwoNodesOnOneHost(t *testing.T) {
	s := framework.StartServer(t)
	a1 := framework.StartAgent(t, s)
	a2 := framework.StartAgent(t, s)
	c := s.Client()
	ctx := context.Background()
	waitNodeReady(t, c, a1.NodeName)
	waitNodeReady(t, c, a2.NodeName)
	for name, node := range map[string]string{"one": a1.NodeName, "two": a2.NodeName} {
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  nodeName: %s
  containers:
  - {name: c, image: busybox, command: [sh, -c, "mkdir /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]}
`, name, node))
	}
	one := waitRunning(t, c, "one", 20*time.Second)
	two := waitRunning(t, c, "two", 20*time.Second)
	if one.Status.HostIP == "" || one.Spec.NodeName == two.Spec.NodeName {
		t.Fatalf("pods on %s and %s", one.Spec.NodeName, two.Spec.NodeName)
	}
	eventuallyState(t, 20*time.Second, "pod one -> pod two across nodes", func() (bool, string) {
		out, err := s.Kubectl(ctx, "", "exec", "one", "--", "timeout", "3", "wget", "-q", "-O-", "http://"+two.Status.PodIP+":8080/")
		return err == nil && strings.TrimSpace(out) == "two", out
	})
}
