package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/api/printers"
)

// job is a Job as a user writes it: the server gives it its selector and
// pod labels from its uid.
func job(name string, completions *int32, created api.Time) *api.Job {
	return &api.Job{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created},
		Spec: api.JobSpec{Completions: completions, Parallelism: api.Int32(1), BackoffLimit: api.Int32(6),
			Suspend: api.Bool(false), CompletionMode: api.CompletionModeNonIndexed,
			Template: api.PodTemplateSpec{
				Spec: api.PodSpec{RestartPolicy: api.RestartNever, Containers: []api.Container{{Name: "main", Image: "tool:1"}}}}},
	}
}

func jobFixture() []api.Object {
	t := func(d time.Duration) *api.Time { v := ago(d); return &v }
	complete := job("backup", api.Int32(5), ago(2*time.Hour))
	complete.Status = api.JobStatus{Succeeded: 5, StartTime: t(2 * time.Hour), CompletionTime: t(2*time.Hour - 95*time.Second),
		Conditions: []api.Condition{{Type: api.JobComplete, Status: api.ConditionTrue}}}
	running := job("migrate", api.Int32(5), ago(10*time.Minute))
	running.Status = api.JobStatus{Active: 1, Succeeded: 3, StartTime: t(200 * time.Second), Ready: api.Int32(1)}
	failed := job("flaky", api.Int32(1), ago(3*24*time.Hour))
	failed.Status = api.JobStatus{Failed: 7, StartTime: t(3 * 24 * time.Hour),
		Conditions: []api.Condition{{Type: api.JobFailed, Status: api.ConditionTrue, Reason: api.JobReasonBackoffLimitExceeded}}}
	suspended := job("nightly", api.Int32(1), ago(30*time.Second))
	suspended.Spec.Suspend = api.Bool(true)
	queue := job("queue", nil, ago(time.Minute))
	queue.Spec.Parallelism = api.Int32(3)
	queue.Status.StartTime = t(time.Minute)
	return []api.Object{complete, running, failed, suspended, queue}
}

func TestGetJobsTable(t *testing.T) {
	srv := clienttest.NewServer(t)
	jobs := jobFixture()
	srv.Add(jobs...)
	r := shoal(t, srv, "", "get", "jobs")
	expectOK(t, r)
	want := `NAME      STATUS      COMPLETIONS   DURATION   AGE
backup    Complete    5/5           95s        120m
flaky     Failed      0/1           3d         3d
migrate   Running     3/5           3m20s      10m
nightly   Suspended   0/1                      30s
queue     Running     0/1 of 3      60s        60s
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, srv, "", "get", "job", "backup", "-o", "wide")
	expectOK(t, r)
	want = `NAME     STATUS     COMPLETIONS   DURATION   AGE    CONTAINERS   IMAGES   SELECTOR
backup   Complete   5/5           95s        120m   main         tool:1   batch.kubernetes.io/controller-uid=` + jobs[0].GetObjectMeta().UID + `
`
	if r.stdout != want {
		t.Fatalf("wide got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestGetDaemonSetsTable(t *testing.T) {
	srv := clienttest.NewServer(t)
	ds := daemonSet("agent", 3, 2, 2, ago(5*time.Hour))
	ds.Status.NumberReady = 3
	gpu := daemonSet("gpu", 1, 1, 1, ago(time.Minute))
	gpu.Spec.Template.Spec.NodeSelector = map[string]string{"gpu": "true", "kubernetes.io/os": "linux"}
	srv.Add(ds, gpu)
	r := shoal(t, srv, "", "get", "ds")
	expectOK(t, r)
	want := `NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR                     AGE
agent   3         3         3       2            2           <none>                            5h
gpu     1         1         1       1            1           gpu=true,kubernetes.io/os=linux   60s
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, srv, "", "get", "daemonsets", "agent", "-o", "wide")
	expectOK(t, r)
	if !strings.HasSuffix(r.stdout, "   agent        fluent-bit:3.0   app=agent\n") ||
		!strings.Contains(r.stdout, "   AGE   CONTAINERS   IMAGES           SELECTOR\n") {
		t.Fatalf("wide:\n%s", r.stdout)
	}
}

