package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

func TestWait(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)), waiting("web-2", "ContainerCreating", ago(time.Minute), 0))

	r := shoal(t, srv, "", "wait", "--for=condition=Ready", "pod/web-1")
	expectOK(t, r)
	if r.stdout != "pod/web-1 condition met\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	expectOK(t, shoal(t, srv, "", "wait", "--for=jsonpath={.status.phase}=Running", "pods", "web-1"))
	expectOK(t, shoal(t, srv, "", "wait", "--for=jsonpath={.status.podIP}", "pod/web-1"))

	// web-2 turns Ready a moment later: wait follows it.
	go func() {
		time.Sleep(300 * time.Millisecond)
		srv.Update(api.KindPod, "default", "web-2", func(o api.Object) {
			o.(*api.Pod).Status = running("web-2", "default", ago(time.Minute)).Status
		})
	}()
	start := time.Now()
	r = shoal(t, srv, "", "wait", "--for=condition=Ready", "pod/web-2", "--timeout=10s")
	expectOK(t, r)
	if r.stdout != "pod/web-2 condition met\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	// Not a terminal: the progress is plain lines on stderr.
	if !strings.Contains(r.stderr, "waiting for pod/web-2: condition Ready (now no condition Ready)") {
		t.Fatalf("no progress line, stderr %q", r.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("wait took %s after the change", d)
	}

	// --for=delete on a selector.
	go func() {
		time.Sleep(300 * time.Millisecond)
		srv.Remove(api.KindPod, "default", "web-1")
	}()
	r = shoal(t, srv, "", "wait", "--for=delete", "pods", "-l", "app=web", "--timeout=2s")
	if r.code != 1 || !strings.Contains(r.stderr, "timed out waiting for the condition on pods/web-2") {
		t.Fatalf("delete of web-1 and web-2 (web-2 stays): %d %q %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "pod/web-1 condition met") {
		t.Fatalf("web-1 went but was not reported: %q", r.stdout)
	}
	expectOK(t, shoal(t, srv, "", "wait", "--for=delete", "pod/gone"))

	// --timeout=0 checks once.
	r = shoal(t, srv, "", "wait", "--for=condition=Ready=False", "pod/web-2", "--timeout=0")
	if r.code != 1 || !strings.Contains(r.stderr, "timed out waiting for the condition on pods/web-2") {
		t.Fatalf("--timeout=0: %d %q", r.code, r.stderr)
	}
}

func TestWaitRefusals(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(running("web-1", "default", ago(time.Hour)))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"wait", "pod/web-1"}, "--for is required"},
		{[]string{"wait", "pod/web-1", "--for=ready"}, `--for "ready" is not known: use delete, create, condition=NAME[=VALUE]`},
		{[]string{"wait", "pod/web-1", "--for=condition="}, "needs the condition's type, such as condition=Ready"},
		{[]string{"wait", "pod/web-1", "--for=jsonpath={.status.phase"}, "--for jsonpath="},
		{[]string{"wait", "pod/web-1", "--for=jsonpath={.status.phase}Running"}, "write the value after '='"},
		{[]string{"wait", "pods", "--for=delete"}, "name the pods to wait for (such as pod/NAME), or choose them with --selector or --all"},
		{[]string{"wait", "pods", "-l", "app=none", "--for=delete"}, "no matching resources found"},
	} {
		r := shoal(t, srv, "", c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
