// Package serviceaccount is upstream's ServiceAccount admission plugin:
// pods get the "default" service account when they name none, a projected
// kube-api-access-* volume with a bound token, the cluster CA and the
// namespace (unless automounting is off), and the service account's image
// pull secrets; pods may reference only secrets their service account
// lists when it asks for that; mirror pods may not use service accounts or
// secrets at all.
package serviceaccount

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"

	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

const (
	// PluginName is the plugin's name in --enable-admission-plugins.
	PluginName = "ServiceAccount"
	// DefaultServiceAccountName is the service account pods get by default.
	DefaultServiceAccountName = "default"
	// EnforceMountableSecretsAnnotation on a service account limits its
	// pods to the secrets it lists.
	EnforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"
	// VolumeNamePrefix starts the name of the token volume.
	VolumeNamePrefix = "kube-api-access-"
	// TokenMountPath is where containers find the token, CA and namespace.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// tokenExpirationSeconds is what the kubelet requests: an hour and
	// seven seconds, which the API server extends (see TokenRequest).
	tokenExpirationSeconds = 60*60 + 7
)

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the ServiceAccount admission plugin.
type Plugin struct {
	*admission.Handler
	// MountServiceAccountToken adds the token volume (upstream's default).
	MountServiceAccountToken bool

	client         kubernetes.Interface
	serviceAccount corev1listers.ServiceAccountLister
	generateName   func(string) string
}

var (
	_ admission.MutationInterface                  = &Plugin{}
	_ admission.ValidationInterface                = &Plugin{}
	_ initializer.WantsExternalKubeClientSet       = &Plugin{}
	_ initializer.WantsExternalKubeInformerFactory = &Plugin{}
)

// New returns the plugin with upstream's defaults.
func New() *Plugin {
	return &Plugin{
		Handler:                  admission.NewHandler(admission.Create, admission.Update),
		MountServiceAccountToken: true,
		generateName:             names.SimpleNameGenerator.GenerateName,
	}
}

// SetExternalKubeClientSet implements initializer.WantsExternalKubeClientSet.
func (p *Plugin) SetExternalKubeClientSet(c kubernetes.Interface) { p.client = c }

// SetExternalKubeInformerFactory implements initializer.WantsExternalKubeInformerFactory.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	i := f.Core().V1().ServiceAccounts()
	p.serviceAccount = i.Lister()
	p.SetReadyFunc(i.Informer().HasSynced)
}

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.client == nil {
		return fmt.Errorf("missing client")
	}
	if p.serviceAccount == nil {
		return fmt.Errorf("missing serviceAccountLister")
	}
	return nil
}

// Admit defaults a new pod's service account, token volume and pull
// secrets.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	pod, ok := podOf(a)
	if !ok || a.GetOperation() != admission.Create {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return p.Validate(ctx, a, o)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
		pod.Spec.DeprecatedServiceAccount = DefaultServiceAccountName //nolint:staticcheck // kept in step, as upstream
	}
	sa, err := p.getServiceAccount(ctx, a.GetNamespace(), pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.GetNamespace(), pod.Spec.ServiceAccountName, err))
	}
	if p.MountServiceAccountToken && shouldAutomount(sa, pod) {
		p.mountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, s := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = s.Name
		}
	}
	return p.Validate(ctx, a, o)
}

// Validate checks that a pod's service account exists and, when it
// enforces mountable secrets, that the pod uses only those.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod, ok := podOf(a)
	if !ok {
		return nil
	}
	if a.GetOperation() == admission.Update && a.GetSubresource() == "ephemeralcontainers" {
		return p.limitEphemeralContainerSecrets(ctx, pod, a)
	}
	if a.GetOperation() != admission.Create {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return validateMirrorPod(pod, a)
	}
	if pod.Spec.ServiceAccountName == "" {
		return admission.NewForbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.GetNamespace(), pod.Name))
	}
	sa, err := p.getServiceAccount(ctx, a.GetNamespace(), pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %v", a.GetNamespace(), pod.Spec.ServiceAccountName, err))
	}
	if enforceMountableSecrets(sa) {
		if err := limitSecretReferences(sa, pod); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

// podOf returns the pod of a pods (or pods/ephemeralcontainers) request.
func podOf(a admission.Attributes) (*corev1.Pod, bool) {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || (a.GetSubresource() != "" && a.GetSubresource() != "ephemeralcontainers") {
		return nil, false
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	return pod, ok && pod != nil
}

func validateMirrorPod(pod *corev1.Pod, a admission.Attributes) error {
	if pod.Spec.ServiceAccountName != "" {
		return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference service accounts"))
	}
	hasSecrets := false
	podutil.VisitPodSecretNames(pod, func(string) bool {
		hasSecrets = true
		return false
	})
	if hasSecrets {
		return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference secrets"))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not use ServiceAccountToken volume projections"))
			}
		}
	}
	return nil
}

