package deployment

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rollback serves the deprecated rollback annotation
// (deprecated.deployment.rollback.to, what extensions/v1beta1 rollbackTo
// became): the template of the requested revision (0: the previous one)
// is copied into the Deployment. kubectl rollout undo does the same
// client-side and never sets the annotation.
func (c *Controller) rollback(ctx context.Context, d *appsv1.Deployment, sets []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.replicaSetsAndSyncRevision(ctx, d, sets, true)
	if err != nil {
		return err
	}
	all := append(oldRSs, newRS)
	target := *rollbackTo(d)
	if target == 0 {
		if target = lastRevision(all); target == 0 {
			c.recorder.Eventf(d, corev1.EventTypeWarning, RollbackRevisionNotFound, "%s", "Unable to find last revision.")
			return c.clearRollbackTo(ctx, d)
		}
	}
	for _, rs := range all {
		if rs == nil {
			continue
		}
		if v, err := revision(rs); err != nil || v != target {
			continue
		}
		if equalIgnoreHash(&d.Spec.Template, &rs.Spec.Template) {
			c.recorder.Eventf(d, corev1.EventTypeWarning, RollbackTemplateUnchanged, "The rollback revision contains the same template as current deployment %q", d.Name)
			return c.clearRollbackTo(ctx, d)
		}
		d.Spec.Template.ObjectMeta = rs.Spec.Template.ObjectMeta
		d.Spec.Template.Spec = rs.Spec.Template.Spec
		d.Spec.Template.Labels = withoutLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		setDeploymentAnnotationsTo(d, rs)
		if err := c.clearRollbackTo(ctx, d); err != nil {
			return err
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, RollbackDone, "%s", fmt.Sprintf("Rolled back deployment %q to revision %d", d.Name, target))
		return nil
	}
	c.recorder.Eventf(d, corev1.EventTypeWarning, RollbackRevisionNotFound, "%s", "Unable to find the revision to rollback to.")
	return c.clearRollbackTo(ctx, d)
}

func (c *Controller) clearRollbackTo(ctx context.Context, d *appsv1.Deployment) error {
	delete(d.Annotations, appsv1.DeprecatedRollbackTo)
	_, err := c.client.AppsV1().Deployments(d.Namespace).Update(ctx, d, metav1.UpdateOptions{})
	return err
}

func rollbackTo(d *appsv1.Deployment) *int64 {
	v := d.Annotations[appsv1.DeprecatedRollbackTo]
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

func withoutLabel(labels map[string]string, key string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != key {
			out[k] = v
		}
	}
	return out
}
