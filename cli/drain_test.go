package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func ownedBy(p *api.Pod, kind, name string) *api.Pod {
	yes := true
	p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: name + "-uid", Controller: &yes}}
	return p
}

func withEmptyDir(p *api.Pod) *api.Pod {
	p.Spec.Volumes = []api.Volume{{Name: "cache", EmptyDir: &api.EmptyDirVolumeSource{}}}
	return p
}

// drainFixture: node h1 runs two ReplicaSet pods, a DaemonSet pod and a
// finished pod nobody owns; h2 runs a pod of its own.
func drainFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	done := boundPod("default", "job-x", "h1", "", "")
	done.Status.Phase = api.PodSucceeded
	agent := daemonSet("agent", 2, 2, 2, ago(time.Hour))
	agent.Namespace = "kube-system"
	srv.Add(node("h1", "10.213.0.11", api.ConditionTrue, "2", "8Gi", time.Hour),
		node("h2", "10.213.0.12", api.ConditionTrue, "2", "8Gi", time.Hour),
		agent,
		ownedBy(boundPod("default", "web-1", "h1", "", ""), "ReplicaSet", "web-5d8f7"),
		ownedBy(boundPod("default", "web-2", "h1", "", ""), "ReplicaSet", "web-5d8f7"),
		ownedBy(boundPod("kube-system", "agent-h1", "h1", "", ""), "DaemonSet", "agent"),
		ownedBy(boundPod("default", "web-3", "h2", "", ""), "ReplicaSet", "web-5d8f7"),
		done)
	return srv
}

func evictions(srv *clienttest.Server) []clienttest.Request {
	var out []clienttest.Request
	for _, q := range srv.Requests() {
		if q.Method == "POST" && strings.HasSuffix(q.Path, "/eviction") {
			out = append(out, q)
		}
	}
	return out
}

func TestDrainEvictsAndWaits(t *testing.T) {
	srv := drainFixture(t)
	srv.PodTermination = 300 * time.Millisecond
	start := time.Now()
	r := shoal(t, srv, "", "drain", "h1", "--ignore-daemonsets")
	expectOK(t, r)
	want := `node/h1 cordoned
evicting pod default/job-x
evicting pod default/web-1
evicting pod default/web-2
pod/job-x evicted
pod/web-1 evicted
pod/web-2 evicted
node/h1 drained
`
	if r.stdout != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "WARNING: ignoring DaemonSet-managed Pods: kube-system/agent-h1\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("drain returned before the pods were gone")
	}
	for _, name := range []string{"job-x", "web-1", "web-2"} {
		if srv.Object(api.KindPod, "default", name) != nil {
			t.Errorf("pod %s still there", name)
		}
	}
	if srv.Object(api.KindPod, "kube-system", "agent-h1") == nil || srv.Object(api.KindPod, "default", "web-3") == nil {
		t.Fatal("the DaemonSet's pod and the other node's pod must stay")
	}
	if !unschedulable(t, srv, "h1") || unschedulable(t, srv, "h2") {
		t.Fatal("only h1 is cordoned")
	}
	// Each eviction names the pod's uid, so that a new pod that took the
	// name is never deleted by mistake, and leaves the grace period to the
	// pod.
	evs := evictions(srv)
	if len(evs) != 3 {
		t.Fatalf("%d evictions, want 3", len(evs))
	}
	for _, q := range evs {
		var body api.Eviction
		if err := json.Unmarshal(q.Body, &body); err != nil || body.DeleteOptions == nil || body.DeleteOptions.Preconditions == nil ||
			body.DeleteOptions.Preconditions.UID == nil || *body.DeleteOptions.Preconditions.UID == "" || body.DeleteOptions.GracePeriodSeconds != nil {
			t.Errorf("POST %s %s", q.Path, q.Body)
		}
	}
}

