package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// statusRun runs `rollout status` in the background; wait returns its exit
// status once it ends.
type statusRun struct {
	out, errOut syncBuffer
	done        chan int
	cancel      context.CancelFunc
}

func startStatus(t *testing.T, srv *clienttest.Server, args ...string) *statusRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s := &statusRun{done: make(chan int, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		s.done <- shoalCtx(ctx, srv, "", &s.out, &s.errOut, append([]string{"rollout", "status"}, args...)...)
	}()
	return s
}

func (s *statusRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("rollout status did not end; stdout:\n%s", s.out.String())
		return -1
	}
}

// setDeploymentStatus plays the Deployment controller.
func setDeploymentStatus(srv *clienttest.Server, name string, f func(d *api.Deployment)) {
	srv.Update(api.KindDeployment, "default", name, func(o api.Object) { f(o.(*api.Deployment)) })
}

// addRollingDeployment adds web just after a change of its image: at
// generation 2, with the status the controller wrote for generation 1,
// then sets the status given (nil for none).
func addRollingDeployment(srv *clienttest.Server, status *api.DeploymentStatus) {
	srv.Add(deployment("web", 6, 6, 0, 6, ago(time.Hour)))
	srv.Update(api.KindDeployment, "default", "web", func(o api.Object) {
		d := o.(*api.Deployment)
		d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		if status != nil {
			d.Status = *status
		}
	})
}

func TestRolloutStatusFollowsTheRollout(t *testing.T) {
	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, nil)
	s := startStatus(t, srv, "deploy/web")
	poll.Cond(t, 5*time.Second, "condition", func() bool { return srv.Watchers() == 1 })
	step := func(line string, f func(d *api.Deployment)) {
		t.Helper()
		setDeploymentStatus(srv, "web", f)
		if line != "" {
			poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.HasSuffix(s.out.String(), line+"\n") })
		}
	}
	step(`Waiting for deployment "web" rollout to finish: 2 out of 6 new replicas have been updated...`, func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 8, UpdatedReplicas: 2, AvailableReplicas: 6}
	})
	// The same state again (only the ready count moved): not printed twice.
	step("", func(d *api.Deployment) { d.Status.ReadyReplicas = 7 })
	step(`Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 7, UpdatedReplicas: 6, AvailableReplicas: 6}
	})
	step(`Waiting for deployment "web" rollout to finish: 4 of 6 updated replicas are available...`, func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 6, UpdatedReplicas: 6, AvailableReplicas: 4}
	})
	step("", func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 6, UpdatedReplicas: 6, ReadyReplicas: 6, AvailableReplicas: 6}
	})
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit status %d, stderr %q", code, s.errOut.String())
	}
	want := `Waiting for deployment spec update to be observed...
Waiting for deployment "web" rollout to finish: 2 out of 6 new replicas have been updated...
Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...
Waiting for deployment "web" rollout to finish: 4 of 6 updated replicas are available...
deployment "web" successfully rolled out
`
	// Not a terminal: plain lines, no carriage return, no spinner.
	if got := s.out.String(); got != want {
		t.Fatalf("got:\n%q\nwant:\n%q", got, want)
	}
}

func TestRolloutStatusProgressDeadlineExceeded(t *testing.T) {
	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, nil)
	s := startStatus(t, srv, "deployment", "web")
	poll.Cond(t, 5*time.Second, "condition", func() bool { return srv.Watchers() == 1 })
	setDeploymentStatus(srv, "web", func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 7, UpdatedReplicas: 1, AvailableReplicas: 6}
	})
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Contains(s.out.String(), "1 out of 6") })
	setDeploymentStatus(srv, "web", func(d *api.Deployment) {
		d.Status.Conditions = []api.Condition{{Type: api.DeploymentProgressing, Status: api.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-5d8f7" has timed out progressing.`}}
	})
	if code := s.wait(t); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if got := s.errOut.String(); got != "error: deployment \"web\" exceeded its progress deadline\n" {
		t.Fatalf("stderr %q", got)
	}
}

func TestRolloutStatusTimeout(t *testing.T) {
	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, nil)
	start := time.Now()
	s := startStatus(t, srv, "deploy/web", "--timeout", "300ms")
	if code := s.wait(t); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("gave up before the timeout")
	}
	if got := s.errOut.String(); got != "error: timed out after 300ms waiting for deployment \"web\" rollout to finish\n" {
		t.Fatalf("stderr %q", got)
	}
	if got := s.out.String(); got != "Waiting for deployment spec update to be observed...\n" {
		t.Fatalf("stdout %q", got)
	}
}

