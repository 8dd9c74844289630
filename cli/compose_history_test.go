package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/compose"
	"github.com/shoal-dev/shoal/internal/poll"
)

const historyV1 = `
name: shop
services:
  db:
    image: img:db
    environment: {MODE: one}
  web:
    image: img:web1
    scale: 2
  cache:
    image: img:cache
`

// v2: web changed, cache removed, worker added; db as it was.
const historyV2 = `
name: shop
services:
  db:
    image: img:db
    environment: {MODE: one}
  web:
    image: img:web2
    scale: 2
  worker:
    image: img:worker
`

type historyRow struct {
	Revision    int      `json:"revision"`
	Status      string   `json:"status"`
	Changed     []string `json:"servicesChanged"`
	Description string   `json:"description"`
}

func historyRows(t *testing.T, srv *clienttest.Server) []historyRow {
	t.Helper()
	r := shoal(t, srv, "", "compose", "-p", "shop", "history", "-o", "json")
	expectOK(t, r)
	var rows []historyRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, r.stdout)
	}
	return rows
}

// Every up that changes the project records a revision of the whole
// project; an up that changes nothing records none; rollback returns every
// service to a revision with one apply and records "Rollback to N".
func TestComposeHistoryAndRollback(t *testing.T) {
	srv := clienttest.NewServer(t)
	dir := t.TempDir()
	f := writeCompose(t, dir, historyV1)
	r := shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "revision 1 recorded: Install complete") {
		t.Fatalf("first up recorded no revision:\n%s", r.stdout)
	}
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	if rows := historyRows(t, srv); len(rows) != 1 {
		t.Fatalf("an up that changed nothing recorded a revision: %+v", rows)
	}

	writeCompose(t, dir, historyV2)
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	rows := historyRows(t, srv)
	if len(rows) != 2 || rows[1].Revision != 2 || rows[1].Status != "deployed" || rows[0].Status != "superseded" ||
		strings.Join(rows[1].Changed, ",") != "web,+worker,-cache" || rows[1].Description != "Upgrade complete" {
		t.Fatalf("history after the second up: %+v", rows)
	}
	table := shoal(t, srv, "", "compose", "-p", "shop", "history")
	expectOK(t, table)
	for _, want := range []string{"REVISION", "SERVICES CHANGED", "web, +worker, -cache", "Install complete", "superseded"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, table.stdout)
		}
	}
	if m := shoal(t, srv, "", "compose", "-p", "shop", "history", "1"); m.code != 0 || !strings.Contains(m.stdout, "img:cache") || strings.Contains(m.stdout, "img:worker") {
		t.Fatalf("history 1 is not v1's model:\n%s%s", m.stdout, m.stderr)
	}
	dbGen := generation(t, srv, api.KindDeployment, "db")
	webGen := generation(t, srv, api.KindDeployment, "web")

	// The rollback needs no file: -p names the project.
	applies, before := len(applyRequests(srv)), len(srv.Requests())
	r = shoal(t, srv, "", "compose", "-p", "shop", "rollback", "-d")
	expectOK(t, r)
	if n := len(applyRequests(srv)) - applies; n != 1 {
		t.Errorf("rollback made %d apply requests, want 1", n)
	}
	// The services v1 did not have go in that same request (pruned), not
	// by deletes of their own.
	last := applyRequests(srv)[applies]
	if last.Query.Get("prune") != "com.docker.compose.project=shop" || len(last.Query["pruneResource"]) == 0 {
		t.Errorf("rollback's apply does not prune: %v", last.Query)
	}
	for _, req := range srv.Requests()[before:] {
		if req.Method == "DELETE" && strings.Contains(req.Path, "/deployments/") {
			t.Errorf("rollback deleted a workload on its own: %s", req.Path)
		}
	}
	web := srv.Object(api.KindDeployment, "shop", "web").(*api.Deployment)
	if img := web.Spec.Template.Spec.Containers[0].Image; img != "img:web1" {
		t.Errorf("web runs %s after rollback, want img:web1", img)
	}
	if srv.Object(api.KindDeployment, "shop", "cache") == nil {
		t.Errorf("cache, removed by v2, is not back")
	}
	if srv.Object(api.KindDeployment, "shop", "worker") != nil {
		t.Errorf("worker, added by v2, is still there:\n%s", r.stdout)
	}
	if g := generation(t, srv, api.KindDeployment, "db"); g != dbGen {
		t.Errorf("db generation %d -> %d: rollback rewrote an unchanged service", dbGen, g)
	}
	if g := generation(t, srv, api.KindDeployment, "web"); g != webGen+1 {
		t.Errorf("web generation %d -> %d, want one more", webGen, g)
	}
	for _, want := range []string{"deployment.apps/db unchanged", "deployment.apps/web configured", "deployment.apps/cache created",
		"deployment.apps/worker deleted (not in revision 1)", "revision 3 recorded: Rollback to 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rollback lacks %q:\n%s", want, r.stdout)
		}
	}
	rows = historyRows(t, srv)
	if len(rows) != 3 || rows[2].Description != "Rollback to 1" || strings.Join(rows[2].Changed, ",") != "+cache,web,-worker" {
		t.Fatalf("history after rollback: %+v", rows)
	}
	// The revisions are Secrets (encrypted at rest) and not objects of the
	// project: an up does not remove them as orphans.
	s, ok := srv.Object(api.KindSecret, "shop", "shop.v3").(*api.Secret)
	if !ok || s.Type != compose.SecretTypeRevision || s.Labels[compose.LabelProject] != "" {
		t.Fatalf("revision 3's secret: %+v", s)
	}

	// A rollback to the newest revision's state changes nothing; the
	// history keeps at most --history-max revisions.
	writeCompose(t, dir, historyV1)
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d", "--history-max", "2")
	expectOK(t, r)
	if rows := historyRows(t, srv); len(rows) != 3 {
		t.Fatalf("up of v1 after the rollback to v1 changed nothing, yet: %+v", rows)
	}
	r = shoal(t, srv, "", "compose", "-p", "shop", "rollback", "--to", "2", "-d", "--history-max", "2")
	expectOK(t, r)
	rows = historyRows(t, srv)
	if len(rows) != 2 || rows[0].Revision != 3 || rows[1].Revision != 4 {
		t.Fatalf("history-max 2 kept: %+v", rows)
	}

	// Bad input: a revision the project does not keep, none before the
	// first, an unknown project.
	if r := shoal(t, srv, "", "compose", "-p", "shop", "rollback", "--to", "1"); r.code == 0 || !strings.Contains(r.stderr, "no such revision 1: the project keeps revisions 3, 4") {
		t.Errorf("rollback to a pruned revision: %d %s", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "compose", "-p", "nope", "rollback"); r.code == 0 || !strings.Contains(r.stderr, "project nope is not on the cluster") {
		t.Errorf("rollback of an unknown project: %d %s", r.code, r.stderr)
	}
}

