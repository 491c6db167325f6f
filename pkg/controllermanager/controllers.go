package controllermanager

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"
	resourceclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	custommetrics "k8s.io/metrics/pkg/client/custom_metrics"
	externalmetrics "k8s.io/metrics/pkg/client/external_metrics"
	"k8s.io/utils/clock"

	saauth "github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/pkg/controller/bootstrapsigner"
	"github.com/skiff-project/skiff/pkg/controller/certificates/approver"
	"github.com/skiff-project/skiff/pkg/controller/certificates/cleaner"
	"github.com/skiff-project/skiff/pkg/controller/certificates/ctbpublisher"
	"github.com/skiff-project/skiff/pkg/controller/certificates/pcrcleaner"
	"github.com/skiff-project/skiff/pkg/controller/certificates/signer"
	"github.com/skiff-project/skiff/pkg/controller/clusterroleaggregation"
	"github.com/skiff-project/skiff/pkg/controller/cronjob"
	"github.com/skiff-project/skiff/pkg/controller/daemonset"
	"github.com/skiff-project/skiff/pkg/controller/deployment"
	"github.com/skiff-project/skiff/pkg/controller/disruption"
	"github.com/skiff-project/skiff/pkg/controller/endpoints"
	"github.com/skiff-project/skiff/pkg/controller/endpointslice"
	"github.com/skiff-project/skiff/pkg/controller/endpointslicemirroring"
	"github.com/skiff-project/skiff/pkg/controller/garbagecollector"
	"github.com/skiff-project/skiff/pkg/controller/job"
	"github.com/skiff-project/skiff/pkg/controller/namespace"
	"github.com/skiff-project/skiff/pkg/controller/nodeipam"
	"github.com/skiff-project/skiff/pkg/controller/nodelifecycle"
	"github.com/skiff-project/skiff/pkg/controller/podautoscaler"
	"github.com/skiff-project/skiff/pkg/controller/podgc"
	"github.com/skiff-project/skiff/pkg/controller/replicaset"
	"github.com/skiff-project/skiff/pkg/controller/replication"
	"github.com/skiff-project/skiff/pkg/controller/resourceclaim"
	"github.com/skiff-project/skiff/pkg/controller/resourcequota"
	"github.com/skiff-project/skiff/pkg/controller/rootcacertpublisher"
	"github.com/skiff-project/skiff/pkg/controller/serviceaccount"
	"github.com/skiff-project/skiff/pkg/controller/serviceaccounttoken"
	"github.com/skiff-project/skiff/pkg/controller/servicecidrs"
	"github.com/skiff-project/skiff/pkg/controller/statefulset"
	"github.com/skiff-project/skiff/pkg/controller/tainteviction"
	"github.com/skiff-project/skiff/pkg/controller/tokencleaner"
	"github.com/skiff-project/skiff/pkg/controller/ttl"
	"github.com/skiff-project/skiff/pkg/controller/ttlafterfinished"
	"github.com/skiff-project/skiff/pkg/controller/validatingadmissionpolicystatus"
	"github.com/skiff-project/skiff/pkg/controller/volume/ephemeral"
	"github.com/skiff-project/skiff/pkg/controller/volume/localpath"
	"github.com/skiff-project/skiff/pkg/controller/volume/persistentvolume"
	"github.com/skiff-project/skiff/pkg/controller/volume/pvcprotection"
	"github.com/skiff-project/skiff/pkg/controller/volume/pvprotection"
	"github.com/skiff-project/skiff/pkg/controller/volume/vacprotection"
	"github.com/skiff-project/skiff/pkg/generated/openapi"
	skiffquota "github.com/skiff-project/skiff/pkg/quota"
)

// Upstream's worker counts (kube-controller-manager defaults).
const (
	concurrentNamespaceSyncs   = 10
	concurrentGCSyncs          = 20
	concurrentRSSyncs          = 5
	concurrentRCSyncs          = 5
	concurrentDeploymentSyncs  = 5
	concurrentStatefulSetSyncs = 5
	concurrentDaemonSetSyncs   = 2
	concurrentJobSyncs         = 5
	concurrentCronJobSyncs     = 5
	concurrentTTLSyncs         = 5
	concurrentEndpointSyncs    = 5
	concurrentSliceSyncs       = 5
	concurrentMirroringSyncs   = 5
	concurrentDisruptionSyncs  = 1
	concurrentQuotaSyncs       = 5
)

