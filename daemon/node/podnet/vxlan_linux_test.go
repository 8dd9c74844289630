package podnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// inNamespace runs fn on a thread in the network namespace at path; the
// sockets it makes stay in that namespace.
func inNamespace(t *testing.T, path string, fn func() error) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot go back to the test's network namespace: " + err.Error())
		}
	}()
	return fn()
}

// echoAcross dials b's pod gateway 10.244.1.1 from a's 10.244.0.1 (the
// namespaces at pathA and pathB) within wait, sends size bytes through the
// connection and reads them echoed back, and checks that b saw a's address
// as the source. over names the tunnel in messages.
func echoAcross(t *testing.T, pathA, pathB, over string, size int, wait time.Duration) {
	t.Helper()
	var ln net.Listener
	if err := inNamespace(t, pathB, func() (err error) { ln, err = net.Listen("tcp4", "10.244.1.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	from := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			from <- err.Error()
			return
		}
		defer c.Close()
		from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		_, _ = io.Copy(c, c)
	}()
	var conn net.Conn
	poll.Cond(t, wait, "a connection from a's pod gateway to b's over "+over, func() bool {
		err := inNamespace(t, pathA, func() (err error) {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.244.0.1")}}
			conn, err = d.Dial("tcp4", ln.Addr().String())
			return err
		})
		return err == nil
	})
	defer conn.Close()
	body := strings.Repeat("x", size)
	go func() { _, _ = io.WriteString(conn, body) }()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(body))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != body {
		t.Fatalf("echo over %s: %v", over, err)
	}
	if src := <-from; src != "10.244.0.1" {
		t.Errorf("b saw the connection from %s, want a's pod gateway 10.244.0.1", src)
	}
}

// linkedNetns makes two namespaces joined by a veth pair (10.99.0.1/24 and
// 10.99.0.2/24 on lan0), each with a pod bridge shoal0 holding the gateway
// of its pod subnet (10.244.0.1/24, 10.244.1.1/24), removed at cleanup.
func linkedNetns(t *testing.T) (a, b string) {
	t.Helper()
	testNetns(t) // the checks of the environment; its namespace goes unused
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	names := []string{"shoal-vxa-" + hex.EncodeToString(suffix), "shoal-vxb-" + hex.EncodeToString(suffix)}
	for _, n := range names {
		run(t, "ip", "netns", "add", n)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n).Run() })
		run(t, "ip", "-n", n, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", names[0], "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", names[1])
	for i, n := range names {
		run(t, "ip", "-n", n, "addr", "add", "10.99.0."+string(rune('1'+i))+"/24", "dev", "lan0")
		run(t, "ip", "-n", n, "link", "set", "lan0", "up")
		run(t, "ip", "-n", n, "link", "add", "shoal0", "type", "bridge")
		run(t, "ip", "-n", n, "addr", "add", "10.244."+string(rune('0'+i))+".1/24", "dev", "shoal0")
		run(t, "ip", "-n", n, "link", "set", "shoal0", "up")
	}
	return "/var/run/netns/" + names[0], "/var/run/netns/" + names[1]
}

// TestVXLANInNetns runs two Routers in VXLAN mode in two namespaces: each
// makes its device, publishes its MAC, programs the other's route,
// forwarding and neighbour entries, and TCP passes between the pod
// subnets; a deleted node leaves none of them behind.
func TestVXLANInNetns(t *testing.T) {
	pathA, pathB := linkedNetns(t)
	store := testStore(t)
	addNode(t, store, "a", "10.244.0.0/24", "10.99.0.1")
	addNode(t, store, "b", "10.244.1.0/24", "10.99.0.2")
	for _, n := range []struct{ name, ip, path string }{{"a", "10.99.0.1", pathA}, {"b", "10.99.0.2", pathB}} {
		r, err := NewRouter(RouterConfig{Node: n.name, ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Log: testLog(t).With("node", n.name),
			Resync: 200 * time.Millisecond, NetNS: n.path, Mode: ModeVXLAN,
			VXLAN: VXLANConfig{Local: mustAddr(t, n.ip)}, Publish: AnnotateNode(store, n.name)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, store) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	nsA := strings.TrimPrefix(pathA, "/var/run/netns/")
	programmed := func() bool {
		return slices.Equal(ownedRoutes(t, nsA), []string{"10.244.1.0/24 via 10.244.1.0 dev shoal.vx onlink"}) &&
			strings.Contains(run(t, "bridge", "-n", nsA, "fdb", "show", "dev", "shoal.vx"), "0a:5a:0a:63:00:02 dst 10.99.0.2 self permanent") &&
			strings.Contains(run(t, "ip", "-n", nsA, "neigh", "show", "dev", "shoal.vx"), "10.244.1.0 lladdr 0a:5a:0a:63:00:02 PERMANENT")
	}
	poll.Cond(t, 10*time.Second, "a's route, forwarding and neighbour entry for b", programmed)
	// The device deleted by hand (its route and entries go with it): made
	// again, with all of them, at the next pass.
	run(t, "ip", "-n", nsA, "link", "del", "shoal.vx")
	poll.Cond(t, 10*time.Second, "the device, route and entries back after the device was deleted", programmed)
	link := run(t, "ip", "-n", nsA, "-d", "link", "show", "shoal.vx")
	for _, want := range []string{"mtu 1450", "vxlan id 4097", "local 10.99.0.1", "dev lan0", "dstport 8472", "nolearning", "link/ether 0a:5a:0a:63:00:01"} {
		if !strings.Contains(link, want) {
			t.Errorf("device lacks %q:\n%s", want, link)
		}
	}
	if ann := getNode(t, store, "a").Annotations; ann[api.AnnotationBackendsInUse] != "vxlan" || ann[api.AnnotationVXLANMAC] != "0a:5a:0a:63:00:01" {
		t.Errorf("annotations of a: %v", ann)
	}

	// TCP from a's pod gateway to b's, through the tunnel, source kept; a
	// body larger than the device's MTU, in both directions.
	echoAcross(t, pathA, pathB, "VXLAN", 64<<10, 5*time.Second)

	if _, err := store.Delete(context.Background(), api.KindNode, "", "b", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "nothing of b left on a", func() bool {
		return len(ownedRoutes(t, nsA)) == 0 &&
			!strings.Contains(run(t, "bridge", "-n", nsA, "fdb", "show", "dev", "shoal.vx"), "10.99.0.2") &&
			!strings.Contains(run(t, "ip", "-n", nsA, "neigh", "show", "dev", "shoal.vx"), "10.244.1.0")
	})
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
