package daemon

import (
	"testing"

	"github.com/spf13/pflag"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels("zone=a, disk=ssd,empty=")
	if err != nil || got["zone"] != "a" || got["disk"] != "ssd" || got["empty"] != "" || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseLabels("novalue"); err == nil {
		t.Fatal("a label without '=' was accepted")
	}
}

func TestEnvironmentFillsFlagsNotGiven(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	dir := fs.String("data-dir", "/var/lib/shoal", "")
	addr := fs.String("api-addr", "0.0.0.0:7480", "")
	if err := fs.Parse([]string{"--api-addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOAL_DATA_DIR", "/srv/shoal")
	t.Setenv("SHOAL_API_ADDR", "10.0.0.1:9")
	if err := envDefaults(fs); err != nil {
		t.Fatal(err)
	}
	if *dir != "/srv/shoal" || *addr != "127.0.0.1:1" {
		t.Fatalf("data-dir %q api-addr %q: the environment must fill only flags not given", *dir, *addr)
	}
}

func TestConfigValidation(t *testing.T) {
	c := DefaultConfig()
	c.Name = "Bad_Name"
	if err := c.validate(); err == nil {
		t.Fatal("an invalid node name was accepted")
	}
	c.Name = "node-1"
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
}
