package controllermanager

import (
	"context"

	"github.com/skiff-project/skiff/pkg/controller/clusterroleaggregation"
)

// NewControllers returns every controller skiff can run, by upstream's
// controller name. Each lives in its own package under pkg/controller.
func NewControllers() map[string]Controller {
	return map[string]Controller{
		"clusterrole-aggregation-controller": {OnByDefault: true, Start: startClusterRoleAggregation},
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
