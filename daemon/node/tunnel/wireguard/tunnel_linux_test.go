//go:build linux

package wireguard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// markerPayload is 1 MiB of a random marker string, repeated.
func markerPayload(t testing.TB) (marker, payload []byte) {
	b := make([]byte, 8)
	rand.Read(b)
	marker = []byte("SHOAL-MARKER-" + hex.EncodeToString(b) + "|")
	payload = bytes.Repeat(marker, (1<<20)/len(marker)+1)[:1<<20]
	return marker, payload
}

func TestTunnelCarriesPodTrafficEncryptedBetweenTwoHosts(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	if got := a.tun.Routes(); len(got) != 1 || got[0] != b.pods {
		t.Fatalf("routes of a: %v, want [%s]", got, b.pods)
	}
	if out := sh(t, "ip", "-n", a.ns, "route", "show", b.pods.String()); !strings.Contains(out, "dev "+DefaultName) {
		t.Fatalf("no route to b's pods through the tunnel: %q", out)
	}
	if out := sh(t, "ip", "-n", a.ns, "link", "show", DefaultName); !strings.Contains(out, "mtu 1420") {
		t.Fatalf("tunnel MTU: %s", out)
	}
	marker, payload := markerPayload(t)

	// 1 MiB from a's tunnel address to b's pod gateway, through the tunnel.
	l := listen(t, b.ns, b.gateway)
	capt := startCapture(t, a.ns, "veth0")
	got, from := transfer(t, a.ns, l, payload)
	seen, dropped := capt.End()
	if !bytes.Equal(got, payload) {
		t.Fatalf("received %d bytes, want the %d sent", len(got), len(payload))
	}
	if dropped != 0 {
		t.Fatalf("the capture missed %d frames", dropped)
	}
	if !strings.HasPrefix(from, a.gateway.String()+":") {
		t.Fatalf("b saw the connection from %s, want a's tunnel address %s", from, a.gateway)
	}
	if len(seen) < len(payload) {
		t.Fatalf("the capture saw %d bytes, less than the payload: it did not watch the underlay", len(seen))
	}
	if bytes.Contains(seen, marker) {
		t.Fatal("the marker crossed the underlay in clear text through the tunnel")
	}

	// The same payload over the plain underlay: the capture sees it, so
	// the check above can fail.
	plain := listen(t, b.ns, b.underlay)
	capt = startCapture(t, a.ns, "veth0")
	got, _ = transfer(t, a.ns, plain, payload)
	seen, _ = capt.End()
	if !bytes.Equal(got, payload) {
		t.Fatal("plain transfer incomplete")
	}
	if !bytes.Contains(seen, marker) {
		t.Fatal("the capture did not see the marker sent in clear text: the check proves nothing")
	}

	// Setting the same peers again keeps the session (its counters).
	before := peerState(t, a.tun, b.tun.PublicKey())
	setPeers(t, a, b.peer())
	after := peerState(t, a.tun, b.tun.PublicKey())
	txBefore, _ := strconv.Atoi(before["tx_bytes"])
	txAfter, _ := strconv.Atoi(after["tx_bytes"])
	if txBefore < len(payload) || txAfter < txBefore || after["last_handshake_time_sec"] != before["last_handshake_time_sec"] {
		t.Fatalf("setting the same peers reset the session: %v then %v", before, after)
	}
}

func TestPodsBehindTheTunnelKeepTheirAddressesAndFullSizedPackets(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	podA := addPod(t, a, "10.250.1.5")
	podB := addPod(t, b, "10.250.2.5")
	connect(t, a, b)

	// Both pods have 1500-byte interfaces and advertise the matching TCP
	// MSS: the first full-sized segments are too large for the tunnel,
	// and only path MTU discovery (ICMP from the tunnel's host) gets the
	// transfer through.
	_, payload := markerPayload(t)
	l := listen(t, podB, netip.MustParseAddr("10.250.2.5"))
	got, from := transfer(t, podA, l, payload)
	if !bytes.Equal(got, payload) {
		t.Fatalf("pod b received %d bytes of pod a's %d", len(got), len(payload))
	}
	if !strings.HasPrefix(from, "10.250.1.5:") {
		t.Fatalf("pod b saw pod a's connection from %s, want pod a's own address", from)
	}
	l = listen(t, podA, netip.MustParseAddr("10.250.1.5"))
	if got, _ := transfer(t, podB, l, payload); !bytes.Equal(got, payload) {
		t.Fatalf("pod a received %d bytes of pod b's %d", len(got), len(payload))
	}
}

