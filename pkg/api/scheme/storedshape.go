package scheme

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kappsv1 "k8s.io/kubernetes/pkg/apis/apps/v1"
)

// addStoredShapeDefaults restores, on every decode (requests and reads from
// storage alike), what upstream's conversion to the served version always
// writes but the protobuf storage encoding drops: the apiVersion and kind of
// a StatefulSet's volumeClaimTemplates (kubernetes#87583). The defaulting
// function replaces the scheme's one for the type, so it runs upstream's
// defaults first.
func addStoredShapeDefaults(s *runtime.Scheme) {
	s.AddTypeDefaultingFunc(&appsv1.StatefulSet{}, func(obj interface{}) {
		ss := obj.(*appsv1.StatefulSet)
		kappsv1.SetObjectDefaults_StatefulSet(ss)
		setClaimTemplateKinds(ss)
	})
	s.AddTypeDefaultingFunc(&appsv1.StatefulSetList{}, func(obj interface{}) {
		list := obj.(*appsv1.StatefulSetList)
		kappsv1.SetObjectDefaults_StatefulSetList(list)
		for i := range list.Items {
			setClaimTemplateKinds(&list.Items[i])
		}
	})
}

func setClaimTemplateKinds(ss *appsv1.StatefulSet) {
	for i := range ss.Spec.VolumeClaimTemplates {
		ss.Spec.VolumeClaimTemplates[i].APIVersion = "v1"
		ss.Spec.VolumeClaimTemplates[i].Kind = "PersistentVolumeClaim"
	}
}
