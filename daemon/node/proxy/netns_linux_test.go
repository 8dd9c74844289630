//go:build linux

package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// needRoot skips unless SHOAL_TEST_DOCKER=1; then the tools must be there.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv("SHOAL_TEST_DOCKER") != "1" {
		t.Skip("needs root and network namespaces; set SHOAL_TEST_DOCKER=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("SHOAL_TEST_DOCKER=1 but not root")
	}
	for _, tool := range append([]string{"ip", "iptables", "iptables-restore", "iptables-save"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (Debian packages iproute2, iptables, conntrack)", tool)
		}
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns makes a network namespace shoal-pt-<random><suffix>, deleted when
// the test ends.
func newNetns(t *testing.T, suffix string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "shoal-pt-" + hex.EncodeToString(b) + suffix
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// clientServer makes two namespaces joined by a veth pair: the client
// 10.99.0.1/24 with a default route through the server 10.99.0.2/24.
func clientServer(t *testing.T) (client, server string) {
	client, server = newNetns(t, "c"), newNetns(t, "s")
	sh(t, "ip", "-n", client, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", server)
	sh(t, "ip", "-n", client, "addr", "add", "10.99.0.1/24", "dev", "veth0")
	sh(t, "ip", "-n", server, "addr", "add", "10.99.0.2/24", "dev", "veth0")
	sh(t, "ip", "-n", client, "link", "set", "veth0", "up")
	sh(t, "ip", "-n", server, "link", "set", "veth0", "up")
	// Service IPs are reached through a route, like any address: without
	// one, connect fails before netfilter sees the packet.
	sh(t, "ip", "-n", client, "route", "add", "default", "via", "10.99.0.2")
	return client, server
}

// startBackends runs this test binary as backend servers in the namespace.
func startBackends(t *testing.T, ns string, addrs ...string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), backendEnv+"="+strings.Join(addrs, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("backends did not start: %q %v", line, err)
	}
}

// inNetns runs fn on an OS thread that joined the named network namespace,
// so sockets fn opens live there. The thread stays locked and so is thrown
// away when fn returns, never reused by other goroutines.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		fn()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("join %s: %v", ns, err)
	}
}

// answer is what a backend says: its port and the client address it saw.
type answer struct{ port, from string }

func parseAnswer(s string) answer {
	port, from, _ := strings.Cut(strings.TrimSpace(s), " ")
	return answer{port, from}
}

// dialTCP connects n times from the namespace and returns the answers or
// the errors; it gives up after three errors, so a broken rule fails the
// test in seconds.
func dialTCP(t *testing.T, ns, addr string, n int) (answers []answer, errs []error) {
	t.Helper()
	inNetns(t, ns, func() {
		for range n {
			if len(errs) == 3 {
				return
			}
			c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			answers = append(answers, parseAnswer(line))
		}
	})
	return answers, errs
}

// count counts the answers per backend port.
func count(answers []answer) map[string]int {
	m := map[string]int{}
	for _, a := range answers {
		m[a.port]++
	}
	return m
}

// sources lists the client addresses the backends saw.
func sources(answers []answer) []string {
	var out []string
	for _, a := range answers {
		if !slices.Contains(out, a.from) {
			out = append(out, a.from)
		}
	}
	slices.Sort(out)
	return out
}

// backendEndpoints puts each port of one address in its own subset, as three pods
// of one node would be.
func backendEndpoints(ns, name, portName, proto, ip string, ports ...int32) *api.Endpoints {
	e := eps(ns, name, nil)
	for _, p := range ports {
		e.Subsets = append(e.Subsets, api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: ip}},
			Ports: []api.EndpointPort{epPort(portName, proto, p)}})
	}
	return e
}

