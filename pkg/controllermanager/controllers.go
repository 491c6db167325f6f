package controllermanager

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	restclient "k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"

	saauth "github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/pkg/controller/clusterroleaggregation"
	"github.com/skiff-project/skiff/pkg/controller/cronjob"
	"github.com/skiff-project/skiff/pkg/controller/daemonset"
	"github.com/skiff-project/skiff/pkg/controller/deployment"
	"github.com/skiff-project/skiff/pkg/controller/garbagecollector"
	"github.com/skiff-project/skiff/pkg/controller/job"
	"github.com/skiff-project/skiff/pkg/controller/namespace"
	"github.com/skiff-project/skiff/pkg/controller/podgc"
	"github.com/skiff-project/skiff/pkg/controller/replicaset"
	"github.com/skiff-project/skiff/pkg/controller/replication"
	"github.com/skiff-project/skiff/pkg/controller/rootcacertpublisher"
	"github.com/skiff-project/skiff/pkg/controller/serviceaccount"
	"github.com/skiff-project/skiff/pkg/controller/serviceaccounttoken"
	"github.com/skiff-project/skiff/pkg/controller/statefulset"
	"github.com/skiff-project/skiff/pkg/controller/ttlafterfinished"
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
)

// NewControllers returns every controller skiff can run, by upstream's
// controller name. Each lives in its own package under pkg/controller.
func NewControllers() map[string]Controller {
	return map[string]Controller{
		"namespace-controller":                     {OnByDefault: true, Aliases: []string{"namespace"}, Start: startNamespaceController},
		"garbage-collector-controller":             {OnByDefault: true, Aliases: []string{"garbagecollector"}, Start: startGarbageCollector},
		"serviceaccount-controller":                {OnByDefault: true, Aliases: []string{"serviceaccount"}, Start: startServiceAccountController},
		"root-ca-certificate-publisher-controller": {OnByDefault: true, Aliases: []string{"root-ca-cert-publisher"}, Start: startRootCACertPublisher},
		"replicaset-controller":                    {OnByDefault: true, Aliases: []string{"replicaset"}, Start: startReplicaSetController},
		"replicationcontroller-controller":         {OnByDefault: true, Aliases: []string{"replicationcontroller"}, Start: startReplicationController},
		"deployment-controller":                    {OnByDefault: true, Aliases: []string{"deployment"}, Start: startDeploymentController},
		"statefulset-controller":                   {OnByDefault: true, Aliases: []string{"statefulset"}, Start: startStatefulSetController},
		"daemonset-controller":                     {OnByDefault: true, Aliases: []string{"daemonset"}, Start: startDaemonSetController},
		"job-controller":                           {OnByDefault: true, Aliases: []string{"job"}, Start: startJobController},
		"cronjob-controller":                       {OnByDefault: true, Aliases: []string{"cronjob"}, Start: startCronJobController},
		"ttl-after-finished-controller":            {OnByDefault: true, Aliases: []string{"ttl-after-finished"}, Start: startTTLAfterFinishedController},
		"pod-garbage-collector-controller":         {OnByDefault: true, Aliases: []string{"podgc"}, Start: startPodGC},
		"clusterrole-aggregation-controller":       {OnByDefault: true, Aliases: []string{"clusterrole-aggregation"}, Start: startClusterRoleAggregation},
		"serviceaccount-token-controller":          {OnByDefault: true, Aliases: []string{"serviceaccount-token"}, Start: startServiceAccountTokens},
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