func shouldAutomount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

func enforceMountableSecrets(sa *corev1.ServiceAccount) bool {
	v, ok := sa.Annotations[EnforceMountableSecretsAnnotation]
	if !ok {
		return false
	}
	enforce, _ := strconv.ParseBool(v)
	return enforce
}

// getServiceAccount reads the cache, then the API: the "default" account
// is retried for about a second, since it is created with its namespace.
func (p *Plugin) getServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := p.serviceAccount.ServiceAccounts(namespace).Get(name)
	if err == nil {
		return sa, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = 10
	}
	interval := time.Duration(rand.Int63n(100)+100) * time.Millisecond
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(interval):
			}
		}
		sa, err := p.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccount"), name)
}

func mountableSecrets(sa *corev1.ServiceAccount) sets.Set[string] {
	s := sets.New[string]()
	for _, r := range sa.Secrets {
		s.Insert(r.Name)
	}
	return s
}

// envSecretError names the first env or envFrom of c referencing a secret
// outside allowed; kind is "container", "init container" or "ephemeral
// container".
func envSecretError(kind, name string, env []corev1.EnvVar, envFrom []corev1.EnvFromSource, allowed sets.Set[string], saName string) error {
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !allowed.Has(e.ValueFrom.SecretKeyRef.Name) {
			return fmt.Errorf("%s %s with envVar %s referencing secret.secretName=\"%s\" is not allowed because service account %s does not reference that secret", kind, name, e.Name, e.ValueFrom.SecretKeyRef.Name, saName)
		}
	}
	for _, e := range envFrom {
		if e.SecretRef != nil && !allowed.Has(e.SecretRef.Name) {
			return fmt.Errorf("%s %s with envFrom referencing secret.secretName=\"%s\" is not allowed because service account %s does not reference that secret", kind, name, e.SecretRef.Name, saName)
		}
	}
	return nil
}

func limitSecretReferences(sa *corev1.ServiceAccount, pod *corev1.Pod) error {
	allowed := mountableSecrets(sa)
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil && !allowed.Has(v.Secret.SecretName) {
			return fmt.Errorf("volume with secret.secretName=\"%s\" is not allowed because service account %s does not reference that secret", v.Secret.SecretName, sa.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if err := envSecretError("init container", c.Name, c.Env, c.EnvFrom, allowed, sa.Name); err != nil {
			return err
		}
	}
	for _, c := range pod.Spec.Containers {
		if err := envSecretError("container", c.Name, c.Env, c.EnvFrom, allowed, sa.Name); err != nil {
			return err
		}
	}
	pullSecrets := sets.New[string]()
	for _, s := range sa.ImagePullSecrets {
		pullSecrets.Insert(s.Name)
	}
	for i, r := range pod.Spec.ImagePullSecrets {
		if !pullSecrets.Has(r.Name) {
			return fmt.Errorf(`imagePullSecrets[%d].name="%s" is not allowed because service account %s does not reference that imagePullSecret`, i, r.Name, sa.Name)
		}
	}
	return nil
}

func (p *Plugin) limitEphemeralContainerSecrets(ctx context.Context, pod *corev1.Pod, a admission.Attributes) error {
	if pod.Spec.ServiceAccountName == "" {
		return admission.NewForbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.GetNamespace(), pod.Name))
	}
	sa, err := p.getServiceAccount(ctx, a.GetNamespace(), pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.GetNamespace(), pod.Spec.ServiceAccountName, err))
	}
	if !enforceMountableSecrets(sa) {
		return nil
	}
	allowed := mountableSecrets(sa)
	for _, c := range pod.Spec.EphemeralContainers {
		if err := envSecretError("ephemeral container", c.Name, c.Env, c.EnvFrom, allowed, sa.Name); err != nil {
			return err
		}
	}
	return nil
}

// mountToken mounts the token volume (adding it when missing) in every
// container that does not already mount something at TokenMountPath.
func (p *Plugin) mountToken(pod *corev1.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, VolumeNamePrefix) {
			volumeName = v.Name
			break
		}
	}
	hasVolume := volumeName != ""
	if !hasVolume {
		volumeName = p.generateName(VolumeNamePrefix)
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: TokenMountPath}
	needed := false
	addMount := func(c *corev1.Container) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == TokenMountPath {
				return
			}
		}
		c.VolumeMounts = append(c.VolumeMounts, mount)
		needed = true
	}
	for i := range pod.Spec.InitContainers {
		addMount(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		addMount(&pod.Spec.Containers[i])
	}
	if !hasVolume && needed {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volumeName, VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}})
	}
}

// TokenVolumeSource is the projected volume of a pod's service-account
// credentials: a bound token, the cluster CA (kube-root-ca.crt) and the
// namespace.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To(corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](tokenExpirationSeconds)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}
