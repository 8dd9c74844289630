package api

import (
	"strings"
	"testing"
)

func TestCronJobValidationNamesTheFieldAndTheFix(t *testing.T) {
	good := func() *CronJob {
		cj := &CronJob{ObjectMeta: ObjectMeta{Name: "nightly", Namespace: "default"},
			Spec: CronJobSpec{Schedule: "0 3 * * *", JobTemplate: JobTemplateSpec{Spec: JobSpec{Template: PodTemplateSpec{
				Spec: PodSpec{RestartPolicy: RestartOnFailure, Containers: []Container{{Name: "c", Image: "img"}}}}}}}}
		Default(cj)
		return cj
	}
	if err := Validate(good()); err != nil {
		t.Fatalf("a good CronJob: %v", err)
	}
	cj := good()
	if cj.Spec.ConcurrencyPolicy != ConcurrencyAllow || *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 ||
		*cj.Spec.JobTemplate.Spec.BackoffLimit != 6 {
		t.Fatalf("defaults: %+v", cj.Spec)
	}
	for _, tc := range []struct {
		change func(*CronJob)
		want   string
	}{
		{func(c *CronJob) { c.Spec.Schedule = "" }, "spec.schedule: Required"},
		{func(c *CronJob) { c.Spec.Schedule = "61 * * * *" }, "spec.schedule: Invalid"},
		{func(c *CronJob) { c.Spec.Schedule = "CRON_TZ=Europe/Berlin 0 3 * * *" }, "set spec.timeZone instead"},
		{func(c *CronJob) { tz := "Mars/Olympus"; c.Spec.TimeZone = &tz }, "spec.timeZone: Invalid"},
		{func(c *CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, "spec.concurrencyPolicy: Unsupported"},
		{func(c *CronJob) { c.Name = strings.Repeat("n", 53) }, "metadata.name: Invalid"},
		{func(c *CronJob) { c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = RestartAlways }, "spec.jobTemplate.spec.template.spec.restartPolicy"},
		{func(c *CronJob) { c.Spec.FailedJobsHistoryLimit = Int32(-1) }, "spec.failedJobsHistoryLimit: Invalid"},
	} {
		cj := good()
		tc.change(cj)
		err := Validate(cj)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}
