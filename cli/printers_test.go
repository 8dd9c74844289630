package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{-500 * time.Millisecond, "0s"},
		{0, "0s"},
		{5 * time.Second, "5s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{3*time.Minute + 20*time.Second, "3m20s"},
		{9*time.Minute + 59*time.Second, "9m59s"},
		{10 * time.Minute, "10m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{5*time.Hour + 10*time.Minute, "5h10m"},
		{8 * time.Hour, "8h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{52 * time.Hour, "2d4h"},
		{7*24*time.Hour + 23*time.Hour, "7d23h"},
		{8 * 24 * time.Hour, "8d"},
		{400 * 24 * time.Hour, "400d"},
		{2*365*24*time.Hour + 100*24*time.Hour, "2y100d"},
		{3 * 365 * 24 * time.Hour, "3y"},
		{9 * 365 * 24 * time.Hour, "9y"},
	} {
		if got := printers.HumanDuration(tc.d); got != tc.want {
			t.Errorf("printers.HumanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := printers.Age(api.Time{}, fixedNow); got != "<unknown>" {
		t.Errorf("age of no time = %q", got)
	}
}

func TestPodStatus(t *testing.T) {
	term := func(code int32, reason string) api.ContainerState {
		return api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, Reason: reason}}
	}
	wait := func(reason string) api.ContainerState {
		return api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: reason}}
	}
	run := api.ContainerState{Running: &api.ContainerStateRunning{}}
	pod := func(phase string, init []api.ContainerState, app ...api.ContainerState) *api.Pod {
		p := &api.Pod{Status: api.PodStatus{Phase: phase}}
		for i, s := range init {
			p.Spec.InitContainers = append(p.Spec.InitContainers, api.Container{Name: fmt.Sprint("init", i)})
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, api.ContainerStatus{State: s})
		}
		for i, s := range app {
			p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: fmt.Sprint("c", i)})
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, api.ContainerStatus{State: s, Ready: s.Running != nil})
		}
		return p
	}
	terminating := pod(api.PodRunning, nil, run)
	terminating.DeletionTimestamp = api.NowPtr()
	finishedAndDeleted := pod(api.PodSucceeded, nil, term(0, "Completed"))
	finishedAndDeleted.DeletionTimestamp = api.NowPtr()
	evicted := pod(api.PodFailed, nil)
	evicted.Status.Reason = "Evicted"
	sidecarStillRunning := pod(api.PodRunning, nil, term(0, "Completed"), run)
	sidecarStillRunning.Status.Conditions = []api.Condition{{Type: api.PodReady, Status: api.ConditionTrue}}
	noStatus := &api.Pod{Spec: api.PodSpec{Containers: []api.Container{{Name: "a"}}}}
	gated := &api.Pod{Spec: api.PodSpec{Containers: []api.Container{{Name: "a"}}, SchedulingGates: []api.PodSchedulingGate{{Name: "g"}}},
		Status: api.PodStatus{Phase: api.PodPending}}

	for _, tc := range []struct {
		name  string
		pod   *api.Pod
		want  string
		ready string
	}{
		{"running", pod(api.PodRunning, nil, run, run), "Running", "2/2"},
		{"no status yet", noStatus, "Pending", "0/1"},
		{"scheduling gated", gated, "SchedulingGated", "0/1"},
		{"creating", pod(api.PodPending, nil, wait("ContainerCreating")), "ContainerCreating", "0/1"},
		{"crash loop", pod(api.PodRunning, nil, wait("CrashLoopBackOff")), "CrashLoopBackOff", "0/1"},
		{"first container wins", pod(api.PodRunning, nil, wait("ImagePullBackOff"), wait("CrashLoopBackOff")), "ImagePullBackOff", "0/2"},
		{"completed", pod(api.PodSucceeded, nil, term(0, "Completed")), "Completed", "0/1"},
		{"error", pod(api.PodFailed, nil, term(2, "Error")), "Error", "0/1"},
		{"exit code without reason", pod(api.PodFailed, nil, term(3, "")), "ExitCode:3", "0/1"},
		{"oom", pod(api.PodRunning, nil, term(137, "OOMKilled")), "OOMKilled", "0/1"},
		{"init running", pod(api.PodPending, []api.ContainerState{term(0, ""), run, wait("")}, wait("PodInitializing")), "Init:1/3", "0/1"},
		{"init waiting", pod(api.PodPending, []api.ContainerState{wait("PodInitializing")}, wait("PodInitializing")), "Init:0/1", "0/1"},
		{"init crash", pod(api.PodPending, []api.ContainerState{wait("CrashLoopBackOff")}, wait("PodInitializing")), "Init:CrashLoopBackOff", "0/1"},
		{"init failed", pod(api.PodPending, []api.ContainerState{term(1, "Error")}, wait("PodInitializing")), "Init:Error", "0/1"},
		{"init failed no reason", pod(api.PodPending, []api.ContainerState{term(1, "")}, wait("PodInitializing")), "Init:ExitCode:1", "0/1"},
		{"init done", pod(api.PodRunning, []api.ContainerState{term(0, "Completed")}, run), "Running", "1/1"},
		{"terminating", terminating, "Terminating", "1/1"},
		{"finished pods are not Terminating", finishedAndDeleted, "Completed", "0/1"},
		{"pod reason", evicted, "Evicted", "0/0"},
		{"completed container beside a running one", sidecarStillRunning, "Running", "1/2"},
	} {
		s := printers.PodStatus(tc.pod)
		if s.Reason != tc.want || fmt.Sprintf("%d/%d", s.Ready, s.Total) != tc.ready {
			t.Errorf("%s: got %s %d/%d, want %s %s", tc.name, s.Reason, s.Ready, s.Total, tc.want, tc.ready)
		}
	}
}

