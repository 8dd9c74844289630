package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/internal/poll"
)

func podFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	crash := waiting("web-2", "CrashLoopBackOff", ago(52*time.Hour), 4)
	crash.Status.ContainerStatuses[0].LastState.Terminated = &api.ContainerStateTerminated{ExitCode: 1,
		Reason: "Error", FinishedAt: ago(30 * time.Second)}
	done := running("job-x", "default", ago(3*time.Hour))
	done.Status.Phase = api.PodSucceeded
	done.Status.Conditions = nil
	done.Status.ContainerStatuses[0] = api.ContainerStatus{Name: "app",
		State: api.ContainerState{Terminated: &api.ContainerStateTerminated{Reason: "Completed"}}}
	srv.Add(running("web-1", "default", ago(5*time.Minute)), crash, done,
		waiting("db-0", "ContainerCreating", ago(45*time.Second), 0),
		running("elsewhere", "team", ago(time.Minute)))
	return srv
}

func TestGetPodsTable(t *testing.T) {
	r := shoal(t, podFixture(t), "", "get", "pods")
	expectOK(t, r)
	want := `NAME    READY   STATUS              RESTARTS      AGE
db-0    0/1     ContainerCreating   0             45s
job-x   0/1     Completed           0             3h
web-1   1/1     Running             0             5m
web-2   0/1     CrashLoopBackOff    4 (30s ago)   2d4h
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "" {
		t.Fatalf("stderr: %q", r.stderr)
	}
}

func TestGetAllNamespacesWide(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("a", "default", ago(10*time.Minute)), running("b", "team", ago(10*time.Minute)))
	r := shoal(t, srv, "", "get", "po", "-A", "-o", "wide")
	expectOK(t, r)
	want := `NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE   IP           NODE
default     a      1/1     Running   0          10m   10.244.1.5   <none>
team        b      1/1     Running   0          10m   10.244.1.5   <none>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if q := srv.Requests()[0]; q.Path != "/api/v1/pods" {
		t.Fatalf("-A listed %s", q.Path)
	}
}

func TestGetDeploymentsTable(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 3, 2, 3, 2, ago(90*time.Second)), deployment("api", 1, 0, 0, 0, ago(7*24*time.Hour)))
	r := shoal(t, srv, "", "get", "deploy")
	expectOK(t, r)
	want := `NAME   READY   UP-TO-DATE   AVAILABLE   AGE
api    0/1     0            0           7d
web    2/3     3            2           90s
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestGetShowLabelsAndSelector(t *testing.T) {
	srv := podFixture(t)
	r := shoal(t, srv, "", "get", "pods", "web-1", "--show-labels")
	expectOK(t, r)
	if !strings.HasSuffix(strings.Split(r.stdout, "\n")[0], "   LABELS") || !strings.Contains(r.stdout, "app=web") {
		t.Fatalf("no LABELS column:\n%s", r.stdout)
	}
	shoal(t, srv, "", "get", "pods", "-l", "app=web,tier!=db")
	reqs := srv.Requests()
	if got := reqs[len(reqs)-1].Query.Get("labelSelector"); got != "app=web,tier!=db" {
		t.Fatalf("labelSelector sent: %q", got)
	}
}

func TestGetJSONListAndObject(t *testing.T) {
	srv := podFixture(t)
	r := shoal(t, srv, "", "get", "pods", "-o", "json")
	expectOK(t, r)
	var list struct {
		Kind, APIVersion string
		Metadata         struct{ ResourceVersion string }
		Items            []map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 4 || list.Metadata.ResourceVersion == "" {
		t.Fatalf("list = %s %s %d items rv %q", list.Kind, list.APIVersion, len(list.Items), list.Metadata.ResourceVersion)
	}
	if list.Items[0]["kind"] != "Pod" || list.Items[0]["apiVersion"] != "v1" {
		t.Fatalf("items lack kind/apiVersion: %v", list.Items[0]["kind"])
	}

	r = shoal(t, srv, "", "get", "pod/web-1", "-o", "json")
	expectOK(t, r)
	var obj api.Pod
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil || obj.Kind != "Pod" || obj.Name != "web-1" {
		t.Fatalf("one object: %v %s/%s", err, obj.Kind, obj.Name)
	}

	r = shoal(t, srv, "", "get", "pods", "web-1", "web-2", "-o", "yaml")
	expectOK(t, r)
	var generic map[string]any
	if err := yaml.Unmarshal([]byte(r.stdout), &generic); err != nil || generic["kind"] != "List" {
		t.Fatalf("two names make a List: %v %v", err, generic["kind"])
	}
	if !strings.HasPrefix(r.stdout, "apiVersion: v1\nitems:\n") {
		t.Fatalf("yaml keys are not sorted as kubectl prints them:\n%s", r.stdout[:40])
	}
}

func TestGetName(t *testing.T) {
	srv := podFixture(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	r := shoal(t, srv, "", "get", "pods", "-o", "name")
	expectOK(t, r)
	if r.stdout != "pod/db-0\npod/job-x\npod/web-1\npod/web-2\n" {
		t.Fatalf("got %q", r.stdout)
	}
	r = shoal(t, srv, "", "get", "deployments.apps", "-o", "name")
	if r.stdout != "deployment.apps/web\n" {
		t.Fatalf("got %q", r.stdout)
	}
}

func TestGetEmptyList(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "get", "pods")
	expectOK(t, r)
	if r.stdout != "" || r.stderr != "No resources found in default namespace.\n" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = shoal(t, srv, "", "get", "pods", "-A")
	if r.stderr != "No resources found\n" {
		t.Fatalf("-A: stderr %q", r.stderr)
	}
	r = shoal(t, srv, "", "-n", "team", "get", "cm")
	if r.stderr != "No resources found in team namespace.\n" {
		t.Fatalf("-n team: stderr %q", r.stderr)
	}
}

func TestGetMissingNameIsAnError(t *testing.T) {
	srv := podFixture(t)
	r := shoal(t, srv, "", "get", "pods", "web-1", "nope", "gone")
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1", r.code)
	}
	if !strings.HasPrefix(r.stdout, "NAME ") || !strings.Contains(r.stdout, "web-1") {
		t.Fatalf("the found pod must still be printed:\n%s", r.stdout)
	}
	want := "Error from server (NotFound): pods \"nope\" not found\nError from server (NotFound): pods \"gone\" not found\n"
	if r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
}

func TestGetUnknownKind(t *testing.T) {
	r := shoal(t, clienttest.NewServer(t), "", "get", "widgets")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: the server doesn't have a resource type \"widgets\"\n") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
}

func TestGetAll(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(deployment("web", 1, 1, 1, 1, ago(time.Hour)), running("web-1", "default", ago(time.Hour)),
		&api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-5d8f7", Namespace: "default", CreationTimestamp: ago(time.Hour)},
			Spec: api.ReplicaSetSpec{Replicas: api.Int32(1), Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "nginx"}}}}},
			Status: api.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1}})
	r := shoal(t, srv, "", "get", "all")
	expectOK(t, r)
	want := `NAME        READY   STATUS    RESTARTS   AGE