// addPod puts a "pod" behind a host: a namespace on a veth with a
// 1500-byte MTU, the host's end holding the pod subnet's gateway, and the
// host forwarding.
func addPod(t testing.TB, h *host, ip string) string {
	t.Helper()
	pod := newNetns(t, "p")
	sh(t, "ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "pod0", "netns", h.ns)
	sh(t, "ip", "-n", pod, "addr", "add", ip+"/24", "dev", "eth0")
	sh(t, "ip", "-n", pod, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", pod, "route", "add", "default", "via", h.gateway.String())
	sh(t, "ip", "-n", h.ns, "addr", "add", h.gateway.String()+"/24", "dev", "pod0")
	sh(t, "ip", "-n", h.ns, "link", "set", "pod0", "up")
	sh(t, "ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return pod
}

// peerState reads a peer's counters from the device.
func peerState(t testing.TB, tun *Tunnel, key Key) map[string]string {
	t.Helper()
	dump, err := tun.dev.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	in := false
	for _, line := range strings.Split(dump, "\n") {
		k, v, _ := strings.Cut(line, "=")
		if k == "public_key" {
			in = v == key.hex()
		}
		if in {
			out[k] = v
		}
	}
	return out
}

func TestARotatedKeyReplacesThePeersOldKey(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	l := listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("before")); string(got) != "before" {
		t.Fatalf("before rotation: %q", got)
	}
	// b renews its certificate: a new key, signed under the new certificate.
	old := b.tun.PublicKey()
	b.tun.Close()
	b.id = nil
	b.start(t, c)
	if b.tun.PublicKey() == old {
		t.Fatal("the key did not change with the certificate")
	}
	connect(t, a, b)
	if st := peerState(t, a.tun, old); len(st) != 0 {
		t.Fatalf("b's old key is still configured on a: %v", st)
	}
	if st := peerState(t, a.tun, b.tun.PublicKey()); st["endpoint"] != netip.AddrPortFrom(b.underlay, DefaultPort).String() {
		t.Fatalf("b's new key is not configured on a: %v", st)
	}
	l = listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("after")); string(got) != "after" {
		t.Fatalf("after rotation: %q", got)
	}
}

func TestAKeyReplacedInPlaceIsUsedOncePeersHaveIt(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	l := listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("before")); string(got) != "before" {
		t.Fatalf("before rotation: %q", got)
	}
	// b's certificate is renewed; the agent loads the new key and hands it
	// to the running tunnel.
	b.id = c.node(t, b.name, time.Now(), 0)
	nk, err := LoadNodeKey(b.dataDir, b.id)
	if err != nil {
		t.Fatal(err)
	}
	if nk.Why == "" || nk.Public == b.tun.PublicKey() {
		t.Fatalf("no new key for a new certificate (%q)", nk.Why)
	}
	if _, err := VerifyKey(nk.Annotation, b.name, c.pool, time.Now()); err != nil {
		t.Fatalf("the new annotation does not verify: %v", err)
	}
	if err := b.tun.SetPrivateKey(nk.Private); err != nil {
		t.Fatal(err)
	}
	if b.tun.PublicKey() != nk.Public {
		t.Fatal("PublicKey does not follow SetPrivateKey")
	}
	b.signed = nk.Annotation
	connect(t, a, b)
	l = listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("after")); string(got) != "after" {
		t.Fatalf("after rotation: %q", got)
	}
}