// NewControllers returns every controller skiff can run, by upstream's
// controller name. Each lives in its own package under pkg/controller.
func NewControllers() map[string]Controller {
	return map[string]Controller{
		"namespace-controller":                                           {OnByDefault: true, Aliases: []string{"namespace"}, Start: startNamespaceController},
		"garbage-collector-controller":                                   {OnByDefault: true, Aliases: []string{"garbagecollector"}, Start: startGarbageCollector},
		"serviceaccount-controller":                                      {OnByDefault: true, Aliases: []string{"serviceaccount"}, Start: startServiceAccountController},
		"root-ca-certificate-publisher-controller":                       {OnByDefault: true, Aliases: []string{"root-ca-cert-publisher"}, Start: startRootCACertPublisher},
		"replicaset-controller":                                          {OnByDefault: true, Aliases: []string{"replicaset"}, Start: startReplicaSetController},
		"replicationcontroller-controller":                               {OnByDefault: true, Aliases: []string{"replicationcontroller"}, Start: startReplicationController},
		"deployment-controller":                                          {OnByDefault: true, Aliases: []string{"deployment"}, Start: startDeploymentController},
		"statefulset-controller":                                         {OnByDefault: true, Aliases: []string{"statefulset"}, Start: startStatefulSetController},
		"daemonset-controller":                                           {OnByDefault: true, Aliases: []string{"daemonset"}, Start: startDaemonSetController},
		"job-controller":                                                 {OnByDefault: true, Aliases: []string{"job"}, Start: startJobController},
		"cronjob-controller":                                             {OnByDefault: true, Aliases: []string{"cronjob"}, Start: startCronJobController},
		"ttl-after-finished-controller":                                  {OnByDefault: true, Aliases: []string{"ttl-after-finished"}, Start: startTTLAfterFinishedController},
		"pod-garbage-collector-controller":                               {OnByDefault: true, Aliases: []string{"podgc"}, Start: startPodGC},
		"disruption-controller":                                          {OnByDefault: true, Aliases: []string{"disruption"}, Start: startDisruptionController},
		"resourcequota-controller":                                       {OnByDefault: true, Aliases: []string{"resourcequota"}, Start: startResourceQuotaController},
		"node-ipam-controller":                                           {OnByDefault: true, Aliases: []string{"nodeipam"}, Start: startNodeIPAMController},
		"node-lifecycle-controller":                                      {OnByDefault: true, Aliases: []string{"nodelifecycle"}, Start: startNodeLifecycleController},
		"taint-eviction-controller":                                      {OnByDefault: true, Start: startTaintEvictionController},
		"persistentvolume-binder-controller":                             {OnByDefault: true, Aliases: []string{"persistentvolume-binder"}, Start: startPersistentVolumeBinder},
		"persistentvolumeclaim-protection-controller":                    {OnByDefault: true, Aliases: []string{"pvc-protection"}, Start: startPVCProtection},
		"persistentvolume-protection-controller":                         {OnByDefault: true, Aliases: []string{"pv-protection"}, Start: startPVProtection},
		"ephemeral-volume-controller":                                    {OnByDefault: true, Aliases: []string{"ephemeral-volume"}, Start: startEphemeralVolumeController},
		"volumeattributesclass-protection-controller":                    {OnByDefault: true, Start: startVACProtection},
		"service-cidr-controller":                                        {OnByDefault: true, Start: startServiceCIDRController},
		"resourceclaim-controller":                                       {OnByDefault: true, Start: startResourceClaimController},
		"ttl-controller":                                                 {OnByDefault: true, Aliases: []string{"ttl"}, Start: startTTLController},
		"validatingadmissionpolicy-status-controller":                    {OnByDefault: true, Start: startVAPStatusController},
		"certificatesigningrequest-signing-controller":                   {OnByDefault: true, Aliases: []string{"csrsigning"}, Start: startCSRSigning},
		"certificatesigningrequest-approving-controller":                 {OnByDefault: true, Aliases: []string{"csrapproving"}, Start: startCSRApproving},
		"certificatesigningrequest-cleaner-controller":                   {OnByDefault: true, Aliases: []string{"csrcleaner"}, Start: startCSRCleaner},
		"podcertificaterequest-cleaner-controller":                       {OnByDefault: true, Start: startPCRCleaner},
		"kube-apiserver-serving-clustertrustbundle-publisher-controller": {OnByDefault: true, Start: startCTBPublisher},
		// Off unless asked for, as upstream (kubeadm and skiff server turn them on).
		"bootstrap-signer-controller":          {Aliases: []string{"bootstrapsigner"}, Start: startBootstrapSigner},
		"token-cleaner-controller":             {Aliases: []string{"tokencleaner"}, Start: startTokenCleaner},
		"horizontal-pod-autoscaler-controller": {OnByDefault: true, Aliases: []string{"horizontalpodautoscaling"}, Start: startHorizontalPodAutoscaler},
		"endpoints-controller":                 {OnByDefault: true, Aliases: []string{"endpoint"}, Start: startEndpointsController},
		"endpointslice-controller":             {OnByDefault: true, Aliases: []string{"endpointslice"}, Start: startEndpointSliceController},
		"endpointslice-mirroring-controller":   {OnByDefault: true, Aliases: []string{"endpointslicemirroring"}, Start: startEndpointSliceMirroringController},
		"clusterrole-aggregation-controller":   {OnByDefault: true, Aliases: []string{"clusterrole-aggregation"}, Start: startClusterRoleAggregation},
		"serviceaccount-token-controller":      {OnByDefault: true, Aliases: []string{"serviceaccount-token"}, Start: startServiceAccountTokens},
	}
}

