// Package storageversionmigration serves storagemigration.k8s.io/v1
// StorageVersionMigrations and their status subresource.
package storageversionmigration

import (
	"context"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	svmvalidation "k8s.io/kubernetes/pkg/apis/storagemigration/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const apiVersion = "storagemigration.k8s.io/v1"

// migrationStrategy validates StorageVersionMigrations with upstream's
// rules (the spec is immutable); the status is written only through /status
// by the migration controller.
type migrationStrategy struct {
	generic.Strategy
}

var strategy = migrationStrategy{generic.NewStrategy(false)}

func (migrationStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (migrationStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields(apiVersion)
}

func (migrationStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*storagemigrationv1.StorageVersionMigration).Status = storagemigrationv1.StorageVersionMigrationStatus{}
}

func (migrationStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*storagemigrationv1.StorageVersionMigration).Status = old.(*storagemigrationv1.StorageVersionMigration).Status
}

func (migrationStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, svmvalidation.ValidateStorageVersionMigration)
}

func (migrationStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, svmvalidation.ValidateStorageVersionMigrationUpdate)
}

// migrationStatusStrategy is the strategy of storageversionmigrations/status:
// only the status changes; spec, labels, annotations, finalizers and owners
// stay.
type migrationStatusStrategy struct {
	migrationStrategy
}

var statusStrategy = migrationStatusStrategy{strategy}

func (migrationStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		apiVersion: fieldpath.NewSet(fieldpath.MakePathOrDie("metadata"), fieldpath.MakePathOrDie("spec")),
	}
}

func (migrationStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	svm, oldSVM := obj.(*storagemigrationv1.StorageVersionMigration), old.(*storagemigrationv1.StorageVersionMigration)
	svm.Spec = oldSVM.Spec
	metav1.ResetObjectMetaForStatus(&svm.ObjectMeta, &oldSVM.ObjectMeta)
}

func (migrationStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, svmvalidation.ValidateStorageVersionMigrationStatusUpdate)
}
