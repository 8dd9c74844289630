package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// membersFixture: h2 answers and follows h1; h3 is suspect, h4 left and h5
// is dead with no address or version known. The list comes unsorted.
func membersFixture(t *testing.T) *clienttest.Server {
	srv := clienttest.NewServer(t)
	member := func(name, state string, since time.Duration) api.Member {
		i := name[1:]
		return api.Member{Name: name, Address: "10.213.0.1" + i + ":7481", APIAddress: "http://10.213.0.1" + i + ":7480",
			State: state, Since: ago(since), Version: "v0.1.0"}
	}
	srv.SetMembers("h2", "h1",
		member("h3", api.MemberSuspect, 4*time.Second),
		member("h1", api.MemberAlive, 26*time.Hour),
		api.Member{Name: "h5", State: api.MemberDead},
		member("h2", api.MemberAlive, 3*time.Hour),
		member("h4", api.MemberLeft, 10*time.Minute))
	return srv
}

func TestMembersTable(t *testing.T) {
	srv := membersFixture(t)
	r := shoal(t, srv, "", "members")
	expectOK(t, r)
	want := `NAME   ADDRESS            STATUS    LEADER   AGE
h1     10.213.0.11:7481   alive     *        26h
h2     10.213.0.12:7481   alive              3h
h3     10.213.0.13:7481   suspect            4s
h4     10.213.0.14:7481   left               10m
h5     <none>             dead               <unknown>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if q := srv.Requests(); len(q) != 1 || q[0].Path != "/shoal/v1/members" {
		t.Fatalf("requests %+v", q)
	}
}

func TestMembersWide(t *testing.T) {
	r := shoal(t, membersFixture(t), "", "members", "-o", "wide")
	expectOK(t, r)
	want := `NAME   ADDRESS            STATUS    LEADER   AGE         API                       VERSION     CLOCK
h1     10.213.0.11:7481   alive     *        26h         http://10.213.0.11:7480   v0.1.0      <unknown>
h2     10.213.0.12:7481   alive              3h          http://10.213.0.12:7480   v0.1.0      (reference)
h3     10.213.0.13:7481   suspect            4s          http://10.213.0.13:7480   v0.1.0      <unknown>
h4     10.213.0.14:7481   left               10m         http://10.213.0.14:7480   v0.1.0      <unknown>
h5     <none>             dead               <unknown>   <none>                    <unknown>   <unknown>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestMembersDocuments(t *testing.T) {
	srv := membersFixture(t)
	r := shoal(t, srv, "", "members", "-o", "json")
	expectOK(t, r)
	var l api.MemberList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	var names []string
	for _, m := range l.Items {
		names = append(names, m.Name)
	}
	if l.Kind != "MemberList" || l.APIVersion != "shoal/v1" || l.Self != "h2" || l.Leader != "h1" ||
		strings.Join(names, ",") != "h1,h2,h3,h4,h5" || l.Items[2].State != api.MemberSuspect {
		t.Fatalf("list %+v", l)
	}
	r = shoal(t, srv, "", "members", "-o", "yaml")
	expectOK(t, r)
	var y map[string]any
	if err := yaml.Unmarshal([]byte(r.stdout), &y); err != nil || y["leader"] != "h1" || y["self"] != "h2" {
		t.Fatalf("yaml: %v %v\n%s", err, y, r.stdout)
	}
}

func TestMembersErrors(t *testing.T) {
	srv := clienttest.NewServer(t)
	r := shoal(t, srv, "", "members", "-o", "name")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: unable to match a printer suitable for the output format \"name\", allowed formats are: json,wide,yaml\n") {
		t.Fatalf("-o name: %d %q", r.code, r.stderr)
	}
	if r := shoal(t, srv, "", "members", "h1"); r.code != 1 || len(srv.Requests()) != 0 {
		t.Fatalf("an argument: %d %q", r.code, r.stderr)
	}
	r = shoal(t, srv, "", "members")
	expectOK(t, r)
	if r.stdout != "" || r.stderr != "No resources found\n" {
		t.Fatalf("no members: %q %q", r.stdout, r.stderr)
	}
	srv.Token = "t0k"
	if r := shoal(t, srv, "", "members"); r.code != 1 || r.stderr != "Error from server (Unauthorized): Unauthorized\n" {
		t.Fatalf("unauthorized: %d %q", r.code, r.stderr)
	}
}

// -o wide shows each member's clock as the answering agent measured it;
// a skewed member, or one whose writes were refused for their future
// stamps, is named in a warning whatever the format of the table.
func TestMembersClock(t *testing.T) {
	srv := clienttest.NewServer(t)
	since := ago(26 * time.Hour)
	srv.SetMembers("h1", "h1",
		api.Member{Name: "h1", Address: "10.213.0.11:7481", State: api.MemberAlive, Since: since, Version: "v1"},
		api.Member{Name: "h2", Address: "10.213.0.12:7481", State: api.MemberAlive, Since: since, Version: "v1",
			Clock: &api.MemberClock{Offset: "1.2ms", Uncertainty: "300µs"}},
		api.Member{Name: "h3", Address: "10.213.0.13:7481", State: api.MemberAlive, Since: since, Version: "v1",
			Clock: &api.MemberClock{Offset: "5m0.0012s", Uncertainty: "400µs", Skewed: true}, FutureWritesRefused: 7},
		api.Member{Name: "h4", Address: "10.213.0.14:7481", State: api.MemberAlive, Since: since, Version: "v1",
			Clock: &api.MemberClock{Offset: "-2ms", Uncertainty: "100µs"}, FutureWritesRefused: 2,
			LastFutureWriteRefused: api.NewTime(time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC))},
		api.Member{Name: "h5", State: api.MemberDead})
	r := shoal(t, srv, "", "members", "-o", "wide")
	expectOK(t, r)
	want := `NAME   ADDRESS            STATUS   LEADER   AGE         API      VERSION     CLOCK
h1     10.213.0.11:7481   alive    *        26h         <none>   v1          (reference)
h2     10.213.0.12:7481   alive             26h         <none>   v1          +1.2ms±300µs
h3     10.213.0.13:7481   alive             26h         <none>   v1          +5m0.0012s±400µs SKEWED
h4     10.213.0.14:7481   alive             26h         <none>   v1          -2ms±100µs
h5     <none>             dead              <unknown>   <none>   <unknown>   <unknown>
`
	if r.stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	wantErr := "warning: the clock of h3 is 5m0.0012s off h1's (more than the maximum clock offset): writes stamped beyond it are refused; check NTP on both hosts\n" +
		"warning: h1 refused 2 writes of h4 stamped beyond its clock plus the maximum clock offset (last 2026-12-02T07:00:00Z); check NTP on both hosts\n"
	if r.stderr != wantErr {
		t.Fatalf("stderr:\n%s\nwant:\n%s", r.stderr, wantErr)
	}
	// The plain table warns too; JSON carries the readings.
	if r := shoal(t, srv, "", "members"); !strings.Contains(r.stderr, "the clock of h3") {
		t.Fatalf("plain table without the warning: %q", r.stderr)
	}
	r = shoal(t, srv, "", "members", "-o", "json")
	var l api.MemberList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || l.Items[2].Clock == nil || !l.Items[2].Clock.Skewed || l.Items[2].FutureWritesRefused != 7 {
		t.Fatalf("json: %v %+v", err, l.Items)
	}
}