func startNamespaceController(ctx context.Context, cc ControllerContext) error {
	// Emptying a namespace is many discovery, list and delete calls; like
	// upstream, this client gets a far larger rate limit than the rest.
	cfg := cc.ConfigFor("namespace-controller")
	cfg.QPS *= 20
	cfg.Burst *= 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c, err := namespace.NewController(client, metadataClient, client.Discovery().ServerPreferredNamespacedResources,
		cc.InformerFactory.Core().V1().Namespaces(), corev1.FinalizerKubernetes)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentNamespaceSyncs)
	return nil
}

func startGarbageCollector(ctx context.Context, cc ControllerContext) error {
	cfg := cc.ConfigFor("generic-garbage-collector")
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// Each collection is a get and a delete: twice the request rate.
	cfg.QPS *= 2
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// A discovery client of its own: the collector resets the shared
	// REST mapper when it sees new resources, which would otherwise
	// invalidate the very cache it just read.
	gc, err := garbagecollector.NewController(client, metadataClient, cc.RESTMapper, client.Discovery(), garbagecollector.DefaultIgnoredResources())
	if err != nil {
		return err
	}
	go gc.Run(ctx, concurrentGCSyncs)
	return nil
}

func startServiceAccountController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("service-account-controller")
	if err != nil {
		return err
	}
	c, err := serviceaccount.NewController(client, cc.InformerFactory.Core().V1().ServiceAccounts(),
		cc.InformerFactory.Core().V1().Namespaces(), serviceaccount.DefaultServiceAccounts())
	if err != nil {
		return err
	}
	go c.Run(ctx, 1)
	return nil
}

func startRootCACertPublisher(ctx context.Context, cc ControllerContext) error {
	rootCA, err := rootCABundle(cc)
	if err != nil {
		return err
	}
	client, err := cc.ClientFor("root-ca-cert-publisher")
	if err != nil {
		return err
	}
	p, err := rootcacertpublisher.NewController(client, cc.InformerFactory.Core().V1().ConfigMaps(),
		cc.InformerFactory.Core().V1().Namespaces(), rootCA)
	if err != nil {
		return err
	}
	go p.Run(ctx, 1)
	return nil
}

func startClusterRoleAggregation(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("clusterrole-aggregation-controller")
	if err != nil {
		return err
	}
	c, err := clusterroleaggregation.NewController(cc.InformerFactory.Rbac().V1().ClusterRoles(), client.RbacV1())
	if err != nil {
		return err
	}
	go c.Run(ctx, 5)
	return nil
}