// TestNetnsServiceTraffic runs a Proxier on a client namespace and checks
// real connections to a service VIP against backends in a server namespace.
func TestNetnsServiceTraffic(t *testing.T) {
	needRoot(t, "conntrack")
	client, server := clientServer(t)
	startBackends(t, server, "10.99.0.2:9001", "10.99.0.2:9002", "10.99.0.2:9003")

	web := svc("default", "web", "10.96.0.10", port("", "TCP", 80))
	web.Spec.Type, web.Spec.Ports[0].NodePort = api.ServiceTypeNodePort, 30080
	src := newFakeSource(web, backendEndpoints("default", "web", "", "TCP", "10.99.0.2", 9001, 9002, 9003))
	p := New(Config{Rules: RulesConfig{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")},
		Kernel: ExecKernel{Netns: client}, MinSyncInterval: 20 * time.Millisecond}, nil)
	runProxier(t, p, src)
	poll.Cond(t, 5*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	// changed applies a change and waits for the sync that carries it.
	changed := func(o api.Object) {
		t.Helper()
		before := p.Stats().Syncs
		src.Set(o)
		poll.Cond(t, 5*time.Second, "a sync", func() bool { return p.Stats().Syncs > before })
	}

	t.Run("random spread", func(t *testing.T) {
		answers, errs := dialTCP(t, client, "10.96.0.10:80", 60)
		seen := count(answers)
		if len(errs) > 0 || len(seen) != 3 {
			t.Fatalf("60 connections reached %v, errors %v; want all three backends", seen, errs)
		}
		t.Logf("spread over 60 connections: %v", seen)
	})

	t.Run("node port", func(t *testing.T) {
		answers, errs := dialTCP(t, client, "10.99.0.1:30080", 30)
		if len(errs) > 0 || len(count(answers)) < 2 {
			t.Fatalf("node port reached %v, errors %v", count(answers), errs)
		}
	})

	t.Run("client IP affinity", func(t *testing.T) {
		sticky := svc("default", "web", "10.96.0.10", port("", "TCP", 80))
		sticky.Spec.SessionAffinity = api.AffinityClientIP
		changed(sticky)
		answers, errs := dialTCP(t, client, "10.96.0.10:80", 30)
		if seen := count(answers); len(errs) > 0 || len(seen) != 1 {
			t.Fatalf("with affinity 30 connections reached %v, errors %v; want one backend", seen, errs)
		}
		changed(svc("default", "web", "10.96.0.10", port("", "TCP", 80)))
	})

	t.Run("endpoint removed", func(t *testing.T) {
		changed(backendEndpoints("default", "web", "", "TCP", "10.99.0.2", 9001, 9002))
		answers, errs := dialTCP(t, client, "10.96.0.10:80", 40)
		seen := count(answers)
		if len(errs) > 0 || seen["9003"] != 0 || seen["9001"] == 0 || seen["9002"] == 0 {
			t.Fatalf("after removing 9003, 40 connections reached %v, errors %v", seen, errs)
		}
		saved := sh(t, "ip", "netns", "exec", client, "iptables-save", "-t", "nat")
		if n := strings.Count(saved, ":"+sepChainPrefix); n != 2 || strings.Contains(saved, "10.99.0.2:9003") {
			t.Errorf("after removing 9003 the kernel has %d endpoint chains:\n%s", n, saved)
		}
	})

	t.Run("UDP flows follow a removed endpoint", func(t *testing.T) {
		changed(svc("kube-system", "dns", "10.96.0.53", port("dns", "UDP", 53)))
		changed(backendEndpoints("kube-system", "dns", "dns", "UDP", "10.99.0.2", 9001, 9002, 9003))
		var first, second string
		var err error
		inNetns(t, client, func() {
			var c net.Conn
			c, err = net.Dial("udp4", "10.96.0.53:53")
			if err != nil {
				return
			}
			defer c.Close()
			ask := func() (string, error) {
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write([]byte("?")); err != nil {
					return "", err
				}
				buf := make([]byte, 16)
				n, err := c.Read(buf)
				return parseAnswer(string(buf[:n])).port, err
			}
			if first, err = ask(); err != nil {
				return
			}
			// The same flow keeps its backend...
			for range 5 {
				var again string
				if again, err = ask(); err != nil || again != first {
					err = errors.Join(err, errors.New("UDP flow changed backend: "+first+" then "+again))
					return
				}
			}
			// ...until that backend leaves the service.
			var left []int32
			for _, p := range []int32{9001, 9002, 9003} {
				if first != strconv.Itoa(int(p)) {
					left = append(left, p)
				}
			}
			before := p.Stats().Syncs
			src.Set(backendEndpoints("kube-system", "dns", "dns", "UDP", "10.99.0.2", left...))
			deadline := time.Now().Add(5 * time.Second)
			for p.Stats().Syncs == before && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			second, err = ask()
		})
		if err != nil {
			t.Fatal(err)
		}
		if second == first {
			t.Fatalf("UDP flow still reaches removed backend %s: its conntrack entry was not flushed", first)
		}
	})

	t.Run("no endpoints is refused at once", func(t *testing.T) {
		changed(eps("default", "web", nil))
		start := time.Now()
		_, errs := dialTCP(t, client, "10.96.0.10:80", 1)
		took := time.Since(start)
		if len(errs) != 1 || !errors.Is(errs[0], syscall.ECONNREFUSED) {
			t.Fatalf("connection to a service without endpoints: %v, want connection refused", errs)
		}
		if took > 500*time.Millisecond {
			t.Errorf("refusal took %v", took)
		}
	})

	t.Run("cleanup", func(t *testing.T) {
		// Run is still going: Cleanup must refuse.
		if err := p.Cleanup(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
			t.Fatalf("Cleanup while running: %v", err)
		}
		if err := Cleanup(context.Background(), ExecKernel{Netns: client}); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{TableNAT, TableFilter} {
			if saved := sh(t, "ip", "netns", "exec", client, "iptables-save", "-t", table); strings.Contains(saved, "SHOAL-") {
				t.Errorf("%s table after Cleanup:\n%s", table, saved)
			}
		}
	})
}

// TestNetnsScale applies 1,000 services with 3 endpoints each in a namespace
// and checks that a change then reaches the kernel within a second. It logs
// the figures: generation, the full restore, and one change.
func TestNetnsScale(t *testing.T) {
	needRoot(t)
	ns := newNetns(t, "n")
	const n = 1000
	ss, es := manyServices(n, 3)
	src := newFakeSource()
	for i := range ss {
		src.Set(ss[i])
		src.Set(es[i])
	}
	results := make(chan SyncResult, 100)
	p := New(Config{Rules: testRulesConfig, Kernel: ExecKernel{Netns: ns},
		OnSync: func(r SyncResult) { results <- r }}, nil)
	runProxier(t, p, src)
	next := func() SyncResult {
		t.Helper()
		select {
		case r := <-results:
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("no sync within 30 s")
		}
		return SyncResult{}
	}
	first := next()
	if first.ServicePorts != n || !first.Full {
		t.Fatalf("first sync: %+v", first)
	}
	t.Logf("%d services x 3 endpoints: %d chains, %d rules; generate %v, full apply %v (iptables-save, restore of both tables, jumps)",
		n, first.Chains, first.Rules, first.Generate.Round(time.Millisecond), first.Apply.Round(time.Millisecond))

	var worst time.Duration
	for i := range 5 {
		old := es[100*i]
		ips := []string{fmt.Sprintf("10.244.250.%d", i+1), old.Subsets[0].Addresses[1].IP, old.Subsets[0].Addresses[2].IP}
		src.Set(eps(old.Namespace, old.Name, ips, old.Subsets[0].Ports...))
		r := next()
		if len(r.Tables) != 1 || r.Tables[0] != TableNAT || r.Full {
			t.Fatalf("change %d: %+v", i, r)
		}
		worst = max(worst, r.Latency)
		t.Logf("one endpoint changed: generate %v, apply %v, change to rules installed %v",
			r.Generate.Round(time.Millisecond), r.Apply.Round(time.Millisecond), r.Latency.Round(time.Millisecond))
	}
	bound := time.Second
	if raceEnabled {
		bound = 3 * time.Second
	}
	if worst > bound {
		t.Errorf("a change took %v to reach the kernel, want under %v", worst, bound)
	}
	saved := sh(t, "ip", "netns", "exec", ns, "iptables-save", "-t", "nat")
	if got := strings.Count(saved, "\n-A "+svcChainPrefix); got != n*4 {
		t.Errorf("kernel has %d SVC rules, want %d", got, n*4)
	}
	if !strings.Contains(saved, "10.244.250.5:8080") {
		t.Error("the last change is not in the kernel")
	}
}

// link joins two namespaces with a veth pair, named name on both sides.
func link(t *testing.T, name, a, aCIDR, b, bCIDR string) {
	t.Helper()
	sh(t, "ip", "-n", a, "link", "add", name, "type", "veth", "peer", "name", name, "netns", b)
	sh(t, "ip", "-n", a, "addr", "add", aCIDR, "dev", name)
	sh(t, "ip", "-n", b, "addr", "add", bCIDR, "dev", name)
	sh(t, "ip", "-n", a, "link", "set", name, "up")
	sh(t, "ip", "-n", b, "link", "set", name, "up")
}

// TestNetnsForwardedTraffic runs the proxier on a node that routes between
// a pod (in the cluster CIDR), an outside client and a backend, with
// Docker's FORWARD policy DROP, and checks who gets masqueraded.
//
//	pod 10.98.0.1 ---- 10.98.0.2 node 10.99.0.1 ---- 10.99.0.2 backend
//	ext 10.97.0.1 ---- 10.97.0.2
func TestNetnsForwardedTraffic(t *testing.T) {
	needRoot(t)
	pod, ext, node, server := newNetns(t, "p"), newNetns(t, "e"), newNetns(t, "n"), newNetns(t, "s")
	link(t, "vpod", pod, "10.98.0.1/24", node, "10.98.0.2/24")
	link(t, "vext", ext, "10.97.0.1/24", node, "10.97.0.2/24")
	link(t, "vsrv", node, "10.99.0.1/24", server, "10.99.0.2/24")
	sh(t, "ip", "-n", pod, "route", "add", "default", "via", "10.98.0.2")
	sh(t, "ip", "-n", ext, "route", "add", "default", "via", "10.97.0.2")
	// The backend could answer anyone through the node: what it sees as
	// the source is what the test checks.
	sh(t, "ip", "-n", server, "route", "add", "default", "via", "10.99.0.1")
	// A node has a default route: service IPs not DNATed go there, which
	// is what the REJECT rules must stop.
	sh(t, "ip", "-n", node, "route", "add", "default", "via", "10.99.0.2")
	sh(t, "ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	sh(t, "ip", "netns", "exec", node, "iptables", "-w", "-P", "FORWARD", "DROP")
	// Pod networking's chains, as daemon/network writes them: it accepts
	// what pods send and keeps pod-to-pod traffic unNATed. Everything else
	// forwarded must be let through by the proxier's own rules, and the
	// proxier must leave these chains alone.
	podNetwork := [][]string{
		{"-N", "SHOAL-FORWARD"}, {"-A", "SHOAL-FORWARD", "-s", "10.98.0.0/16", "-j", "ACCEPT"},
		{"-I", "FORWARD", "1", "-j", "SHOAL-FORWARD"},
		{"-t", "nat", "-N", "SHOAL-POSTROUTING"},
		{"-t", "nat", "-A", "SHOAL-POSTROUTING", "-s", "10.98.0.0/16", "-d", "10.98.0.0/16", "!", "-o", "shoal0", "-j", "ACCEPT"},
		{"-t", "nat", "-I", "POSTROUTING", "1", "-j", "SHOAL-POSTROUTING"},
	}
	for _, args := range podNetwork {
		sh(t, append([]string{"ip", "netns", "exec", node, "iptables", "-w"}, args...)...)
	}
	startBackends(t, server, "10.99.0.2:9001", "10.99.0.2:9002")

	web := svc("default", "web", "10.96.0.10", port("", "TCP", 80))
	web.Spec.Type, web.Spec.Ports[0].NodePort = api.ServiceTypeNodePort, 30080
	src := newFakeSource(web, backendEndpoints("default", "web", "", "TCP", "10.99.0.2", 9001, 9002))
	p := New(Config{Rules: RulesConfig{ClusterCIDR: netip.MustParsePrefix("10.98.0.0/16")},
		Kernel: ExecKernel{Netns: node}, MinSyncInterval: 20 * time.Millisecond}, nil)
	runProxier(t, p, src)
	poll.Cond(t, 5*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })

	for _, tc := range []struct {
		name, from, to string
		source         string // the client address the backend must see
	}{
		{"pod to cluster IP keeps its source", pod, "10.96.0.10:80", "10.98.0.1"},
		{"outside to cluster IP is masqueraded", ext, "10.96.0.10:80", "10.99.0.1"},
		{"outside to node port is masqueraded", ext, "10.97.0.2:30080", "10.99.0.1"},
		{"pod to node port is masqueraded", pod, "10.98.0.2:30080", "10.99.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers, errs := dialTCP(t, tc.from, tc.to, 20)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := sources(answers); !slices.Equal(got, []string{tc.source}) {
				t.Errorf("backends saw clients %v, want %s", got, tc.source)
			}
			if len(count(answers)) != 2 {
				t.Errorf("20 connections reached %v, want both backends", count(answers))
			}
		})
	}

	t.Run("without endpoints both are refused", func(t *testing.T) {
		before := p.Stats().Syncs
		src.Set(eps("default", "web", nil))
		poll.Cond(t, 5*time.Second, "a sync", func() bool { return p.Stats().Syncs > before })
		for _, to := range []string{"10.96.0.10:80", "10.97.0.2:30080"} {
			if _, errs := dialTCP(t, ext, to, 1); len(errs) != 1 || !errors.Is(errs[0], syscall.ECONNREFUSED) {
				t.Errorf("%s without endpoints: %v, want connection refused", to, errs)
			}
		}
	})

	t.Run("jumps are installed once", func(t *testing.T) {
		added, err := ensureJumps(context.Background(), ExecKernel{Netns: node})
		if err != nil || added != 0 {
			t.Errorf("ensureJumps again: %d added, %v", added, err)
		}
		saved := sh(t, "ip", "netns", "exec", node, "iptables-save")
		if n := strings.Count(saved, "-j "+chainServices+"\n"); n != 5 {
			t.Errorf("%d jumps to %s, want 5:\n%s", n, chainServices, saved)
		}
	})

	t.Run("cleanup leaves pod networking alone", func(t *testing.T) {
		if err := Cleanup(context.Background(), ExecKernel{Netns: node}); err != nil {
			t.Fatal(err)
		}
		saved := sh(t, "ip", "netns", "exec", node, "iptables-save")
		for _, want := range []string{"-A FORWARD -j SHOAL-FORWARD\n", "-A SHOAL-FORWARD -s 10.98.0.0/16 -j ACCEPT\n",
			"-A POSTROUTING -j SHOAL-POSTROUTING\n", "-A SHOAL-POSTROUTING -s 10.98.0.0/16 -d 10.98.0.0/16 ! -o shoal0 -j ACCEPT\n"} {
			if !strings.Contains(saved, want) {
				t.Errorf("%q is gone", want)
			}
		}
		for _, gone := range []string{chainServices, chainMasq, chainForward, svcChainPrefix} {
			if strings.Contains(saved, gone) {
				t.Errorf("%s left after Cleanup:\n%s", gone, saved)
			}
		}
	})
}
