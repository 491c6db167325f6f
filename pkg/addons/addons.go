// Package addons holds the manifests `skiff server` applies to every
// cluster (cluster DNS), embedded in the binary and applied with
// server-side apply once the API is up, like k3s's deploy controller.
package addons

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

//go:embed manifests/*.yaml
var manifests embed.FS

// FieldManager owns the fields the addons set.
const FieldManager = "skiff"

// CoreDNSImage is the image hack/images/coredns/build.sh makes.
const CoreDNSImage = "registry.k8s.io/coredns/coredns:v1.14.7"

// Options fill in the manifests.
type Options struct {
	// ClusterDNS is the kube-dns Service's cluster IP; the kubelet's
	// --cluster-dns must be the same.
	ClusterDNS string
	// ClusterDomain is the DNS domain of the cluster (cluster.local).
	ClusterDomain string
	// CoreDNSImage and CoreDNSReplicas set the Deployment's image and size.
	CoreDNSImage    string
	CoreDNSReplicas int
	// Disabled names addons not to apply ("coredns").
	Disabled []string
}

// NewOptions returns the defaults: kubeadm's service IP and domain.
func NewOptions() Options {
	return Options{ClusterDNS: "10.96.0.10", ClusterDomain: "cluster.local", CoreDNSImage: CoreDNSImage, CoreDNSReplicas: 1}
}

// Validate checks the options.
func (o Options) Validate() []error {
	var errs []error
	if net.ParseIP(o.ClusterDNS) == nil {
		errs = append(errs, fmt.Errorf("cluster DNS %q is not an IP address", o.ClusterDNS))
	}
	if o.ClusterDomain == "" || strings.ContainsAny(o.ClusterDomain, " \t{}") {
		errs = append(errs, fmt.Errorf("cluster domain %q is not a DNS domain", o.ClusterDomain))
	}
	if o.CoreDNSReplicas < 0 {
		errs = append(errs, fmt.Errorf("CoreDNS replicas %d < 0", o.CoreDNSReplicas))
	}
	return errs
}

// Names lists the addons, sorted.
func Names() []string {
	entries, _ := manifests.ReadDir("manifests")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Objects renders an addon's manifest into objects, in file order.
func Objects(name string, o Options) ([]*unstructured.Unstructured, error) {
	raw, err := manifests.ReadFile("manifests/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("addon %s: %w", name, err)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("addon %s: %w", name, err)
	}
	var rendered bytes.Buffer
	data := map[string]any{
		"ClusterDNS":    o.ClusterDNS,
		"ClusterDomain": o.ClusterDomain,
		"Image":         o.CoreDNSImage,
		"Replicas":      o.CoreDNSReplicas,
	}
	if err := tmpl.Execute(&rendered, data); err != nil {
		return nil, fmt.Errorf("addon %s: %w", name, err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(&rendered))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("addon %s: %w", name, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("addon %s: %w", name, err)
		}
		if len(bytes.TrimSpace(js)) == 0 || string(js) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("addon %s: %w", name, err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// Apply server-side applies every addon not disabled, retrying until it
// succeeds or ctx ends (resources may not be served yet right after the
// API server starts).
func Apply(ctx context.Context, cfg *restclient.Config, o Options) error {
	cfg = restclient.AddUserAgent(restclient.CopyConfig(cfg), "skiff-addons")
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	// Pods learn the API server's address from the default/kubernetes
	// Service's environment variables, fixed when their containers start:
	// an addon pod created before that Service exists would run without it.
	services := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace(metav1.NamespaceDefault)
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := services.Get(ctx, "kubernetes", metav1.GetOptions{})
		return err == nil, nil
	})
	disabled := map[string]bool{}
	for _, d := range o.Disabled {
		disabled[d] = true
	}
	for _, name := range Names() {
		if disabled[name] {
			klog.InfoS("Addon disabled", "addon", name)
			continue
		}
		objs, err := Objects(name, o)
		if err != nil {
			return err
		}
		backoff := 200 * time.Millisecond
		for {
			err = applyAll(ctx, dyn, mapper, objs)
			if err == nil {
				klog.InfoS("Applied addon", "addon", name, "objects", len(objs))
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			klog.V(2).InfoS("Applying addon failed; retrying", "addon", name, "err", err)
			mapper.Reset()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}
	return nil
}

func applyAll(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("map %s: %w", gvk, err)
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}