func TestDrainRefusesAndDeletesNothing(t *testing.T) {
	srv := drainFixture(t)
	srv.Add(withEmptyDir(ownedBy(boundPod("default", "cache-1", "h1", "", ""), "ReplicaSet", "cache-77f")),
		boundPod("default", "solo", "h1", "", ""), boundPod("default", "solo-2", "h1", "", ""))
	r := shoal(t, srv, "", "drain", "h1")
	if r.code != 1 {
		t.Fatalf("exit status %d", r.code)
	}
	if r.stdout != "node/h1 cordoned\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	ds := "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): kube-system/agent-h1"
	local := "cannot delete Pods with local storage (use --delete-emptydir-data to override): default/cache-1"
	solo := "cannot delete Pods that declare no controller (use --force to override): default/solo, default/solo-2"
	want := `error: unable to drain node "h1" due to error: [` + ds + `, ` + local + `, ` + solo + `], continuing command...
There are pending nodes to be drained:
 h1
error: ` + ds + `
error: ` + local + `
error: ` + solo + `
`
	if r.stderr != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if len(evictions(srv)) != 0 {
		t.Fatal("a refused drain must evict nothing")
	}

	// One refusal left: kubectl's message without brackets.
	r = shoal(t, srv, "", "drain", "h1", "--ignore-daemonsets", "--delete-emptydir-data")
	if r.code != 1 || !strings.HasPrefix(r.stderr, `error: unable to drain node "h1" due to error: `+solo+", continuing command...\n") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	if r.stdout != "node/h1 already cordoned\n" || len(evictions(srv)) != 0 {
		t.Fatalf("stdout %q, %d evictions", r.stdout, len(evictions(srv)))
	}

	r = shoal(t, srv, "", "drain", "h1", "--ignore-daemonsets", "--delete-emptydir-data", "--force")
	expectOK(t, r)
	if r.stderr != "WARNING: ignoring DaemonSet-managed Pods: kube-system/agent-h1; deleting Pods with local storage: default/cache-1; "+
		"deleting Pods that declare no controller: default/solo, default/solo-2\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "evicting pod default/solo-2\n") || !strings.HasSuffix(r.stdout, "node/h1 drained\n") {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestDrainOrphanedDaemonSetPod(t *testing.T) {
	srv := drainFixture(t)
	srv.Remove(api.KindPod, "kube-system", "agent-h1")
	srv.Add(ownedBy(boundPod("default", "orphan", "h1", "", ""), "DaemonSet", "gone"))
	r := shoal(t, srv, "", "drain", "h1", "--ignore-daemonsets")
	if r.code != 1 || !strings.HasSuffix(r.stderr, "\nerror: cannot delete daemonsets \"gone\" not found: default/orphan\n") {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	// No DaemonSet brings it back: --force deletes it, with a warning.
	r = shoal(t, srv, "", "drain", "h1", "--force")
	expectOK(t, r)
	if r.stderr != "WARNING: daemonsets \"gone\" not found: default/orphan\n" || srv.Object(api.KindPod, "default", "orphan") != nil {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestDrainTimeout(t *testing.T) {
	srv := drainFixture(t)
	srv.PodTermination = time.Hour
	start := time.Now()
	r := shoal(t, srv, "", "drain", "h1", "--ignore-daemonsets", "--timeout", "300ms")
	if r.code != 1 {
		t.Fatalf("exit status %d", r.code)
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("gave up after %v", elapsed)
	}
	// The finished job-x has no container to stop: it went at once.
	want := `There are pending pods in node "h1" when an error occurred: drain did not complete within 300ms
pod/web-1
pod/web-2
error: unable to drain node "h1" due to error: drain did not complete within 300ms, continuing command...
There are pending nodes to be drained:
 h1
error: drain did not complete within 300ms
`
	if got := strings.TrimPrefix(r.stderr, "WARNING: ignoring DaemonSet-managed Pods: kube-system/agent-h1\n"); got != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if strings.Contains(r.stdout, "drained") || strings.Contains(r.stdout, "web-1 evicted") || strings.Contains(r.stdout, "web-2 evicted") {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestDrainGracePeriodAndErrors(t *testing.T) {
	srv := drainFixture(t)
	srv.PodTermination = time.Hour // a grace period of 0 removes at once
	r := shoal(t, srv, "", "drain", "h1", "--ignore-daemonsets", "--grace-period", "0")
	expectOK(t, r)
	evs := evictions(srv)
	if len(evs) == 0 {
		t.Fatal("no eviction")
	}
	for _, q := range evs {
		var body api.Eviction
		if err := json.Unmarshal(q.Body, &body); err != nil || body.DeleteOptions == nil ||
			body.DeleteOptions.GracePeriodSeconds == nil || *body.DeleteOptions.GracePeriodSeconds != 0 {
			t.Errorf("POST %s %s", q.Path, q.Body)
		}
	}

	r = shoal(t, srv, "", "drain", "h2", "nope")
	if r.code != 1 || r.stderr != "Error from server (NotFound): nodes \"nope\" not found\n" || r.stdout != "" {
		t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if unschedulable(t, srv, "h2") {
		t.Fatal("a mistyped node must leave the others alone")
	}
	for _, args := range [][]string{{"drain"}, {"drain", "h2", "--timeout", "-1s"}} {
		if r := shoal(t, srv, "", args...); r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("%v: %d %q", args, r.code, r.stderr)
		}
	}
}