pod/web-1   1/1     Running   0          60m

NAME                  READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/web   1/1     1            1           60m

NAME                        DESIRED   CURRENT   READY   AGE
replicaset.apps/web-5d8f7   1         1         1       60m
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestGetWatchPrintsChanges(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Minute)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "get", "pods", "-w") }()
	poll.Cond(t, 5*time.Second, "condition", func() bool { return srv.Watchers() == 1 })
	// A pod appears, then its node reports its status: two changes.
	p := waiting("web-2", "ContainerCreating", ago(0), 0)
	status := p.Status
	p.Status = api.PodStatus{}
	srv.Add(p)
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Count(out.String(), "\n") == 3 })
	srv.Update(api.KindPod, "default", "web-2", func(o api.Object) { o.(*api.Pod).Status = status })
	poll.Cond(t, 5*time.Second, "condition", func() bool { return strings.Count(out.String(), "\n") == 4 })
	cancel()
	if code := <-done; code != 130 {
		t.Fatalf("an interrupted watch exits 130, got %d (stderr %q)", code, errOut.String())
	}
	// Rows keep the widths printed before; a wider cell pushes only its own row.
	want := `NAME    READY   STATUS    RESTARTS   AGE
web-1   1/1     Running   0          60s
web-2   0/1     Pending   0          0s
web-2   0/1     ContainerCreating   0          0s
`
	if got := out.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestGetHidesManagedFieldsUnlessAsked(t *testing.T) {
	srv := clienttest.NewServer(t)
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default",
		ManagedFields: []api.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Apply", APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: &api.FieldsV1{Raw: []byte(`{"f:data":{"f:a":{}}}`)}}}},
		Data: map[string]string{"a": "1"}}
	srv.Add(cm)
	r := shoal(t, srv, "", "get", "configmap", "c", "-o", "yaml")
	expectOK(t, r)
	if strings.Contains(r.stdout, "managedFields") {
		t.Fatalf("-o yaml shows managedFields:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "get", "configmap", "c", "-o", "yaml", "--show-managed-fields")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "manager: kubectl") || !strings.Contains(r.stdout, "f:a: {}") {
		t.Fatalf("--show-managed-fields lacks the entry:\n%s", r.stdout)
	}
}