// A project with one revision has nothing to roll back to, and history
// of a project never recorded says so.
func TestComposeRollbackNeedsAnEarlierRevision(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), historyV1)
	if r := shoal(t, srv, "", "compose", "-p", "shop", "history"); r.code == 0 || !strings.Contains(r.stderr, "no recorded revision") {
		t.Errorf("history of no project: %d %s", r.code, r.stderr)
	}
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	before := len(srv.Requests())
	r := shoal(t, srv, "", "compose", "-p", "shop", "rollback")
	if r.code == 0 || !strings.Contains(r.stderr, "nothing before the newest") {
		t.Fatalf("rollback with one revision: %d %s", r.code, r.stderr)
	}
	for _, req := range srv.Requests()[before:] {
		if req.Method != "GET" {
			t.Errorf("a refused rollback wrote: %s %s", req.Method, req.Path)
		}
	}
}

// up SERVICE records the whole project: the named service's new objects
// and the others as the revision before had them.
func TestComposeHistoryOfAPartialUp(t *testing.T) {
	srv := clienttest.NewServer(t)
	dir := t.TempDir()
	f := writeCompose(t, dir, historyV1)
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	writeCompose(t, dir, strings.Replace(historyV1, "img:web1", "img:web2", 1))
	r := shoal(t, srv, "", "compose", "-f", f, "up", "-d", "web")
	expectOK(t, r)
	rows := historyRows(t, srv)
	if len(rows) != 2 || strings.Join(rows[1].Changed, ",") != "web" || rows[1].Description != "Upgrade complete (up web)" {
		t.Fatalf("history of up web: %+v", rows)
	}
	objs := shoal(t, srv, "", "compose", "-p", "shop", "history", "2", "--objects")
	expectOK(t, objs)
	for _, want := range []string{"img:web2", "img:db", "img:cache"} {
		if !strings.Contains(objs.stdout, want) {
			t.Errorf("revision 2 lacks %s: it is not the whole project:\n%s", want, objs.stdout)
		}
	}
}

// A revision whose one-shot service fails while up follows it is marked
// failed in the history.
func TestComposeHistoryMarksAFailedRevision(t *testing.T) {
	srv := clienttest.NewServer(t)
	f := writeCompose(t, t.TempDir(), "name: shop\nservices:\n  migrate:\n    image: img:m\n    restart: \"no\"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, "compose", "-f", f, "up") }()
	poll.True(t, 10*time.Second, "revision 1 recorded", func() (bool, string) {
		return strings.Contains(out.String(), "revision 1 recorded"), out.String()
	})
	srv.Update(api.KindJob, "shop", "migrate", func(o api.Object) {
		o.(*api.Job).Status.Conditions = []api.Condition{{Type: api.JobFailed, Status: api.ConditionTrue, Message: "Job has reached the specified backoff limit"}}
	})
	select {
	case code := <-done:
		if code == 0 {
			t.Fatalf("up of a failing one-shot service returned 0:\n%s", out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("up did not return after the job failed:\n%s", out.String())
	}
	if rows := historyRows(t, srv); len(rows) != 1 || rows[0].Status != "failed" {
		t.Fatalf("history after a failed up: %+v", rows)
	}
}
