package volume

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// projected merges configMaps, secrets, downward API fields and
// service-account tokens into one directory (on tmpfs: it may hold
// secrets and tokens).
func (sc *setupContext) projected(name string, src *v1.ProjectedVolumeSource) (string, error) {
	dir, err := sc.dir(kindProjected, name)
	if err != nil {
		return "", err
	}
	if err := sc.m.mountTmpfs(sc.pod.UID, dir, 0); err != nil {
		return "", err
	}
	files := map[string]file{}
	merge := func(more map[string]file) {
		for k, v := range more {
			files[k] = v
		}
	}
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			f, err := sc.configMapFiles(s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, src.DefaultMode)
			if err != nil {
				return "", err
			}
			merge(f)
		case s.Secret != nil:
			f, err := sc.secretFiles(s.Secret.Name, s.Secret.Items, s.Secret.Optional, src.DefaultMode)
			if err != nil {
				return "", err
			}
			merge(f)
		case s.DownwardAPI != nil:
			f, err := sc.downwardFiles(s.DownwardAPI.Items, src.DefaultMode)
			if err != nil {
				return "", err
			}
			merge(f)
		case s.ServiceAccountToken != nil:
			token, err := sc.m.tokens.get(sc.ctx, sc.m.cfg.Client, sc.pod, s.ServiceAccountToken, sc.m.cfg.NodeName)
			if err != nil {
				return "", err
			}
			mode := modeOf(src.DefaultMode, 0o644)
			files[s.ServiceAccountToken.Path] = file{Data: []byte(token), Mode: mode}
		case s.ClusterTrustBundle != nil, s.PodCertificate != nil:
			return "", fmt.Errorf("projected source not supported on this node")
		}
	}
	gid := fsGroup(sc.pod)
	return dir, writeAtomic(dir, files, gid)
}

// tokenCache keeps service-account tokens per pod and requests a new one
// when 80% of the old one's life has passed (or after 24 h), as
// upstream's token manager.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	token             string
	issued, expiresAt time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{tokens: map[string]cachedToken{}} }

func (c *tokenCache) get(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, p *v1.ServiceAccountTokenProjection, node string) (string, error) {
	exp := int64(3600)
	if p.ExpirationSeconds != nil {
		exp = *p.ExpirationSeconds
	}
	key := strings.Join([]string{string(pod.UID), pod.Spec.ServiceAccountName, p.Audience, strconv.FormatInt(exp, 10)}, "/")
	now := time.Now()
	c.mu.Lock()
	t, ok := c.tokens[key]
	c.mu.Unlock()
	if ok && now.Before(t.issued.Add(t.expiresAt.Sub(t.issued)*8/10)) && now.Sub(t.issued) < 24*time.Hour {
		return t.token, nil
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	resp, err := client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	t = cachedToken{token: resp.Status.Token, issued: now, expiresAt: resp.Status.ExpirationTimestamp.Time}
	c.mu.Lock()
	c.tokens[key] = t
	c.mu.Unlock()
	return t.token, nil
}

func (c *tokenCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.tokens {
		if strings.HasPrefix(k, string(uid)+"/") {
			delete(c.tokens, k)
		}
	}
}

func numCPU() int { return runtime.NumCPU() }

// memTotal is the machine's memory in bytes.
func memTotal() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
