package compose

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// Every key compose-go reads for a service has a decision; a new field of a
// newer compose-go fails here until someone decides what it maps to.
func TestEveryServiceKeyHasADecision(t *testing.T) {
	paths := ServiceKeyPaths()
	if len(paths) < 150 {
		t.Fatalf("walked only %d keys of types.ServiceConfig: the walk is broken", len(paths))
	}
	seen := map[string]bool{}
	for _, p := range paths {
		seen[p] = true
		if _, ok := ServiceKeys[p]; !ok {
			t.Errorf("compose key %q (types.ServiceConfig) has no decision in ServiceKeys: map it, or warn or refuse with a reason", p)
		}
	}
	for k, r := range ServiceKeys {
		if !seen[k] {
			t.Errorf("ServiceKeys has %q, which types.ServiceConfig does not have (or it lies under a key decided whole)", k)
		}
		if strings.TrimSpace(r.How) == "" {
			t.Errorf("ServiceKeys[%q] says nothing of how or why", k)
		}
	}
}

// The walk itself finds a field added below a known struct: a fake
// service type with one extra field yields one extra path.
func TestKeyPathsSeesNestedFields(t *testing.T) {
	type extra struct {
		types.ServiceConfig `yaml:",inline"`
		Brand               struct {
			New string `yaml:"new"`
		} `yaml:"brand"`
	}
	var out []string
	keyPaths(reflect.TypeOf(extra{}), "", func(string) bool { return false }, &out)
	found := 0
	for _, p := range out {
		if p == "brand" || p == "brand.new" || p == "deploy.resources.limits.cpus" {
			found++
		}
	}
	if found != 3 {
		t.Fatalf("keyPaths missed nested or inline fields: found %d of 3 in %v", found, out)
	}
}

// A warned key set on a service is reported with the service and the key;
// an unset one is not.
func TestUnhonouredKeysAreReported(t *testing.T) {
	zero := types.ServiceConfig{Name: "web"}
	unhonoured(&zero, func(key string, _ KeyRule) { t.Errorf("unset key %q reported", key) })

	s := types.ServiceConfig{Name: "web"}
	s.Ulimits = map[string]*types.UlimitsConfig{"nofile": {Soft: 1, Hard: 2}}
	s.Devices = []types.DeviceMapping{{Source: "/dev/fuse"}}
	s.Deploy = &types.DeployConfig{Placement: types.Placement{MaxReplicas: 2}}
	got := map[string]Decision{}
	unhonoured(&s, func(key string, r KeyRule) { got[key] = r.Decision })
	want := map[string]Decision{"ulimits": Warned, "devices": Refused}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
}

// docs/compose.md lists every service key with its decision.
func TestDocsListEveryServiceKey(t *testing.T) {
	b, err := os.ReadFile("../docs/compose.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, p := range ServiceKeyPaths() {
		row := "| `" + p + "` | " + ServiceKeys[p].Decision.String() + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/compose.md has no row %q", row)
		}
	}
}