func TestGetAllIncludesDaemonSetsAndJobs(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)), deployment("web", 1, 1, 1, 1, ago(time.Hour)),
		daemonSet("agent", 1, 1, 1, ago(time.Hour)), jobFixture()[0])
	r := shoal(t, srv, "", "get", "all")
	expectOK(t, r)
	want := `NAME        READY   STATUS    RESTARTS   AGE
pod/web-1   1/1     Running   0          60m

NAME                   DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE
daemonset.apps/agent   1         1         1       1            1           <none>          60m

NAME                  READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/web   1/1     1            1           60m

NAME               STATUS     COMPLETIONS   DURATION   AGE
job.batch/backup   Complete   5/5           95s        120m
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestPodStatusColumnGolden(t *testing.T) {
	wait := func(name, reason string) *api.Pod { return waiting(name, reason, ago(time.Minute), 0) }
	oom := running("oom", "default", ago(time.Minute))
	oom.Status.Conditions = nil
	oom.Status.ContainerStatuses[0] = api.ContainerStatus{Name: "app", RestartCount: 2,
		State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}
	initPod := func(name string, states ...api.ContainerState) *api.Pod {
		p := wait(name, "PodInitializing")
		for i, s := range states {
			p.Spec.InitContainers = append(p.Spec.InitContainers, api.Container{Name: "init" + string(rune('a'+i)), Image: "busybox"})
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, api.ContainerStatus{State: s})
		}
		return p
	}
	done := api.ContainerState{Terminated: &api.ContainerStateTerminated{Reason: "Completed"}}
	srv := clienttest.NewServer(t)
	srv.Add(wait("a-pull", "ErrImagePull"), wait("b-backoff", "ImagePullBackOff"), wait("c-config", "CreateContainerConfigError"), oom,
		initPod("init-step", done, api.ContainerState{Running: &api.ContainerStateRunning{}}, api.ContainerState{}),
		initPod("init-error", api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}),
		initPod("init-loop", api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}),
		initPod("init-pull", api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ErrImagePull"}}))
	r := shoal(t, srv, "", "get", "pods")
	expectOK(t, r)
	want := `NAME         READY   STATUS                       RESTARTS   AGE
