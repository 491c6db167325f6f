// Package rest builds the storage of the batch API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/batch/cronjob"
	"github.com/skiff-project/skiff/pkg/registry/batch/job"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "batch"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	jobs, err := job.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	v1["jobs"] = jobs.Job
	v1["jobs/status"] = jobs.Status

	cronJobs, err := cronjob.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("cronjobs: %w", err)
	}
	v1["cronjobs"] = cronJobs.CronJob
	v1["cronjobs/status"] = cronJobs.Status

	return generic.GroupStorage{"v1": v1}, nil
}