func TestRolloutStatusOnceAndDone(t *testing.T) {
	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, &api.DeploymentStatus{ObservedGeneration: 2, Replicas: 6, UpdatedReplicas: 3, AvailableReplicas: 6})
	srv.Add(deployment("api", 2, 2, 2, 2, ago(time.Hour)))
	r := shoal(t, srv, "", "rollout", "status", "deploy/web", "--watch=false")
	expectOK(t, r)
	if r.stdout != "Waiting for deployment \"web\" rollout to finish: 3 out of 6 new replicas have been updated...\n" {
		t.Fatalf("--watch=false: %q", r.stdout)
	}
	r = shoal(t, srv, "", "rollout", "status", "deploy/api")
	expectOK(t, r)
	if r.stdout != "deployment \"api\" successfully rolled out\n" {
		t.Fatalf("a finished rollout: %q", r.stdout)
	}
	for _, q := range srv.Requests() {
		if q.Query.Get("watch") == "true" {
			t.Fatal("no watch is needed when the first look answers")
		}
	}
	r = shoal(t, srv, "", "rollout", "status", "deploy/nope")
	if r.code != 1 || r.stderr != "Error from server (NotFound): deployments \"nope\" not found\n" {
		t.Fatalf("missing: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "rollout", "status", "deploy/web", "deploy/api")
	if r.code != 1 || !strings.Contains(r.stderr, "rollout status follows one object") {
		t.Fatalf("two objects: %d %q", r.code, r.stderr)
	}
}

func TestRolloutStatusDaemonSet(t *testing.T) {
	srv := clienttest.NewServer(t)
	ds := daemonSet("agent", 3, 1, 3, ago(time.Hour))
	srv.Add(ds)
	s := startStatus(t, srv, "ds/agent")
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Contains(s.out.String(), "\n") })
	srv.Update(api.KindDaemonSet, "default", "agent", func(o api.Object) {
		o.(*api.DaemonSet).Status = api.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}
	})
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Count(s.out.String(), "\n") == 2 })
	srv.Update(api.KindDaemonSet, "default", "agent", func(o api.Object) {
		o.(*api.DaemonSet).Status = api.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}
	})
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit status %d: %s", code, s.errOut.String())
	}
	want := `Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...
Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...
daemon set "agent" successfully rolled out
`
	if got := s.out.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}

	onDelete := daemonSet("legacy", 1, 1, 1, ago(time.Hour))
	onDelete.Spec.UpdateStrategy.Type = api.OnDeleteDaemonSetStrategy
	srv.Add(onDelete)
	r := shoal(t, srv, "", "rollout", "status", "ds/legacy")
	if r.code != 1 || !strings.Contains(r.stderr, "only available for the RollingUpdate strategy") {
		t.Fatalf("OnDelete: %d %q", r.code, r.stderr)
	}
}

// A watch that expires or is cut resumes from a new list; a deletion ends
// the wait with an error.
func TestRolloutStatusResumesAndNoticesDeletion(t *testing.T) {
	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, nil)
	s := startStatus(t, srv, "deploy/web")
	poll.Cond(t, 5*time.Second, "condition", func() bool { return srv.Watchers() == 1 })
	srv.SendWatchError(api.KindDeployment, api.NewGone("too old resource version").ErrStatus)
	poll.Cond(t, 5*time.Second, "condition", func() bool { return watchRequests(srv) == 2 && srv.Watchers() == 1 })
	setDeploymentStatus(srv, "web", func(d *api.Deployment) {
		d.Status = api.DeploymentStatus{ObservedGeneration: 2, Replicas: 6, UpdatedReplicas: 3, AvailableReplicas: 6}
	})
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Contains(s.out.String(), "3 out of 6") })
	srv.Remove(api.KindDeployment, "default", "web")
	if code := s.wait(t); code != 1 {
		t.Fatalf("exit status %d", code)
	}
	if got := s.errOut.String(); got != "error: deployment \"web\" was deleted\n" {
		t.Fatalf("stderr %q", got)
	}
}

func watchRequests(srv *clienttest.Server) int {
	n := 0
	for _, q := range srv.Requests() {
		if q.Query.Get("watch") == "true" {
			n++
		}
	}
	return n
}

func TestRolloutStatusInterrupted(t *testing.T) {
	srv := clienttest.NewServer(t)
	addRollingDeployment(srv, nil)
	s := startStatus(t, srv, "deploy/web")
	poll.Cond(t, 5*time.Second, "condition", func() bool { return srv.Watchers() == 1 })
	s.cancel()
	if code := s.wait(t); code != 130 {
		t.Fatalf("exit status %d, want 130", code)
	}
}

func TestStatefulSetRolloutStateAsKubectlSaysIt(t *testing.T) {
	set := func(gen, observed int64, replicas, ready, updated, partition int32) *api.StatefulSet {
		return &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: "web", Generation: gen},
			Spec: api.StatefulSetSpec{Replicas: api.Int32(replicas), UpdateStrategy: api.StatefulSetUpdateStrategy{Type: api.RollingUpdateStrategy,
				RollingUpdate: &api.RollingUpdateStatefulSetStrategy{Partition: api.Int32(partition)}}},
			Status: api.StatefulSetStatus{ObservedGeneration: observed, ReadyReplicas: ready, UpdatedReplicas: updated}}
	}
	for _, c := range []struct {
		s    *api.StatefulSet
		msg  string
		done bool
	}{
		{set(2, 1, 3, 3, 3, 0), "Waiting for statefulset spec update to be observed...", false},
		{set(2, 2, 3, 1, 1, 0), "Waiting for 2 pods to be ready...", false},
		{set(2, 2, 3, 3, 1, 0), "Waiting for partitioned roll out to finish: 1 out of 3 new pods have been updated...", false},
		{set(2, 2, 3, 3, 2, 1), "partitioned roll out complete: 2 new pods have been updated...", true},
	} {
		msg, done, err := statefulSetRolloutState(c.s)
		if err != nil || msg != c.msg || done != c.done {
			t.Errorf("%+v: %q %v %v, want %q %v", c.s.Status, msg, done, err, c.msg, c.done)
		}
	}
	onDelete := set(1, 1, 1, 1, 1, 0)
	onDelete.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.OnDeleteStatefulSetUpdate}
	if _, _, err := statefulSetRolloutState(onDelete); err == nil || !strings.Contains(err.Error(), "only available for the RollingUpdate strategy") {
		t.Errorf("OnDelete: %v", err)
	}
}
