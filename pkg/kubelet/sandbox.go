package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// createSandbox runs a new pod sandbox (network namespace, pause process).
func (kl *Kubelet) createSandbox(ctx context.Context, pod *v1.Pod, attempt uint32) (string, error) {
	cfg, err := kl.sandboxConfig(pod, attempt)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return "", fmt.Errorf("create pod log directory: %w", err)
	}
	// A few sandboxes at a time: on a small node the runtime's work per
	// sandbox (runc, CNI plugins) is CPU-bound, and pods started in turn
	// become Ready sooner than pods all started together.
	select {
	case kl.sandboxSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	id, err := kl.runtime.RunPodSandbox(ctx, cfg, runtimeHandler(pod))
	<-kl.sandboxSlots
	if err != nil {
		return "", fmt.Errorf("%s", grpcMessage(err))
	}
	return id, nil
}

func runtimeHandler(pod *v1.Pod) string {
	// RuntimeClass handlers are not configured: the default (runc).
	return ""
}

// sandboxConfig is the CRI sandbox configuration of a pod.
func (kl *Kubelet) sandboxConfig(pod *v1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	hostname, domain := podHostnameAndDomain(pod, kl.cfg.ClusterDomain)
	if pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN && domain != "" {
		fqdn := hostname + "." + domain
		if len(fqdn) > 64 {
			return nil, fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (64 characters is the max, %d characters requested)", fqdn, len(fqdn))
		}
		hostname = fqdn
	}
	if pod.Spec.HostNetwork {
		// The host's UTS namespace: the runtime must not set a hostname.
		hostname = ""
	}
	dns, err := kl.dnsConfig(pod)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range pod.Labels {
		labels[k] = v
	}
	labels[labelPodName], labels[labelPodNamespace], labels[labelPodUID] = pod.Name, pod.Namespace, string(pod.UID)
	labels[labelManagedBy] = kl.cfg.NodeName
	annotations := map[string]string{}
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: kl.podLogDir(pod),
		DnsConfig:    dns,
		Labels:       labels,
		Annotations:  annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    kl.podCgroup(pod.UID),
			SecurityContext: sandboxSecurityContext(pod),
		},
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol:      protocolOf(p.Protocol),
				ContainerPort: p.ContainerPort,
				HostPort:      p.HostPort,
				HostIp:        p.HostIP,
			})
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		cfg.Linux.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	return cfg, nil
}

func protocolOf(p v1.Protocol) runtimeapi.Protocol {
	switch p {
	case v1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case v1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

// namespaceOptions maps hostNetwork/hostPID/hostIPC and
// shareProcessNamespace to CRI namespace modes.
func namespaceOptions(pod *v1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

func sandboxSecurityContext(pod *v1.Pod) *runtimeapi.LinuxSandboxSecurityContext {
	sc := &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		sc.Seccomp = seccompProfile(psc.SeccompProfile, nil)
	}
	podutil.VisitContainers(&pod.Spec, podutil.AllFeatureEnabledContainers(), func(c *v1.Container, _ podutil.ContainerType) bool {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			sc.Privileged = true
		}
		return true
	})
	return sc
}

// podHostnameAndDomain is upstream's GeneratePodHostNameAndDomain:
// spec.hostname or the pod name (at most 63 characters), and the FQDN's
// domain when spec.subdomain is set.
func podHostnameAndDomain(pod *v1.Pod, clusterDomain string) (string, string) {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	domain := ""
	if pod.Spec.Subdomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain
}

// dnsConfig builds the pod's resolv.conf per dnsPolicy and dnsConfig.
func (kl *Kubelet) dnsConfig(pod *v1.Pod) (*runtimeapi.DNSConfig, error) {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	if pod.Spec.HostNetwork && policy == v1.DNSClusterFirst {
		policy = v1.DNSDefault // ClusterFirst on the host network means Default
	}
	if policy == v1.DNSClusterFirstWithHostNet {
		policy = v1.DNSClusterFirst
	}
	if policy == v1.DNSClusterFirst && len(kl.cfg.ClusterDNS) == 0 {
		policy = v1.DNSDefault // no cluster DNS configured: as upstream, fall back
	}
	cfg := &runtimeapi.DNSConfig{}
	switch policy {
	case v1.DNSClusterFirst:
		host, err := readResolvConf(kl.cfg.ResolvConf)
		if err != nil {
			return nil, err
		}
		cfg.Servers = append(cfg.Servers, kl.cfg.ClusterDNS...)
		d := kl.cfg.ClusterDomain
		cfg.Searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		cfg.Searches = append(cfg.Searches, host.Searches...)
		cfg.Options = []string{"ndots:5"}
	case v1.DNSDefault:
		host, err := readResolvConf(kl.cfg.ResolvConf)
		if err != nil {
			return nil, err
		}
		cfg = host
	case v1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = append(cfg.Servers, dc.Nameservers...)
		cfg.Searches = append(cfg.Searches, dc.Searches...)
		cfg.Options = mergeDNSOptions(cfg.Options, dc.Options)
	}
	cfg.Searches = dedupe(cfg.Searches)
	if len(cfg.Searches) > 32 {
		cfg.Searches = cfg.Searches[:32]
	}
	return cfg, nil
}

func mergeDNSOptions(base []string, extra []v1.PodDNSConfigOption) []string {
	out := []string{}
	index := map[string]int{}
	add := func(name, opt string) {
		if i, ok := index[name]; ok {
			out[i] = opt
			return
		}
		index[name] = len(out)
		out = append(out, opt)
	}
	for _, o := range base {
		name, _, _ := strings.Cut(o, ":")
		add(name, o)
	}
	for _, o := range extra {
		opt := o.Name
		if o.Value != nil {
			opt = o.Name + ":" + *o.Value
		}
		add(o.Name, opt)
	}
	return out
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// readResolvConf parses the host's resolv.conf.
func readResolvConf(path string) (*runtimeapi.DNSConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return &runtimeapi.DNSConfig{}, nil
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	cfg := &runtimeapi.DNSConfig{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, fields[1])
		case "search":
			cfg.Searches = fields[1:]
		case "domain":
			cfg.Searches = []string{fields[1]}
		case "options":
			cfg.Options = append(cfg.Options, fields[1:]...)
		}
	}
	return cfg, sc.Err()
}

// hostsFile writes the pod's /etc/hosts (upstream's managed format) and
// returns its path.
func (kl *Kubelet) hostsFile(pod *v1.Pod, podIPs []string) (string, error) {
	dir := kl.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	var b strings.Builder
	if pod.Spec.HostNetwork {
		host, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return "", err
		}
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(host)
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
		hostname, domain := podHostnameAndDomain(pod, kl.cfg.ClusterDomain)
		for _, ip := range podIPs {
			if domain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	path := filepath.Join(dir, "etc-hosts")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// podCgroup is the cgroupfs path of a pod's cgroup.
func (kl *Kubelet) podCgroup(uid types.UID) string {
	return filepath.Join("/", kl.cfg.CgroupParent, "pod"+string(uid))
}

// removePodCgroup removes a pod's (empty) cgroup from every hierarchy.
func removePodCgroup(cgroup string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		dir := filepath.Join(root, cgroup)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		// Children first (runc removes containers' own, but be thorough).
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		_ = os.Remove(dir)
	}
}