// startServiceAccountTokens fills in the legacy token Secrets users create.
// It runs with the controller-manager's own identity (upstream's tokens
// controller does too: other controllers' credentials depend on it), and
// only when it has the key to sign with.
func startServiceAccountTokens(ctx context.Context, cc ControllerContext) error {
	o := cc.Options
	if o.ServiceAccountPrivateKeyFile == "" {
		klog.InfoS("No --service-account-private-key-file: the service account tokens controller is not started")
		return nil
	}
	key, err := saauth.LoadSigningKey(o.ServiceAccountPrivateKeyFile)
	if err != nil {
		return err
	}
	signer, err := saauth.NewGenerator(saauth.LegacyIssuer, key)
	if err != nil {
		return err
	}
	rootCA, err := rootCABundle(cc)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(cc.Config), "skiff-controller-manager/tokens-controller"))
	if err != nil {
		return err
	}
	secrets := serviceaccounttoken.NewSecretInformer(client, o.ResyncPeriod)
	c, err := serviceaccounttoken.NewController(cc.InformerFactory.Core().V1().ServiceAccounts(), secrets, client, signer, rootCA)
	if err != nil {
		return err
	}
	go secrets.Informer().Run(ctx.Done())
	go c.Run(ctx, o.ConcurrentSyncs)
	return nil
}

// rootCABundle is --root-ca-file, or else the CA the controller-manager
// itself trusts for the API server (upstream's fallback).
func rootCABundle(cc ControllerContext) ([]byte, error) {
	if cc.Options.RootCAFile == "" {
		if len(cc.Config.CAData) > 0 {
			return cc.Config.CAData, nil
		}
		if cc.Config.CAFile == "" {
			return nil, fmt.Errorf("no --root-ca-file and the kubeconfig names no CA")
		}
		return readCA(cc.Config.CAFile)
	}
	return readCA(cc.Options.RootCAFile)
}

// readCA reads a PEM bundle and checks that it holds certificates.
func readCA(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read root CA file: %w", err)
	}
	if _, err := certutil.ParseCertsPEM(data); err != nil {
		return nil, fmt.Errorf("error parsing root-ca-file at %s: %w", path, err)
	}
	return data, nil
}

func startReplicaSetController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("replicaset-controller")
	if err != nil {
		return err
	}
	c, err := replicaset.NewController(client, cc.InformerFactory.Apps().V1().ReplicaSets(), cc.InformerFactory.Core().V1().Pods(), replicaset.BurstReplicas)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentRSSyncs)
	return nil
}

func startReplicationController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("replication-controller")
	if err != nil {
		return err
	}
	c, err := replication.NewController(client, cc.InformerFactory.Core().V1().ReplicationControllers(), cc.InformerFactory.Core().V1().Pods(), replicaset.BurstReplicas)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentRCSyncs)
	return nil
}

func startDeploymentController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("deployment-controller")
	if err != nil {
		return err
	}
	c, err := deployment.NewController(client, cc.InformerFactory.Apps().V1().Deployments(), cc.InformerFactory.Apps().V1().ReplicaSets(), cc.InformerFactory.Core().V1().Pods())
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentDeploymentSyncs)
	return nil
}

func startStatefulSetController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("statefulset-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := statefulset.NewController(client, f.Apps().V1().StatefulSets(), f.Core().V1().Pods(), f.Core().V1().PersistentVolumeClaims(), f.Apps().V1().ControllerRevisions())
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentStatefulSetSyncs)
	return nil
}

func startDaemonSetController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("daemon-set-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := daemonset.NewController(client, f.Apps().V1().DaemonSets(), f.Apps().V1().ControllerRevisions(), f.Core().V1().Pods(), f.Core().V1().Nodes())
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentDaemonSetSyncs)
	return nil
}

func startJobController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("job-controller")
	if err != nil {
		return err
	}
	c, err := job.NewController(client, cc.InformerFactory.Batch().V1().Jobs(), cc.InformerFactory.Core().V1().Pods())
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentJobSyncs)
	return nil
}

func startCronJobController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("cronjob-controller")
	if err != nil {
		return err
	}
	c, err := cronjob.NewController(client, cc.InformerFactory.Batch().V1().Jobs(), cc.InformerFactory.Batch().V1().CronJobs())
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentCronJobSyncs)
	return nil
}

func startTTLAfterFinishedController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("ttl-after-finished-controller")
	if err != nil {
		return err
	}
	c, err := ttlafterfinished.NewController(client, cc.InformerFactory.Batch().V1().Jobs())
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentTTLSyncs)
	return nil
}