a-pull       0/1     ErrImagePull                 0          60s
b-backoff    0/1     ImagePullBackOff             0          60s
c-config     0/1     CreateContainerConfigError   0          60s
init-error   0/1     Init:Error                   0          60s
init-loop    0/1     Init:CrashLoopBackOff        0          60s
init-pull    0/1     Init:ErrImagePull            0          60s
init-step    0/1     Init:1/3                     0          60s
oom          0/1     OOMKilled                    2          60s
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestDescribeJob(t *testing.T) {
	srv := clienttest.NewServer(t)
	j := jobFixture()[1].(*api.Job)
	j.Spec.ActiveDeadlineSeconds = api.Int64(600)
	srv.Add(j)
	srv.Add(&api.Event{ObjectMeta: api.ObjectMeta{Name: "e1", Namespace: "default"}, Type: api.EventNormal,
		Reason: "SuccessfulCreate", Message: "Created pod: migrate-x7k2p", LastTimestamp: ago(3 * time.Minute),
		InvolvedObject: api.ObjectReference{Kind: "Job", Name: "migrate", Namespace: "default", UID: j.UID},
		Source:         api.EventSource{Component: "job-controller"}})
	r := shoal(t, srv, "", "describe", "job/migrate")
	expectOK(t, r)
	for _, f := range [][3]string{{"", "Name", "migrate"}, {"", "Selector", "batch.kubernetes.io/controller-uid=" + j.UID},
		{"", "Parallelism", "1"}, {"", "Completions", "5"}, {"", "Completion Mode", "NonIndexed"}, {"", "Suspend", "false"},
		{"", "Backoff Limit", "6"}, {"", "Active Deadline Seconds", "600s"},
		{"", "Pods Statuses", "1 Active (1 Ready) / 3 Succeeded / 0 Failed"}, {"      ", "Image", "tool:1"}} {
		expectField(t, r.stdout, f[0], f[1], f[2])
	}
	if !regexp.MustCompile(`\nStart Time: +\w{3}, `).MatchString(r.stdout) || strings.Contains(r.stdout, "Completed At") {
		t.Errorf("times:\n%s", r.stdout)
	}
	if !strings.HasSuffix(r.stdout, "  Normal  SuccessfulCreate  3m    job-controller  Created pod: migrate-x7k2p\n") {
		t.Errorf("events:\n%s", r.stdout)
	}

	failed := jobFixture()[2]
	srv.Add(failed)
	r = shoal(t, srv, "", "describe", "job", "flaky")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "\nConditions:\n  Type    Status  Reason\n  ----    ------  ------\n  Failed  True    BackoffLimitExceeded\n") {
		t.Errorf("a failed job shows why:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "describe", "job", "backup-missing")
	if r.code != 1 {
		t.Fatalf("missing job: %d", r.code)
	}
}

func TestDescribeDaemonSet(t *testing.T) {
	srv := clienttest.NewServer(t)
	ds := daemonSet("agent", 3, 2, 2, ago(time.Hour))
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	srv.Add(ds)
	yes := true
	pod := func(name, phase string) *api.Pod {
		p := running(name, "default", ago(time.Minute))
		p.Labels = map[string]string{"app": "agent"}
		p.OwnerReferences = []api.OwnerReference{{Kind: "DaemonSet", Name: "agent", UID: ds.UID, Controller: &yes}}
		p.Status.Phase = phase
		return p
	}
	srv.Add(pod("agent-a", api.PodRunning), pod("agent-b", api.PodRunning), pod("agent-c", api.PodPending))
	r := shoal(t, srv, "", "describe", "ds/agent")
	expectOK(t, r)
	for _, f := range [][3]string{{"", "Selector", "app=agent"}, {"", "Node-Selector", "kubernetes.io/os=linux"},
		{"", "Pods Status", "2 Running / 1 Waiting / 0 Succeeded / 0 Failed"}, {"      ", "Image", "fluent-bit:3.0"}} {
		expectField(t, r.stdout, f[0], f[1], f[2])
	}
	for _, line := range []string{"Desired Number of Nodes Scheduled: 3", "Current Number of Nodes Scheduled: 3",
		"Number of Nodes Scheduled with Up-to-date Pods: 2", "Number of Nodes Scheduled with Available Pods: 2",
		"Number of Nodes Misscheduled: 0", "Controlled By"} {
		if strings.Contains(r.stdout, line) != (line != "Controlled By") {
			t.Errorf("line %q:\n%s", line, r.stdout)
		}
	}
	if !regexp.MustCompile(`\nEvents:\s+<none>\n$`).MatchString(r.stdout) {
		t.Errorf("events:\n%s", r.stdout)
	}
}

func TestLogsAndExecOfJobsAndDaemonSets(t *testing.T) {
	srv, _ := execServer(t)
	j := jobFixture()[1].(*api.Job)
	srv.Add(j) // the server labels the job's pods with its uid
	attempt := func(name string, created time.Duration, phase string) *api.Pod {
		p := running(name, "default", ago(created))
		p.Labels = j.Spec.Template.Labels
		p.Status.Phase = phase
		return p
	}
	// The newest attempt wins even when an older one still runs.
	srv.Add(attempt("migrate-old", 9*time.Minute, api.PodRunning), attempt("migrate-new", time.Minute, api.PodFailed),
		attempt("migrate-mid", 5*time.Minute, api.PodFailed))
	srv.SetLogs("default", "migrate-new", "", "boom\n")
	r := shoal(t, srv, "", "logs", "job/migrate")
	expectOK(t, r)
	if r.stdout != "boom\n" || r.stderr != "Found 3 pods, using pod/migrate-new\n" {
		t.Fatalf("logs job: %q %q", r.stdout, r.stderr)
	}

	ds := daemonSet("agent", 2, 2, 2, ago(time.Hour))
	starting := waiting("agent-new", "ContainerCreating", ago(time.Second), 0)
	starting.Labels = map[string]string{"app": "agent"}
	ready := running("agent-old", "default", ago(time.Hour))
	ready.Labels = map[string]string{"app": "agent"}
	srv.Add(ds, starting, ready)
	srv.SetLogs("default", "agent-old", "", "shipping\n")
	r = shoal(t, srv, "", "logs", "ds/agent")
	expectOK(t, r)
	if r.stdout != "shipping\n" || r.stderr != "Found 2 pods, using pod/agent-old\n" {
		t.Fatalf("logs ds: %q %q", r.stdout, r.stderr)
	}
	r = shoal(t, srv, "", "exec", "daemonset/agent", "--", "hostname")
	expectOK(t, r)
	if !strings.HasPrefix(r.stderr, "Found 2 pods, using pod/agent-old\n") {
		t.Fatalf("exec ds: %q", r.stderr)
	}
	r = shoal(t, srv, "", "logs", "job/none")
	if r.code != 1 || r.stderr != "Error from server (NotFound): jobs \"none\" not found\n" {
		t.Fatalf("missing job: %q", r.stderr)
	}
}

func TestJobStatusColumn(t *testing.T) {
	base := func() *api.Job { return job("j", api.Int32(1), ago(time.Minute)) }
	cond := func(typ string) *api.Job {
		j := base()
		j.Status.Conditions = []api.Condition{{Type: typ, Status: api.ConditionTrue}}
		return j
	}
	deleting := base()
	deleting.DeletionTimestamp = api.NowPtr()
	notYet := cond(api.JobComplete)
	notYet.Status.Conditions[0].Status = api.ConditionFalse
	for _, tc := range []struct {
		job  *api.Job
		want string
	}{
		{base(), "Running"}, {cond(api.JobComplete), "Complete"}, {cond(api.JobFailed), "Failed"},
		{deleting, "Terminating"}, {cond("Suspended"), "Suspended"}, {cond("FailureTarget"), "FailureTarget"},
		{cond("SuccessCriteriaMet"), "SuccessCriteriaMet"}, {notYet, "Running"},
	} {
		if got := printers.JobStatus(tc.job); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.job.Status.Conditions, got, tc.want)
		}
	}
	var b bytes.Buffer
	if err := newTablePrinter(&b, api.KindJob, tableOptions{}, fixedNow).print([]api.Object{base()}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "NAME   STATUS    COMPLETIONS   DURATION   AGE\nj      Running   0/1                      60s\n" {
		t.Fatalf("not started:\n%q", b.String())
	}
}
