package controllermanager

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/auth/serviceaccount"
	"github.com/skiff-project/skiff/pkg/controller/clusterroleaggregation"
	"github.com/skiff-project/skiff/pkg/controller/serviceaccounttoken"
)

// NewControllers returns every controller skiff can run, by upstream's
// controller name. Each lives in its own package under pkg/controller.
func NewControllers() map[string]Controller {
	return map[string]Controller{
		"clusterrole-aggregation-controller": {OnByDefault: true, Start: startClusterRoleAggregation},
		"serviceaccount-token-controller":    {OnByDefault: true, Start: startServiceAccountTokens},
	}
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
	key, err := serviceaccount.LoadSigningKey(o.ServiceAccountPrivateKeyFile)
	if err != nil {
		return err
	}
	signer, err := serviceaccount.NewGenerator(serviceaccount.LegacyIssuer, key)
	if err != nil {
		return err
	}
	rootCA := cc.Config.CAData
	if len(rootCA) == 0 && cc.Config.CAFile != "" {
		if rootCA, err = os.ReadFile(cc.Config.CAFile); err != nil {
			return fmt.Errorf("read the API server's CA: %w", err)
		}
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