func startPodGC(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("pod-garbage-collector")
	if err != nil {
		return err
	}
	c := podgc.NewController(client, cc.InformerFactory.Core().V1().Pods(), cc.InformerFactory.Core().V1().Nodes(), cc.Options.TerminatedPodGCThreshold)
	go c.Run(ctx)
	return nil
}

func startEndpointsController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("endpoint-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := endpoints.NewController(client, f.Core().V1().Pods(), f.Core().V1().Services(), f.Core().V1().Endpoints(), cc.Options.EndpointUpdatesBatchPeriod)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentEndpointSyncs)
	return nil
}

func startEndpointSliceController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("endpointslice-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := endpointslice.NewController(client, f.Core().V1().Pods(), f.Core().V1().Services(), f.Core().V1().Nodes(),
		f.Discovery().V1().EndpointSlices(), cc.Options.MaxEndpointsPerSlice, cc.Options.EndpointSliceUpdatesBatchPeriod)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentSliceSyncs)
	return nil
}

func startEndpointSliceMirroringController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("endpointslicemirroring-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := endpointslicemirroring.NewController(client, f.Core().V1().Endpoints(), f.Discovery().V1().EndpointSlices(),
		f.Core().V1().Services(), cc.Options.MirroringMaxEndpointsPerSubset, cc.Options.MirroringEndpointUpdatesBatchPeriod)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentMirroringSyncs)
	return nil
}

// scaleClient reads and writes the scale subresource of any resource,
// resolving kinds through discovery.
func scaleClient(cc ControllerContext, name string) (scale.ScalesGetter, error) {
	client, err := cc.ClientFor(name)
	if err != nil {
		return nil, err
	}
	return scale.NewForConfig(cc.ConfigFor(name), cc.RESTMapper, dynamic.LegacyAPIPathResolverFunc,
		scale.NewDiscoveryScaleKindResolver(client.Discovery()))
}

func startDisruptionController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("disruption-controller")
	if err != nil {
		return err
	}
	scales, err := scaleClient(cc, "disruption-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := disruption.NewController(client, f.Core().V1().Pods(), f.Policy().V1().PodDisruptionBudgets(),
		f.Core().V1().ReplicationControllers(), f.Apps().V1().ReplicaSets(), f.Apps().V1().Deployments(), f.Apps().V1().StatefulSets(),
		cc.RESTMapper, scales, client.Discovery(), clock.RealClock{})
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentDisruptionSyncs)
	return nil
}

// informerForResource is the shared typed informer of a resource, or a
// shared metadata-only informer for resources without typed clients
// (custom resources), for controllers that handle any resource.
func informerForResource(cc ControllerContext) func(gvr schema.GroupVersionResource) (informers.GenericInformer, error) {
	return func(gvr schema.GroupVersionResource) (informers.GenericInformer, error) {
		if inf, err := cc.InformerFactory.ForResource(gvr); err == nil {
			return inf, nil
		}
		return cc.MetadataInformers.ForResource(gvr), nil
	}
}

func startResourceQuotaController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("resourcequota-controller")
	if err != nil {
		return err
	}
	start := func(stop <-chan struct{}) {
		cc.InformerFactory.Start(stop)
		cc.MetadataInformers.Start(stop)
	}
	c, err := resourcequota.NewController(client, cc.InformerFactory.Core().V1().ResourceQuotas(), skiffquota.NewEvaluators,
		skiffquota.IgnoredResources(), cc.RESTMapper, informerForResource(cc), start, cc.Options.ResourceQuotaSyncPeriod)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentQuotaSyncs)
	return nil
}

func startNodeIPAMController(ctx context.Context, cc ControllerContext) error {
	if !cc.Options.AllocateNodeCIDRs {
		return nil
	}
	cidrs, masks, err := nodeipam.ParseClusterCIDRs(cc.Options.ClusterCIDR, cc.Options.NodeCIDRMaskSize, cc.Options.NodeCIDRMaskSizeIPv6)
	if err != nil {
		return err
	}
	client, err := cc.ClientFor("node-controller")
	if err != nil {
		return err
	}
	c, err := nodeipam.NewController(client, cc.InformerFactory.Core().V1().Nodes(), cidrs, masks)
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

func startNodeLifecycleController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("node-controller")
	if err != nil {
		return err
	}
	f := cc.InformerFactory
	c, err := nodelifecycle.NewController(client, f.Coordination().V1().Leases(), f.Core().V1().Pods(), f.Core().V1().Nodes(),
		cc.Options.NodeLifecycle, clock.RealClock{})
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

func startTaintEvictionController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("node-controller")
	if err != nil {
		return err
	}
	c, err := tainteviction.NewController(client, cc.InformerFactory.Core().V1().Pods(), cc.InformerFactory.Core().V1().Nodes(), clock.RealClock{})
	if err != nil {
		return err
	}
	go c.Run(ctx, 8)
	return nil
}

