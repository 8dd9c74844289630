package api

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// CronJob makes a Job on a schedule, as Kubernetes' batch/v1 CronJob.
type CronJob struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       CronJobSpec   `json:"spec,omitzero"`
	Status     CronJobStatus `json:"status,omitzero"`
}

// CronJobSpec is the desired state of a CronJob.
type CronJobSpec struct {
	// Schedule is a cron schedule: five fields or a descriptor (@hourly).
	Schedule string `json:"schedule"`
	// TimeZone is an IANA time zone name; the agent's local zone if empty.
	TimeZone *string `json:"timeZone,omitempty"`
	// StartingDeadlineSeconds: a run missed by more than this is skipped.
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`
	// ConcurrencyPolicy: Allow, Forbid or Replace.
	ConcurrencyPolicy          string          `json:"concurrencyPolicy,omitempty"`
	Suspend                    *bool           `json:"suspend,omitempty"`
	JobTemplate                JobTemplateSpec `json:"jobTemplate"`
	SuccessfulJobsHistoryLimit *int32          `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int32          `json:"failedJobsHistoryLimit,omitempty"`
}

// JobTemplateSpec is the Job a CronJob makes.
type JobTemplateSpec struct {
	ObjectMeta `json:"metadata,omitzero"`
	Spec       JobSpec `json:"spec,omitzero"`
}

// CronJobStatus is written by the CronJob controller.
type CronJobStatus struct {
	Active             []ObjectReference `json:"active,omitempty"`
	LastScheduleTime   *Time             `json:"lastScheduleTime,omitempty"`
	LastSuccessfulTime *Time             `json:"lastSuccessfulTime,omitempty"`
}

// CronJob concurrency policies and the annotation on the Jobs it makes.
const (
	ConcurrencyAllow   = "Allow"
	ConcurrencyForbid  = "Forbid"
	ConcurrencyReplace = "Replace"

	AnnotationCronJobScheduledTimestamp = "batch.kubernetes.io/cronjob-scheduled-timestamp"

	// maxCronJobNameLength leaves room for the "-<minutes>" suffix of the
	// Jobs' names within the 63 characters of a label value.
	maxCronJobNameLength = 52
)

// ParseCronSchedule parses a CronJob's schedule in its time zone.
func ParseCronSchedule(cj *CronJob) (cron.Schedule, *time.Location, error) {
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil && *tz != "" {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			return nil, nil, err
		}
		loc = l
	}
	s, err := cron.ParseStandard(cj.Spec.Schedule)
	return s, loc, err
}

func defaultCronJob(cj *CronJob) {
	if cj.Spec.ConcurrencyPolicy == "" {
		cj.Spec.ConcurrencyPolicy = ConcurrencyAllow
	}
	if cj.Spec.Suspend == nil {
		cj.Spec.Suspend = Bool(false)
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil {
		cj.Spec.SuccessfulJobsHistoryLimit = Int32(3)
	}
	if cj.Spec.FailedJobsHistoryLimit == nil {
		cj.Spec.FailedJobsHistoryLimit = Int32(1)
	}
	j := &Job{Spec: cj.Spec.JobTemplate.Spec}
	defaultJob(j)
	cj.Spec.JobTemplate.Spec = j.Spec
}

func validateCronJob(e *errs, cj *CronJob) {
	if len(cj.Name) > maxCronJobNameLength {
		e.invalid("metadata.name", cj.Name, "must be no more than 52 characters (the Jobs it makes add a suffix)")
	}
	p := path("spec")
	switch {
	case strings.TrimSpace(cj.Spec.Schedule) == "":
		e.required(p.child("schedule"), `a cron schedule such as "*/5 * * * *" or "@hourly"`)
	case strings.Contains(cj.Spec.Schedule, "TZ="):
		e.invalid(p.child("schedule"), cj.Spec.Schedule, "CRON_TZ or TZ is not supported in the schedule; set spec.timeZone instead")
	default:
		if _, err := cron.ParseStandard(cj.Spec.Schedule); err != nil {
			e.invalid(p.child("schedule"), cj.Spec.Schedule, err.Error())
		}
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "" || strings.EqualFold(*tz, "local") {
			e.invalid(p.child("timeZone"), *tz, "unknown time zone; use an IANA name such as Europe/Berlin or Etc/UTC")
		}
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && *d < 0 {
		e.invalid(p.child("startingDeadlineSeconds"), *d, "must be greater than or equal to 0")
	}
	switch cj.Spec.ConcurrencyPolicy {
	case ConcurrencyAllow, ConcurrencyForbid, ConcurrencyReplace:
	default:
		e.notSupported(p.child("concurrencyPolicy"), cj.Spec.ConcurrencyPolicy, ConcurrencyAllow, ConcurrencyForbid, ConcurrencyReplace)
	}
	for _, f := range []struct {
		name string
		v    *int32
	}{{"successfulJobsHistoryLimit", cj.Spec.SuccessfulJobsHistoryLimit}, {"failedJobsHistoryLimit", cj.Spec.FailedJobsHistoryLimit}} {
		if f.v != nil && *f.v < 0 {
			e.invalid(p.child(f.name), *f.v, "must be greater than or equal to 0")
		}
	}
	if cj.Spec.JobTemplate.Spec.Selector != nil {
		e.forbidden(p.child("jobTemplate.spec.selector"), "the Jobs of a CronJob get generated selectors; remove it")
	}
	// The template is checked as the Job it will make.
	var je errs
	validateJob(&je, &Job{ObjectMeta: ObjectMeta{Name: cj.Name}, Spec: cj.Spec.JobTemplate.Spec})
	for _, fe := range je.list {
		fe.Field = "spec.jobTemplate." + fe.Field
		e.list = append(e.list, fe)
	}
	validateLabels(e, p.child("jobTemplate.metadata.labels"), cj.Spec.JobTemplate.Labels)
}
