package cli

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/api/printers"
)

func unschedulable(t *testing.T, srv *clienttest.Server, name string) bool {
	t.Helper()
	n, ok := srv.Object(api.KindNode, "", name).(*api.Node)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	return n.Spec.Unschedulable
}

// nodeWrites counts the PUTs of nodes since request number from.
func nodeWrites(srv *clienttest.Server, from int) (n int) {
	for _, q := range srv.Requests()[from:] {
		if q.Method == "PUT" && strings.HasPrefix(q.Path, "/api/v1/nodes/") {
			n++
		}
	}
	return n
}

func TestCordonAndUncordon(t *testing.T) {
	srv := nodeFixture(t)
	r := shoal(t, srv, "", "cordon", "h1", "h2")
	expectOK(t, r)
	if r.stdout != "node/h1 cordoned\nnode/h2 already cordoned\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if !unschedulable(t, srv, "h1") || nodeWrites(srv, 0) != 1 {
		t.Fatalf("h1 unschedulable %v after %d writes, want one write", unschedulable(t, srv, "h1"), nodeWrites(srv, 0))
	}
	// The write is a read-modify-write of the whole node: the status the
	// agent wrote and the labels stay.
	n := srv.Object(api.KindNode, "", "h1").(*api.Node)
	if printers.NodeInternalIP(n) != "10.213.0.11" || n.Labels["node-role.kubernetes.io/control-plane"] != "" ||
		len(n.Labels) != 2 {
		t.Fatalf("node lost fields: %+v", n)
	}
	var put clienttest.Request
	for _, q := range srv.Requests() {
		if q.Method == "PUT" {
			put = q
		}
	}
	if !strings.Contains(string(put.Body), `"resourceVersion"`) {
		t.Fatalf("the update must carry the version it was read at: %s", put.Body)
	}

	before := len(srv.Requests())
	r = shoal(t, srv, "", "uncordon", "h2", "h3")
	expectOK(t, r)
	if r.stdout != "node/h2 uncordoned\nnode/h3 already uncordoned\n" || unschedulable(t, srv, "h2") || nodeWrites(srv, before) != 1 {
		t.Fatalf("stdout %q, h2 unschedulable %v", r.stdout, unschedulable(t, srv, "h2"))
	}

	r = shoal(t, srv, "", "get", "node", "h1")
	if !strings.Contains(r.stdout, "Ready,SchedulingDisabled") {
		t.Fatalf("a cordoned node's status:\n%s", r.stdout)
	}
}

func TestCordonErrors(t *testing.T) {
	srv := nodeFixture(t)
	r := shoal(t, srv, "", "cordon", "nope", "h3")
	if r.code != 1 || r.stderr != "Error from server (NotFound): nodes \"nope\" not found\n" {
		t.Fatalf("code %d stderr %q", r.code, r.stderr)
	}
	if r.stdout != "node/h3 cordoned\n" || !unschedulable(t, srv, "h3") {
		t.Fatalf("the other node must still be cordoned: %q", r.stdout)
	}
	for _, verb := range []string{"cordon", "uncordon"} {
		r := shoal(t, srv, "", verb)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: name the nodes, such as 'shoal "+verb+" h2'\n") {
			t.Errorf("%s without a node: %d %q", verb, r.code, r.stderr)
		}
	}
}