func TestARestartedPeerIsReachedAgainAtOnce(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	l := listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("before")); string(got) != "before" {
		t.Fatalf("before the restart: %q", got)
	}
	// b's agent restarts: same key, a new device with no sessions. a is
	// told nothing and still holds its session with the old device.
	b.tun.Close()
	b.start(t, c)
	setPeers(t, b, a.peer())
	l = listen(t, b.ns, b.gateway)
	// b greets a as soon as it knows it (a keepalive starts a handshake),
	// so a reaches b at once, though a was told nothing.
	start := time.Now()
	for {
		conn, err := dial(t, a.ns, l.Addr().String(), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("a cannot reach b 2 s after b restarted: %v", err)
		}
	}
}

func TestRemovedPeerGetsNoTrafficAndLeavesNoRoute(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	l := listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("hello")); string(got) != "hello" {
		t.Fatalf("before removal: %q", got)
	}

	setPeers(t, a)
	if got := a.tun.Routes(); len(got) != 0 {
		t.Fatalf("routes left: %v", got)
	}
	if out := sh(t, "ip", "-n", a.ns, "route", "show", "dev", DefaultName); strings.TrimSpace(out) != "" {
		t.Fatalf("routes through the device left: %q", out)
	}
	if st := peerState(t, a.tun, b.tun.PublicKey()); len(st) != 0 {
		t.Fatalf("the removed peer is still configured: %v", st)
	}
	// Even with a route put back by hand, the device has no peer to send
	// b's addresses to.
	sh(t, "ip", "-n", a.ns, "route", "add", b.pods.String(), "dev", DefaultName)
	if conn, err := dial(t, a.ns, l.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Fatal("connected to b's pods after b was removed")
	}
}