func startPersistentVolumeBinder(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("persistent-volume-binder")
	if err != nil {
		return err
	}
	var provisioners []persistentvolume.Provisioner
	if cc.Options.LocalPathDir != "" {
		provisioners = append(provisioners, &localpath.Provisioner{Dir: cc.Options.LocalPathDir})
	}
	f := cc.InformerFactory
	c, err := persistentvolume.NewController(client, f.Core().V1().PersistentVolumes(), f.Core().V1().PersistentVolumeClaims(),
		f.Storage().V1().StorageClasses(), f.Core().V1().Nodes(), f.Core().V1().Pods(), cc.Options.PVClaimBinderSyncPeriod, provisioners...)
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

func startPVCProtection(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("pvc-protection-controller")
	if err != nil {
		return err
	}
	c, err := pvcprotection.NewController(client, cc.InformerFactory.Core().V1().PersistentVolumeClaims(), cc.InformerFactory.Core().V1().Pods())
	if err != nil {
		return err
	}
	go c.Run(ctx, 1)
	return nil
}

func startPVProtection(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("pv-protection-controller")
	if err != nil {
		return err
	}
	c, err := pvprotection.NewController(client, cc.InformerFactory.Core().V1().PersistentVolumes())
	if err != nil {
		return err
	}
	go c.Run(ctx, 1)
	return nil
}

func startVACProtection(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("volumeattributesclass-protection-controller")
	if err != nil {
		return err
	}
	c, err := vacprotection.NewController(client, cc.InformerFactory.Storage().V1().VolumeAttributesClasses(),
		cc.InformerFactory.Core().V1().PersistentVolumes(), cc.InformerFactory.Core().V1().PersistentVolumeClaims())
	if err != nil {
		return err
	}
	go c.Run(ctx, 1)
	return nil
}

func startServiceCIDRController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("service-cidrs-controller")
	if err != nil {
		return err
	}
	c, err := servicecidrs.NewController(client, cc.InformerFactory.Networking().V1().ServiceCIDRs(), cc.InformerFactory.Networking().V1().IPAddresses())
	if err != nil {
		return err
	}
	go c.Run(ctx, 5)
	return nil
}

func startResourceClaimController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("resource-claim-controller")
	if err != nil {
		return err
	}
	r := cc.InformerFactory.Resource().V1()
	c, err := resourceclaim.NewController(client, cc.InformerFactory.Core().V1().Pods(), r.ResourceClaims(), r.ResourceClaimTemplates())
	if err != nil {
		return err
	}
	go c.Run(ctx, 10)
	return nil
}

func startTTLController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("ttl-controller")
	if err != nil {
		return err
	}
	c, err := ttl.NewController(client, cc.InformerFactory.Core().V1().Nodes())
	if err != nil {
		return err
	}
	go c.Run(ctx, 5)
	return nil
}

func startVAPStatusController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("validatingadmissionpolicy-status-controller")
	if err != nil {
		return err
	}
	// Built-in kinds from the compiled-in OpenAPI definitions, the rest
	// (custom resources, aggregated APIs) from the server's OpenAPI v3.
	schemas := resolver.NewDefinitionsSchemaResolver(openapi.GetOpenAPIDefinitions, clientscheme.Scheme).
		Combine(&resolver.ClientDiscoveryResolver{Discovery: client.Discovery()})
	c, err := validatingadmissionpolicystatus.NewController(client, cc.InformerFactory.Admissionregistration().V1().ValidatingAdmissionPolicies(),
		&validatingpolicy.TypeChecker{SchemaResolver: schemas, RestMapper: cc.RESTMapper})
	if err != nil {
		return err
	}
	go c.Run(ctx, 5)
	return nil
}

