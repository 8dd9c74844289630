package podnet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// fakeIptables records what HostPorts asks of iptables; every check (-C)
// fails, so every fixed rule is appended.
type fakeIptables struct {
	restores []string
	appended []string
}

func (f *fakeIptables) exec(_ context.Context, stdin string, args ...string) (string, error) {
	switch {
	case args[0] == "iptables-restore":
		f.restores = append(f.restores, stdin)
	case len(args) > 5 && args[5] == "-C":
		return "", errFakeMissing
	case len(args) > 5 && args[5] == "-A":
		f.appended = append(f.appended, strings.Join(args[6:], " "))
	}
	return "", nil
}

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

const errFakeMissing = fakeErr("rule missing")

func TestHostPortsMasqueradeOnlyAPodsConnectionsToItsOwnPorts(t *testing.T) {
	f := &fakeIptables{}
	h := NewHostPorts("shoal0", nil)
	h.exec, h.procSys = f.exec, t.TempDir()
	ctx := context.Background()
	ip := netip.MustParseAddr("10.244.0.7")
	if err := h.Set(ctx, "uid-1", ip, []HostPort{{Protocol: "tcp", HostPort: 8080, ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	// A pod without host ports has no rule of either kind.
	if err := h.Set(ctx, "uid-2", netip.MustParseAddr("10.244.0.8"), nil); err != nil {
		t.Fatal(err)
	}
	in := f.restores[len(f.restores)-1]
	for _, want := range []string{
		":SHOAL-HOSTPORTS-MASQ - [0:0]",
		`-A SHOAL-HOSTPORTS-MASQ -s 10.244.0.7/32 -d 10.244.0.7/32 -m comment --comment "shoal: pod uid-1 to its own host port" -j MASQUERADE`,
		"-A SHOAL-HOSTPORTS -p tcp -m tcp --dport 8080",
	} {
		if !strings.Contains(in, want) {
			t.Errorf("restore input lacks %q:\n%s", want, in)
		}
	}
	if strings.Contains(in, "10.244.0.8") {
		t.Errorf("a pod without host ports has rules:\n%s", in)
	}
	if !strings.Contains(strings.Join(f.appended, "\n"), "POSTROUTING -o shoal0 -m comment --comment shoal: pods to their own host ports -j SHOAL-HOSTPORTS-MASQ") {
		t.Errorf("no jump from POSTROUTING: %q", f.appended)
	}
	// Withdrawn ports take the pod's masquerading with them.
	if err := h.Remove(ctx, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if in := f.restores[len(f.restores)-1]; strings.Contains(in, "MASQUERADE") || !strings.Contains(in, ":SHOAL-HOSTPORTS-MASQ - [0:0]") {
		t.Errorf("after removal:\n%s", in)
	}
}