func TestPeersWithForeignOrBadKeysAreRefused(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)

	// c is signed by another cluster's CA, d signs with its own name but
	// claims b's key, e publishes a tampered key, f takes b's pod subnet.
	other := newCluster(t)
	stranger := other.node(t, "c", time.Now(), 0)
	strangerKey := newPublic(t)
	strangerSigned, _ := SignKey(stranger, strangerKey)
	dID := c.node(t, "d", time.Now(), 0)
	dSigned, _ := SignKey(dID, b.tun.PublicKey())
	parts := strings.Split(b.signed, ".")
	eKey := newPublic(t)
	fID := c.node(t, "f", time.Now(), 0)
	fSigned, _ := SignKey(fID, newPublic(t))
	ep := netip.MustParseAddrPort("192.168.77.9:51820")
	peers := []Peer{
		b.peer(),
		{Name: "c", SignedKey: strangerSigned, Endpoint: ep, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.250.3.0/24")}},
		{Name: "d", SignedKey: dSigned, Endpoint: ep, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.250.4.0/24")}},
		{Name: "e", SignedKey: parts[0] + "." + b64.EncodeToString(eKey[:]) + "." + parts[2] + "." + parts[3], Endpoint: ep, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.250.5.0/24")}},
		{Name: "f", SignedKey: fSigned, Endpoint: ep, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.250.2.128/25")}},
		{Name: "g", SignedKey: fSigned, Endpoint: ep, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.250.7.1/24")}},
		{Name: "h", Endpoint: ep, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.250.8.0/24")}},
	}
	refused := setPeers(t, a, peers...)
	for name, want := range map[string]string{
		"c": ErrUntrusted.Error(), "d": "same key as node", "e": ErrWrongNode.Error(),
		"f": "overlap", "g": "not a network address", "h": ErrNoKey.Error(),
	} {
		if err := refused[name]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("peer %s: got %v, want an error with %q", name, err, want)
		}
	}
	if !errors.Is(refused["c"], ErrUntrusted) {
		t.Errorf("peer c: %v does not wrap ErrUntrusted", refused["c"])
	}
	if len(refused) != 6 {
		t.Errorf("refused %d peers, want 6: %v", len(refused), refused)
	}
	if got := a.tun.Routes(); len(got) != 1 || got[0] != b.pods {
		t.Fatalf("routes: %v, want only b's", got)
	}
	if st := peerState(t, a.tun, strangerKey); len(st) != 0 {
		t.Fatalf("the stranger's key was configured: %v", st)
	}
	dump, _ := a.tun.dev.IpcGet()
	if n := strings.Count(dump, "public_key="); n != 1 {
		t.Fatalf("%d peers configured, want 1 (b):\n%s", n, dump)
	}
	// Refusals are logged once, however often the peers are set again.
	setPeers(t, a, peers...)
	if n := a.logs.n("refused a wireguard peer"); n != 6 {
		t.Fatalf("%d refusals logged after two SetPeers, want 6", n)
	}
}

func TestAStrangerCannotJoinTheMesh(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	// s belongs to another cluster, sits on a's underlay, knows a's public
	// key and endpoint (the annotation is no secret) and claims a pod
	// subnet; a is told about it as a peer but refuses its key.
	other := newCluster(t)
	both := other.pool.Clone()
	both.AddCert(c.ca.Cert)
	s := &host{name: "s", ns: newNetns(t, "s"), underlay: netip.MustParseAddr("192.168.78.2"),
		pods: netip.MustParsePrefix("10.250.9.0/24"), gateway: netip.MustParseAddr("10.250.9.1")}
	sh(t, "ip", "-n", a.ns, "link", "add", "veth1", "type", "veth", "peer", "name", "veth0", "netns", s.ns)
	sh(t, "ip", "-n", a.ns, "addr", "add", "192.168.78.1/24", "dev", "veth1")
	sh(t, "ip", "-n", a.ns, "link", "set", "veth1", "up")
	sh(t, "ip", "-n", s.ns, "addr", "add", "192.168.78.2/24", "dev", "veth0")
	sh(t, "ip", "-n", s.ns, "link", "set", "veth0", "up")
	s.start(t, &cluster{ca: other.ca, pool: both})
	aPeer := a.peer()
	aPeer.Endpoint = netip.MustParseAddrPort("192.168.78.1:51820")
	if refused := setPeers(t, s, aPeer); len(refused) != 0 {
		t.Fatalf("the stranger could not even configure a: %v", refused)
	}
	if refused := setPeers(t, a, b.peer(), s.peer()); !errors.Is(refused["s"], ErrUntrusted) {
		t.Fatalf("a did not refuse the stranger's key: %v", refused)
	}
	l := listen(t, a.ns, a.gateway)
	if conn, err := dial(t, s.ns, l.Addr().String(), 2*time.Second); err == nil {
		conn.Close()
		t.Fatal("the stranger reached a's pods through the tunnel")
	}
	if hs, _ := a.tun.Handshakes(); !hs["s"].IsZero() || hs["b"].IsZero() {
		t.Fatalf("handshakes on a: %v, want b's only", hs)
	}
	if st := peerState(t, s.tun, a.tun.PublicKey()); st["last_handshake_time_sec"] != "0" {
		t.Fatalf("the stranger completed a handshake with a: %v", st)
	}
}

func TestCloseRemovesTheDeviceAndStopsItsGoroutines(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	if err := a.tun.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.tun.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if out, err := execOut("ip", "-n", a.ns, "link", "show", DefaultName); err == nil {
		t.Fatalf("the device is still there after Close:\n%s", out)
	}
	if _, err := a.tun.SetPeers([]Peer{b.peer()}); err == nil {
		t.Fatal("SetPeers after Close succeeded")
	}

	// Ending the context closes a tunnel too; afterwards none of its
	// goroutines are left.
	b.tun.Close()
	runtime.GC()
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	key, _ := NewPrivateKey()
	tun, err := New(ctx, Config{PrivateKey: key, Trust: a.tun.cfg.Trust, NetNS: nsPath(a.ns), ListenPort: 51821})
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n <= baseline {
		t.Fatalf("%d goroutines with a tunnel, %d before: the count proves nothing", n, baseline)
	}
	cancel()
	poll.Cond(t, 5*time.Second, "the device to be gone", func() bool {
		_, err := execOut("ip", "-n", a.ns, "link", "show", DefaultName)
		return err != nil
	})
	poll.Cond(t, 5*time.Second, "wireguard-go's goroutines to end", func() bool {
		return runtime.NumGoroutine() <= baseline
	})
	if _, err := tun.SetPeers(nil); err == nil {
		t.Fatal("the tunnel is still open after its context ended")
	}
}

func TestDoneTellsTheOwnerTheDeviceWasDeleted(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, _ := twoHosts(t, c)
	select {
	case <-a.tun.Done():
		t.Fatal("Done before anything happened")
	default:
	}
	sh(t, "ip", "-n", a.ns, "link", "del", DefaultName)
	select {
	case <-a.tun.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed 5 s after the device was deleted")
	}
	if err := a.tun.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCallsFromManyGoroutinesWhileTrafficFlows(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	connect(t, a, b)
	_, payload := markerPayload(t)
	l := listen(t, b.ns, b.gateway)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			for range 30 {
				switch i {
				case 0:
					if _, err := a.tun.SetPeers([]Peer{b.peer()}); err != nil {
						t.Error(err)
					}
				case 1:
					if _, err := a.tun.Handshakes(); err != nil {
						t.Error(err)
					}
				case 2:
					_ = a.tun.Routes()
					_ = a.tun.PublicKey()
				}
			}
		})
	}
	got, _ := transfer(t, a.ns, l, payload)
	wg.Wait()
	if !bytes.Equal(got, payload) {
		t.Fatalf("received %d of %d bytes", len(got), len(payload))
	}
	// Close while another goroutine sets peers: either may win, neither
	// fails badly.
	wg.Go(func() { a.tun.SetPeers([]Peer{b.peer()}) })
	if err := a.tun.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func TestNewReportsAPortInUseAndLeavesNothingBehind(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, _ := twoHosts(t, c)
	key, _ := NewPrivateKey()
	_, err := New(context.Background(), Config{Name: "shoal.wg2", PrivateKey: key, NetNS: nsPath(a.ns),
		Trust: func() *x509.CertPool { return c.pool }})
	if err == nil || !strings.Contains(err.Error(), "51820") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want an error naming the port in use", err)
	}
	if out, err := execOut("ip", "-n", a.ns, "link", "show", "shoal.wg2"); err == nil {
		t.Fatalf("the failed device is left behind:\n%s", out)
	}
	if err := a.tun.Healthy(); err != nil {
		t.Fatalf("the first tunnel: %v", err)
	}
	a.tun.Close()
	if err := a.tun.Healthy(); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("a closed tunnel: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	key, _ := NewPrivateKey()
	trust := newCluster(t).pool
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{}, "PrivateKey"},
		{"no trust", Config{PrivateKey: key}, "Trust"},
		{"long name", Config{PrivateKey: key, Name: "a-very-long-device-name"}, "Name"},
		{"port", Config{PrivateKey: key, ListenPort: 70000}, "ListenPort"},
		{"mtu", Config{PrivateKey: key, MTU: 500}, "MTU"},
		{"keepalive", Config{PrivateKey: key, Keepalive: time.Millisecond}, "Keepalive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Trust == nil && tc.want != "Trust" && tc.want != "PrivateKey" {
				tc.cfg.Trust = func() *x509.CertPool { return trust }
			}
			_, err := New(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func execOut(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

func TestLeaveRoutesLeavesRoutingToTheCaller(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	a, b := twoHosts(t, c)
	a.tun.Close()
	a.leaveRoutes = true
	a.start(t, c)
	connect(t, a, b)
	if got := a.tun.Routes(); len(got) != 0 {
		t.Fatalf("routes kept by the tunnel: %v", got)
	}
	if out := sh(t, "ip", "-n", a.ns, "route", "show", "dev", DefaultName); strings.TrimSpace(out) != "" {
		t.Fatalf("routes through the device: %q", out)
	}
	// The caller's route (another protocol) is used, and left alone by the
	// next SetPeers.
	sh(t, "ip", "-n", a.ns, "route", "add", b.pods.String(), "dev", DefaultName, "proto", "136")
	setPeers(t, a, b.peer())
	if out := sh(t, "ip", "-n", a.ns, "route", "show", b.pods.String()); !strings.Contains(out, "proto 136") {
		t.Fatalf("the caller's route changed: %q", out)
	}
	l := listen(t, b.ns, b.gateway)
	if got, _ := transfer(t, a.ns, l, []byte("hello")); string(got) != "hello" {
		t.Fatalf("over the caller's route: %q", got)
	}
}
