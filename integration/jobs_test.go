package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const jobYAML = `apiVersion: batch/v1
kind: Job
metadata: {name: %s}
spec:
  completions: %d
  parallelism: %d
  backoffLimit: %d
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: shoal-testapp:v1
        command: [%s]
`

func job(t *testing.T, a *agent, name string) *api.Job {
	o, err := a.client.Get(ctx(t), api.KindJob, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Job)
}

func TestJobRunsExactlyItsCompletionsWithinParallelism(t *testing.T) {
	a := startAgent(t)
	w := watchPods(t, a, "job-name=count")
	a.shoalIn([]byte(fmt.Sprintf(jobYAML, "count", 5, 2, 6, `"/bin/sh", "-c", "echo job-done; sleep 1"`)), "apply", "-f", "-")
	poll.Until(t, 90*time.Second, "job complete", func() error {
		j := job(t, a, "count")
		if !api.IsJobFinished(j) || j.Status.Succeeded != 5 {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
	j := job(t, a, "count")
	if c := api.FindCondition(j.Status.Conditions, api.JobComplete); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("no Complete condition: %+v", j.Status.Conditions)
	}
	succeeded := 0
	for _, p := range a.pods(t, "default", "job-name=count") {
		if p.Status.Phase == api.PodSucceeded {
			succeeded++
		}
	}
	if succeeded != 5 {
		t.Fatalf("%d succeeded pods, want exactly 5", succeeded)
	}
	if _, maxActive := w.extremes(); maxActive > 2 {
		t.Fatalf("%d pods ran at once, parallelism is 2", maxActive)
	}
	out := a.shoal("get", "jobs")
	if !strings.Contains(out, "COMPLETIONS") || !strings.Contains(out, "5/5") || !strings.Contains(out, "DURATION") {
		t.Fatalf("get jobs:\n%s", out)
	}
	if logs := a.shoal("logs", "job/count"); logs != "job-done\n" {
		t.Fatalf("logs job/count: %q", logs)
	}
}

func TestFailingJobStopsAtBackoffLimit(t *testing.T) {
	a := startAgent(t)
	a.shoalIn([]byte(fmt.Sprintf(jobYAML, "doomed", 1, 1, 2, `"/bin/sh", "-c", "echo crash; exit 1"`)), "apply", "-f", "-")
	poll.Until(t, 120*time.Second, "job failed", func() error {
		j := job(t, a, "doomed")
		c := api.FindCondition(j.Status.Conditions, api.JobFailed)
		if c == nil || c.Status != api.ConditionTrue || c.Reason != api.JobReasonBackoffLimitExceeded {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // no further pod may appear
	pods := a.pods(t, "default", "job-name=doomed")
	if len(pods) != 3 {
		t.Fatalf("%d pods for backoffLimit 2, want 3", len(pods))
	}
	if logs := a.shoal("logs", "job/doomed"); !strings.Contains(logs, "crash") {
		t.Fatalf("logs job/doomed: %q", logs)
	}
}

func TestDaemonSetAndNamespaceLifecycle(t *testing.T) {
	a := startAgent(t)
	a.shoal("create", "namespace", "team")
	ds := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: team}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: a, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`
	a.shoalIn([]byte(ds), "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "one daemon pod on the node", func() error {
		pods := a.pods(t, "team", "app=node-agent")
		if len(pods) != 1 || !api.IsPodReady(pods[0]) || pods[0].Spec.NodeName != a.name {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	if out := a.shoal("get", "ds", "-n", "team"); !strings.Contains(out, "agent") {
		t.Fatalf("get ds:\n%s", out)
	}
	a.shoal("delete", "namespace", "team")
	poll.Until(t, 60*time.Second, "namespace and its containers gone", func() error {
		if _, err := a.client.Get(ctx(t), api.KindNamespace, "", "team"); !api.IsNotFound(err) {
			return fmt.Errorf("namespace still there (%v)", err)
		}
		if n := len(dockerPS(t, a.name)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
	if _, err := a.client.Get(ctx(t), api.KindDaemonSet, "team", "agent"); !api.IsNotFound(err) {
		t.Fatalf("the daemonset outlived its namespace: %v", err)
	}
}
