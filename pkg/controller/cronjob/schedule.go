package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// nextScheduleDelta is added to requeue delays so that the next sync
// comes just after the scheduled time, not just before it.
const nextScheduleDelta = 100 * time.Millisecond

// parseSchedule parses a standard cron schedule; the library panics on
// some malformed inputs (e.g. "TZ=0"), which become errors.
func parseSchedule(s string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("invalid schedule format: %v", r)
		}
	}()
	return cron.ParseStandard(s)
}

// formatSchedule prefixes the schedule with the CronJob's time zone.
// Schedules carrying their own TZ= or CRON_TZ= are used as they are, with
// upstream's warning event.
func formatSchedule(cj *batchv1.CronJob, recorder record.EventRecorder) string {
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		if recorder != nil {
			recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule", "CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
		}
		return cj.Spec.Schedule
	}
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return cj.Spec.Schedule
		}
		return fmt.Sprintf("TZ=%s %s", *cj.Spec.TimeZone, cj.Spec.Schedule)
	}
	return cj.Spec.Schedule
}

type missed int

const (
	noneMissed missed = iota
	fewMissed
	manyMissed
)

// mostRecentScheduleTime returns the earliest time considered (creation,
// last schedule, or now minus startingDeadlineSeconds) and the latest
// scheduled time not after now, if any, with how many were missed.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, withDeadline bool) (time.Time, *time.Time, missed, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if withDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if deadline := now.Add(-time.Second * time.Duration(*cj.Spec.StartingDeadlineSeconds)); deadline.After(earliest) {
			earliest = deadline
		}
	}
	t1 := sched.Next(earliest)
	t2 := sched.Next(t1)
	if now.Before(t1) {
		return earliest, nil, noneMissed, nil
	}
	if now.Before(t2) {
		return earliest, &t1, noneMissed, nil
	}
	// Many schedules passed: jump close to now instead of walking all.
	period := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if period < 1 {
		return earliest, nil, noneMissed, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	count := int64(now.Sub(t1).Seconds())/period + 1
	var latest time.Time
	start := t1.Add(time.Duration((count-2)*period) * time.Second)
	for t := sched.Next(start); !t.After(now); t = sched.Next(t) {
		latest = t
	}
	m := fewMissed
	if count > 100 {
		m = manyMissed
	}
	if latest.IsZero() {
		return earliest, nil, m, nil
	}
	return earliest, &latest, m, nil
}

// nextScheduleTimeDuration is how long until the next scheduled time.
func nextScheduleTimeDuration(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) *time.Duration {
	earliest, latest, m, err := mostRecentScheduleTime(cj, now, sched, false)
	switch {
	case err != nil:
		latest = &now
	case latest == nil && m == noneMissed:
		latest = &earliest
	case latest == nil:
		latest = &now
	}
	d := sched.Next(*latest).Add(nextScheduleDelta).Sub(now)
	return &d
}

// nextScheduleTime returns the scheduled time to run now, if any.
func nextScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, recorder record.EventRecorder) (*time.Time, error) {
	_, latest, m, err := mostRecentScheduleTime(cj, now, sched, true)
	if latest == nil || latest.After(now) {
		return nil, err
	}
	if m == manyMissed {
		recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	return latest, err
}
