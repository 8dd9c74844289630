package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const cronJobYAML = `apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  timeZone: Etc/UTC
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: work
            image: shoal-testapp:v1
            command: ["/bin/sh", "-c", "echo tick"]
`

// A CronJob every minute runs on time twice: each Job is made within a few
// seconds of its minute, named for it, and completes.
func TestCronJobEveryMinuteRunsOnTimeTwice(t *testing.T) {
	a := startAgent(t)
	if _, errOut, err := a.shoalIn([]byte(cronJobYAML), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	seen := map[string]time.Time{} // job name -> when this test first saw it
	poll.Until(t, 150*time.Second, "two complete Jobs of the CronJob", func() error {
		objs, _, err := a.client.List(ctx(t), api.KindJob, "default", api.ListOptions{})
		if err != nil {
			return err
		}
		complete := 0
		for _, o := range objs {
			j := o.(*api.Job)
			if ref := j.ControllerRef(); ref == nil || ref.Kind != "CronJob" || ref.Name != "tick" {
				continue
			}
			if _, ok := seen[j.Name]; !ok {
				seen[j.Name] = time.Now()
			}
			if api.IsJobFinished(j) {
				complete++
			}
		}
		if complete < 2 {
			return fmt.Errorf("%d complete of %d jobs", complete, len(seen))
		}
		return nil
	})
	for name, at := range seen {
		o, err := a.client.Get(ctx(t), api.KindJob, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		j := o.(*api.Job)
		scheduled, err := time.Parse(time.RFC3339, j.Annotations[api.AnnotationCronJobScheduledTimestamp])
		if err != nil {
			t.Fatalf("%s: scheduled-timestamp annotation: %v", name, err)
		}
		if want := fmt.Sprintf("tick-%d", scheduled.Unix()/60); name != want || scheduled.Second() != 0 {
			t.Errorf("job %s for %s: want the name %s and a whole minute", name, scheduled, want)
		}
		// Made on time: within 5 s of its minute (seen by a 1 s poll).
		if late := j.CreationTimestamp.Sub(scheduled); late < 0 || late > 5*time.Second {
			t.Errorf("job %s made %s after its time %s (seen %s)", name, late, scheduled.Format(time.TimeOnly), at.Format(time.TimeOnly))
		}
	}
	out := a.shoal("get", "cronjobs")
	if !strings.Contains(out, "tick") {
		t.Errorf("get cronjobs: %s", out)
	}
	o, err := a.client.Get(ctx(t), api.KindCronJob, "default", "tick")
	if err != nil {
		t.Fatal(err)
	}
	if st := o.(*api.CronJob).Status; st.LastScheduleTime == nil || st.LastSuccessfulTime == nil {
		t.Errorf("status: %+v", st)
	}
	// Deleting the CronJob deletes its Jobs.
	a.shoal("delete", "cronjob", "tick")
	poll.Until(t, 60*time.Second, "the CronJob's Jobs gone", func() error {
		objs, _, _ := a.client.List(ctx(t), api.KindJob, "default", api.ListOptions{})
		for _, o := range objs {
			if ref := o.GetObjectMeta().ControllerRef(); ref != nil && ref.Name == "tick" {
				return fmt.Errorf("%s left", o.GetObjectMeta().Name)
			}
		}
		return nil
	})
}
