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
	want := `NAME   ADDRESS            STATUS    LEADER   AGE         API                       VERSION
h1     10.213.0.11:7481   alive     *        26h         http://10.213.0.11:7480   v0.1.0
h2     10.213.0.12:7481   alive              3h          http://10.213.0.12:7480   v0.1.0
h3     10.213.0.13:7481   suspect            4s          http://10.213.0.13:7480   v0.1.0
h4     10.213.0.14:7481   left               10m         http://10.213.0.14:7480   v0.1.0
h5     <none>             dead               <unknown>   <none>                    <unknown>
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
	if r := shoal(t, srv, "", "--token", "", "members"); r.code != 1 ||
		!strings.HasPrefix(r.stderr, "Error from server (Unauthorized): Unauthorized: this API needs a bearer token") {
		t.Fatalf("unauthorized: %d %q", r.code, r.stderr)
	}
}