func TestRestartsColumn(t *testing.T) {
	p := waiting("x", "CrashLoopBackOff", ago(time.Hour), 5)
	if got := printers.PodStatus(p).RestartsString(fixedNow); got != "5" {
		t.Errorf("without a last termination time: %q", got)
	}
	p.Status.ContainerStatuses[0].LastState.Terminated = &api.ContainerStateTerminated{FinishedAt: ago(3 * time.Minute)}
	if got := printers.PodStatus(p).RestartsString(fixedNow); got != "5 (3m ago)" {
		t.Errorf("got %q", got)
	}
}

func TestOtherKindTables(t *testing.T) {
	secret := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "tls", Namespace: "default", CreationTimestamp: ago(time.Minute)},
		Data: map[string][]byte{"crt": nil, "key": nil}, Type: "kubernetes.io/tls"}
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "conf", Namespace: "default", CreationTimestamp: ago(30 * time.Second)},
		Data: map[string]string{"a": "1"}}
	ev := &api.Event{ObjectMeta: api.ObjectMeta{Name: "e1", Namespace: "default"}, Type: "Warning", Reason: "BackOff",
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web-1"}, Message: "Back-off restarting\nfailed container",
		LastTimestamp: ago(10 * time.Second)}
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team", CreationTimestamp: ago(time.Hour)}}
	for _, tc := range []struct {
		kind *api.Kind
		obj  api.Object
		opts tableOptions
		want string
	}{
		{api.KindSecret, secret, tableOptions{withNamespace: true},
			"NAMESPACE   NAME   TYPE                DATA   AGE\n" +
				"default     tls    kubernetes.io/tls   2      60s\n"},
		{api.KindConfigMap, cm, tableOptions{},
			"NAME   DATA   AGE\n" +
				"conf   1      30s\n"},
		{api.KindEvent, ev, tableOptions{},
			"LAST SEEN   TYPE      REASON    OBJECT      MESSAGE\n" +
				"10s         Warning   BackOff   pod/web-1   Back-off restarting failed container\n"},
		{api.KindNamespace, ns, tableOptions{withNamespace: true},
			"NAME   STATUS   AGE\n" +
				"team   Active   60m\n"},
	} {
		var b bytes.Buffer
		if err := newTablePrinter(&b, tc.kind, tc.opts, fixedNow).print([]api.Object{tc.obj}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", tc.kind.Kind, b.String(), tc.want)
		}
	}
}

func TestErrorLines(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{nil, 0, ""},
		{api.NewNotFound(api.KindPod, "x"), 1, "Error from server (NotFound): pods \"x\" not found\n"},
		{fmt.Errorf("reading: %w", api.NewAlreadyExists(api.KindDeployment, "web")), 1,
			"Error from server (AlreadyExists): deployments \"web\" already exists\n"},
		{api.NewStatusError(500, "", "boom\nagain"), 1, "Error from server: boom again\n"},
		{&client.ConnectionError{Server: "http://h:1", Err: errors.New("refused")}, 1,
			"error: cannot reach the shoal agent at http://h:1: refused (is the agent running? start it with scripts/run)\n"},
		{&exitError{code: 42}, 42, ""},
		{fmt.Errorf("exec: %w", &exitError{code: 3}), 3, ""},
		{errorList{api.NewNotFound(api.KindPod, "a"), errors.New("b failed")}, 1,
			"Error from server (NotFound): pods \"a\" not found\nerror: b failed\n"},
	} {
		var b bytes.Buffer
		if code := reportError(&b, tc.err); code != tc.code || b.String() != tc.want {
			t.Errorf("reportError(%v) = %d %q, want %d %q", tc.err, code, b.String(), tc.code, tc.want)
		}
	}
}
