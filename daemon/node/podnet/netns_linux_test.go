package podnet

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

// testNetns makes a network namespace of the test's own, removed at
// cleanup, with lo up and a "LAN" interface lan0 at 10.98.0.1/24, and
// returns its name and path. It runs only with SHOAL_TEST_DOCKER=1 (as
// root); then missing tools fail the test. Nothing of the test's namespace
// (routes, iptables) is ever touched.
func testNetns(t *testing.T) (name, path string) {
	t.Helper()
	if os.Getenv(enginetest.DockerTestEnv) != "1" {
		t.Skipf("set %s=1 (as root) to run tests that make network namespaces", enginetest.DockerTestEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1 but not root: network namespaces need root", enginetest.DockerTestEnv)
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s=1 but %s is missing (Debian: iproute2 iptables util-linux)", enginetest.DockerTestEnv, tool)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "shoal-nt-" + hex.EncodeToString(b)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	// A veth pair inside the namespace rather than a dummy device: kernels
	// without the dummy module have veth (Docker needs it).
	run(t, "ip", "-n", name, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
	run(t, "ip", "-n", name, "addr", "add", "10.98.0.1/24", "dev", "lan0")
	run(t, "ip", "-n", name, "link", "set", "lan1", "up")
	run(t, "ip", "-n", name, "link", "set", "lan0", "up")
	return name, "/var/run/netns/" + name
}

// run runs a command and returns its output, failing the test on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs a command in the namespace at path.
func inNetns(t *testing.T, path string, args ...string) string {
	t.Helper()
	return run(t, append([]string{"nsenter", "--net=" + path, "--"}, args...)...)
}
