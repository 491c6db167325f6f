package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	resourcehelper "k8s.io/kubernetes/pkg/api/v1/resource"
)

// containerEnv resolves a container's environment as upstream does:
// envFrom, then env (with $(VAR) references to earlier variables), then
// the service variables not already defined.
func (kl *Kubelet) containerEnv(ctx context.Context, pod *v1.Pod, c *v1.Container, podIPs []string) ([]*runtimeapi.KeyValue, error) {
	serviceEnv := kl.serviceEnv(pod)
	values := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			order = append(order, k)
		}
		values[k] = v
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			optional := from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
			cm, err := kl.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			var invalid []string
			for _, k := range sortedKeys(cm.Data) {
				name := from.Prefix + k
				if errs := validation.IsEnvVarName(name); len(errs) > 0 {
					invalid = append(invalid, k)
					continue
				}
				set(name, cm.Data[k])
			}
			if len(invalid) > 0 {
				kl.recorder.Eventf(pod, v1.EventTypeWarning, "InvalidEnvironmentVariableNames", "Keys [%s] from the EnvFrom configMap %s/%s were skipped since they are considered invalid environment variable names.", strings.Join(invalid, ", "), pod.Namespace, from.ConfigMapRef.Name)
			}
		case from.SecretRef != nil:
			optional := from.SecretRef.Optional != nil && *from.SecretRef.Optional
			s, err := kl.client.CoreV1().Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			var invalid []string
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				name := from.Prefix + k
				if errs := validation.IsEnvVarName(name); len(errs) > 0 {
					invalid = append(invalid, k)
					continue
				}
				set(name, string(s.Data[k]))
			}
			if len(invalid) > 0 {
				kl.recorder.Eventf(pod, v1.EventTypeWarning, "InvalidEnvironmentVariableNames", "Keys [%s] from the EnvFrom secret %s/%s were skipped since they are considered invalid environment variable names.", strings.Join(invalid, ", "), pod.Namespace, from.SecretRef.Name)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			lookup := func(name string) (string, bool) {
				if v, ok := values[name]; ok {
					return v, true
				}
				v, ok := serviceEnv[name]
				return v, ok
			}
			set(e.Name, expandWith(e.Value, lookup))
			continue
		}
		v, skip, err := kl.envValueFrom(ctx, pod, c, e.ValueFrom, podIPs)
		if err != nil {
			return nil, err
		}
		if !skip {
			set(e.Name, v)
		}
	}
	for _, k := range sortedKeys(serviceEnv) {
		if _, ok := values[k]; !ok {
			set(k, serviceEnv[k])
		}
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(values[k])})
	}
	return out, nil
}

// envValueFrom resolves one valueFrom; skip is set for a missing optional
// key.
func (kl *Kubelet) envValueFrom(ctx context.Context, pod *v1.Pod, c *v1.Container, from *v1.EnvVarSource, podIPs []string) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := podFieldValue(pod, from.FieldRef.FieldPath, kl.hostIPs, podIPs)
		return v, false, err
	case from.ResourceFieldRef != nil:
		v, err := kl.resourceFieldValue(pod, c.Name, from.ResourceFieldRef)
		return v, false, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := kl.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, false, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), false, nil
		}
		if optional {
			return "", true, nil
		}
		return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := kl.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), false, nil
		}
		if optional {
			return "", true, nil
		}
		return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
	}
	return "", true, nil
}

// podFieldValue is a downward API field of the pod.
func podFieldValue(pod *v1.Pod, path string, hostIPs, podIPs []string) (string, error) {
	if strings.HasPrefix(path, "metadata.labels['") && strings.HasSuffix(path, "']") {
		return pod.Labels[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.labels['"), "']")], nil
	}
	if strings.HasPrefix(path, "metadata.annotations['") && strings.HasSuffix(path, "']") {
		return pod.Annotations[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.annotations['"), "']")], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(hostIPs), nil
	case "status.hostIPs":
		return strings.Join(hostIPs, ","), nil
	case "status.podIP":
		return first(podIPs), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

// formatMap is upstream's downward API format: key="value" lines, sorted.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%v=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// resourceFieldValue resolves a resourceFieldRef, with the node's
// allocatable standing in for unset limits.
func (kl *Kubelet) resourceFieldValue(pod *v1.Pod, container string, ref *v1.ResourceFieldSelector) (string, error) {
	name := container
	if ref.ContainerName != "" {
		name = ref.ContainerName
	}
	return resourcehelper.ExtractResourceValueByContainerNameAndNodeAllocatable(ref, pod, name, kl.allocatable())
}

// allocatable is what the node offers pods.
func (kl *Kubelet) allocatable() v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:              *resource.NewQuantity(int64(numCPU()), resource.DecimalSI),
		v1.ResourceMemory:           *resource.NewQuantity(nodeMemoryBytes(), resource.BinarySI),
		v1.ResourceEphemeralStorage: *resource.NewQuantity(diskBytes(kl.cfg.RootDir), resource.BinarySI),
		v1.ResourcePods:             *resource.NewQuantity(int64(kl.cfg.MaxPods), resource.DecimalSI),
	}
}

// serviceEnv is the docker-link style variables for the services a pod
// sees: those of its namespace (unless enableServiceLinks is false) and
// the kubernetes service of the default namespace, always.
func (kl *Kubelet) serviceEnv(pod *v1.Pod) map[string]string {
	env := map[string]string{}
	if kl.svcLister == nil {
		return env
	}
	services, err := kl.svcLister.List(everything)
	if err != nil {
		return env
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	chosen := map[string]*v1.Service{}
	for _, s := range services {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == v1.ClusterIPNone {
			continue
		}
		switch {
		case s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes":
			if _, ok := chosen[s.Name]; !ok {
				chosen[s.Name] = s
			}
		case s.Namespace == pod.Namespace && links:
			chosen[s.Name] = s
		}
	}
	for _, name := range sortedKeys(chosen) {
		addServiceEnv(env, chosen[name])
	}
	return env
}

// addServiceEnv adds one service's variables (upstream's envvars.FromServices).
func addServiceEnv(env map[string]string, s *v1.Service) {
	prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
	env[prefix+"_SERVICE_HOST"] = s.Spec.ClusterIP
	if len(s.Spec.Ports) == 0 {
		return
	}
	env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			env[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
		}
	}
	p := s.Spec.Ports[0]
	proto := strings.ToLower(string(p.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	env[prefix+"_PORT"] = fmt.Sprintf("%s://%s:%d", proto, s.Spec.ClusterIP, p.Port)
	for _, p := range s.Spec.Ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		env[base] = fmt.Sprintf("%s://%s:%d", proto, s.Spec.ClusterIP, p.Port)
		env[base+"_PROTO"] = proto
		env[base+"_PORT"] = strconv.Itoa(int(p.Port))
		env[base+"_ADDR"] = s.Spec.ClusterIP
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expand replaces $(VAR) with values from env; $$ escapes a $; unknown
// references stay as written (upstream's expansion rules).
func expand(s string, env map[string]string) string {
	return expandWith(s, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func expandAll(list []string, env map[string]string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = expand(s, env)
	}
	return out
}

func expandWith(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// nodeMemoryBytes is MemTotal from /proc/meminfo.
func nodeMemoryBytes() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
