package volumebinding

import configv1 "k8s.io/kube-scheduler/config/v1"

type configv1Point struct{ u, s int32 }

func toShape(ps []configv1Point) []configv1.UtilizationShapePoint {
	out := make([]configv1.UtilizationShapePoint, len(ps))
	for i, p := range ps {
		out[i] = configv1.UtilizationShapePoint{Utilization: p.u, Score: p.s}
	}
	return out
}