func startEphemeralVolumeController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("ephemeral-volume-controller")
	if err != nil {
		return err
	}
	c, err := ephemeral.NewController(client, cc.InformerFactory.Core().V1().Pods(), cc.InformerFactory.Core().V1().PersistentVolumeClaims())
	if err != nil {
		return err
	}
	go c.Run(ctx, 5)
	return nil
}

// startCSRSigning runs a signer per signer name with the cluster CA, when
// --cluster-signing-cert-file and --cluster-signing-key-file are given.
func startCSRSigning(ctx context.Context, cc ControllerContext) error {
	certFile, keyFile := cc.Options.ClusterSigningCertFile, cc.Options.ClusterSigningKeyFile
	if certFile == "" || keyFile == "" {
		klog.InfoS("Skipping CSR signing: no --cluster-signing-cert-file/--cluster-signing-key-file")
		return nil
	}
	client, err := cc.ClientFor("certificate-controller")
	if err != nil {
		return err
	}
	for name := range signer.Signers {
		c, err := signer.NewController(client, cc.InformerFactory.Certificates().V1().CertificateSigningRequests(), name, certFile, keyFile, cc.Options.ClusterSigningDuration)
		if err != nil {
			return fmt.Errorf("signer %s: %w", name, err)
		}
		go c.Run(ctx, 5)
	}
	return nil
}

func startCSRApproving(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("certificate-controller")
	if err != nil {
		return err
	}
	c, err := approver.NewController(client, cc.InformerFactory.Certificates().V1().CertificateSigningRequests())
	if err != nil {
		return err
	}
	go c.Run(ctx, 5)
	return nil
}

// startCTBPublisher publishes the CA of the API server's serving
// certificate (the root CA bundle, as upstream) as a ClusterTrustBundle.
func startCTBPublisher(ctx context.Context, cc ControllerContext) error {
	rootCA, err := rootCABundle(cc)
	if err != nil {
		return err
	}
	client, err := cc.ClientFor("kube-apiserver-serving-clustertrustbundle-publisher")
	if err != nil {
		return err
	}
	c, err := ctbpublisher.NewController(client, rootCA, cc.Options.ResyncPeriod)
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

func startPCRCleaner(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("podcertificaterequestcleaner")
	if err != nil {
		return err
	}
	go pcrcleaner.NewController(client, cc.InformerFactory.Certificates().V1().PodCertificateRequests()).Run(ctx)
	return nil
}

func startCSRCleaner(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("certificate-controller")
	if err != nil {
		return err
	}
	go cleaner.NewController(client, cc.InformerFactory.Certificates().V1().CertificateSigningRequests()).Run(ctx)
	return nil
}

func startBootstrapSigner(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("bootstrap-signer")
	if err != nil {
		return err
	}
	c, err := bootstrapsigner.NewController(client, cc.InformerFactory.Core().V1().ConfigMaps(), cc.InformerFactory.Core().V1().Secrets())
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

func startTokenCleaner(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("token-cleaner")
	if err != nil {
		return err
	}
	c, err := tokencleaner.NewController(client, cc.InformerFactory.Core().V1().Secrets())
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

func startHorizontalPodAutoscaler(ctx context.Context, cc ControllerContext) error {
	cfg := cc.ConfigFor("horizontal-pod-autoscaler")
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	scales, err := scaleClient(cc, "horizontal-pod-autoscaler")
	if err != nil {
		return err
	}
	resourceMetrics, err := resourceclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("resource metrics client: %w", err)
	}
	externalMetrics, err := externalmetrics.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("external metrics client: %w", err)
	}
	// Which custom metrics API versions exist is rediscovered every sync.
	apiVersions := custommetrics.NewAvailableAPIsGetter(client.Discovery())
	metricsClient := podautoscaler.NewRESTMetricsClient(resourceMetrics, custommetrics.NewForConfig(cfg, cc.RESTMapper, apiVersions), externalMetrics)
	opts := cc.Options.HPA
	c, err := podautoscaler.NewController(client, scales, cc.RESTMapper, metricsClient,
		cc.InformerFactory.Autoscaling().V2().HorizontalPodAutoscalers(), cc.InformerFactory.Core().V1().Pods(), opts)
	if err != nil {
		return err
	}
	go custommetrics.PeriodicallyInvalidate(apiVersions, opts.SyncPeriod, ctx.Done())
	go c.Run(ctx, 5)
	return nil
}
