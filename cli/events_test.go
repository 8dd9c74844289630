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

func event(name, ns, typ, reason, kind, obj, msg string, last time.Duration) *api.Event {
	return &api.Event{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: api.ObjectReference{Kind: kind, Name: obj, Namespace: ns},
		Type:           typ, Reason: reason, Message: msg, Count: 1,
		FirstTimestamp: ago(last), LastTimestamp: ago(last)}
}

func TestEvents(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(namespace("team"),
		event("e1", "default", api.EventNormal, "Scheduled", "Pod", "web-1", "Successfully assigned default/web-1 to h1", 5*time.Minute),
		event("e2", "default", api.EventWarning, "BackOff", "Pod", "web-2", "Back-off restarting failed container", time.Minute),
		event("e3", "default", api.EventNormal, "ScalingReplicaSet", "Deployment", "web", "Scaled up replica set web-1 to 2", 10*time.Minute),
		event("e4", "team", api.EventNormal, "Pulled", "Pod", "api-1", "Container image pulled", 2*time.Minute))

	r := shoal(t, srv, "", "events")
	expectOK(t, r)
	want := `LAST SEEN   TYPE      REASON              OBJECT           MESSAGE
10m         Normal    ScalingReplicaSet   deployment/web   Scaled up replica set web-1 to 2
5m          Normal    Scheduled           pod/web-1        Successfully assigned default/web-1 to h1
60s         Warning   BackOff             pod/web-2        Back-off restarting failed container
`
	if r.stdout != want {
		t.Fatalf("events:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = shoal(t, srv, "", "events", "--for", "pod/web-1")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "Scheduled") || strings.Contains(r.stdout, "BackOff") {
		t.Fatalf("--for pod/web-1:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "events", "-A", "--types", "warning")
	expectOK(t, r)
	if !strings.HasPrefix(r.stdout, "NAMESPACE") || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "BackOff") {
		t.Fatalf("-A --types warning:\n%s", r.stdout)
	}
	r = shoal(t, srv, "", "events", "-n", "team", "-o", "yaml")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "kind: EventList") || !strings.Contains(r.stdout, "reason: Pulled") {
		t.Fatalf("-o yaml:\n%s", r.stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "--types", "Error"}, `--types "Error" is not an event type: use Normal or Warning`},
		{[]string{"events", "--for", "widget/x"}, `--for: the server doesn't have a resource type "widget"`},
		{[]string{"events", "-o", "wide"}, `--output "wide" is not supported`},
		{[]string{"events", "pods"}, "unknown command"},
	} {
		if r := shoal(t, srv, "", c.args...); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

func TestEventsWatch(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(event("e1", "default", api.EventNormal, "Scheduled", "Pod", "web-1", "assigned", time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "events", "-w") }()
	waitFor := func(text string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), text) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in:\n%s\nstderr: %s", text, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("Scheduled")
	srv.Add(event("e2", "default", api.EventWarning, "Unhealthy", "Pod", "web-1", "Readiness probe failed", 0))
	waitFor("Readiness probe failed")
	// The agent expires the watch: the stream resumes from now, printing
	// nothing twice.
	poll.Cond(t, 5*time.Second, "a watch", func() bool { return srv.Watchers() > 0 })
	srv.SendWatchError(api.KindEvent, api.NewGone("too old resource version").ErrStatus)
	poll.Cond(t, 5*time.Second, "the watch to end", func() bool { return srv.Watchers() == 0 })
	poll.Cond(t, 5*time.Second, "a new watch", func() bool { return srv.Watchers() > 0 })
	srv.Add(event("e3", "default", api.EventNormal, "Started", "Pod", "web-1", "Started container app", 0))
	waitFor("Started container app")
	if n := strings.Count(out.String(), "Readiness probe failed"); n != 1 {
		t.Fatalf("an event printed %d times after the watch expired:\n%s", n, out.String())
	}
	cancel()
	if code := <-done; code != 130 {
		t.Fatalf("interrupted watch exit %d", code)
	}
}
