package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/internal/poll"
)

// wgPods is a server pod on h1 and on h2, on either side of the router.
const wgPods = `apiVersion: v1
kind: Pod
metadata: {name: wg-h1, labels: {app: wg}}
spec:
  nodeName: h1
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: wg-h2, labels: {app: wg}}
spec:
  nodeName: h2
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{containerPort: 8080}]}]
`

// TestPodNetworkWireGuardAcrossRoutedSubnets runs three hosts on two
// subnets joined by a router (h1 and h3 on one, h2 on the other) with
// auto: pods across the router talk through shoal.wg (BACKEND wireguard,
// the route over the device), 1 MB bodies pass, and a capture on the
// router's leg to h2's subnet shows no clear text of the pods' traffic. A
// Node whose key is signed by a foreign CA is not made a WireGuard peer.
// With vxlan forced on h1 and h2 the same capture does show the marker, so
// the check can fail.
func TestPodNetworkWireGuardAcrossRoutedSubnets(t *testing.T) {
	c := startClusterSubnets(t, 3, 2)
	h1 := c.agent(1)
	if _, errOut, err := h1.shoalIn([]byte(wgPods), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	pods := map[string]*api.Pod{}
	poll.Until(t, 90*time.Second, "the two pods running with addresses", func() error {
		for _, p := range h1.pods(t, "default", "app=wg") {
			pods[p.Name] = p
		}
		for _, name := range []string{"wg-h1", "wg-h2"} {
			if p := pods[name]; p == nil || p.Status.Phase != api.PodRunning || p.Status.PodIP == "" {
				return fmt.Errorf("%s not running yet", name)
			}
		}
		return nil
	})
	ip := func(name string) string { return pods[name].Status.PodIP }
	poll.Until(t, 30*time.Second, "BACKEND: host-gw within a subnet, wireguard across", func() error {
		got := nodeBackends(t, h1)
		if got["h1"] != "host-gw,wireguard" || got["h2"] != "wireguard" || got["h3"] != "host-gw,wireguard" {
			return fmt.Errorf("backends %v", got)
		}
		return nil
	})
	t.Logf("BACKEND column: %v", nodeBackends(t, h1))
	h2Subnet := ip("wg-h2")[:strings.LastIndex(ip("wg-h2"), ".")] + ".0/24"
	if r := nsRun(t, 1, "ip", "route", "show", "proto", "136"); !strings.Contains(r, h2Subnet+" dev "+wireguard.DefaultName) {
		t.Errorf("h1's route to h2's pods is not over WireGuard:\n%s", r)
	}
	if r := nsRun(t, 1, "ip", "route", "show", "proto", "137"); strings.TrimSpace(r) != "" {
		t.Errorf("routes of the tunnel's own protocol beside the Router's:\n%s", r)
	}
	if l := nsRun(t, 1, "ip", "link", "show", wireguard.DefaultName); !strings.Contains(l, "mtu 1420") {
		t.Errorf("shoal.wg's MTU is not the underlay's 1500 less 80: %s", l)
	}

	get := func(pod, url string) (string, error) {
		return execIn(t, h1, pod, "get", "--timeout", "5s", url)
	}
	poll.Until(t, 30*time.Second, "h1's pod reaches h2's, source kept", func() error {
		out, err := get("wg-h1", "http://"+ip("wg-h2")+":8080/")
		if err != nil || !strings.Contains(out, "remote="+ip("wg-h1")+":") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	body, err := get("wg-h2", "http://127.0.0.1:8080/file?path=/testapp")
	if err != nil || len(body) < 1<<20 {
		t.Fatalf("wg-h2 serving its binary to itself: %d bytes, %v", len(body), err)
	}

	// crossRouter sends a marker across the router both ways and 1 MB from
	// h2's pod to h1's, capturing on the router's leg to h2's subnet.
	router := "/var/run/netns/shoal-router"
	crossRouter := func() (marker string, seen []byte) {
		t.Helper()
		b := make([]byte, 8)
		rand.Read(b)
		marker = "SHOAL-MARKER-" + hex.EncodeToString(b)
		capt := startPacketCapture(t, router, "eth1")
		if out, err := get("wg-h1", "http://"+ip("wg-h2")+":8080/?"+marker); err != nil {
			t.Fatalf("h1's pod to h2's with the marker: %v %s", err, out)
		}
		if out, err := get("wg-h2", "http://"+ip("wg-h1")+":8080/?"+marker); err != nil {
			t.Fatalf("h2's pod to h1's with the marker: %v %s", err, out)
		}
		out, err := get("wg-h1", "http://"+ip("wg-h2")+":8080/file?path=/testapp")
		seen, dropped := capt.End()
		if err != nil || out != body {
			t.Fatalf("h1's pod fetching %d bytes from h2's: got %d, %v", len(body), len(out), err)
		}
		if dropped != 0 {
			t.Fatalf("the capture missed %d frames", dropped)
		}
		if len(seen) < len(body) {
			t.Fatalf("the capture saw %d bytes while %d crossed the router", len(seen), len(body))
		}
		return marker, seen
	}
	marker, seen := crossRouter()
	if bytes.Contains(seen, []byte(marker)) {
		t.Errorf("the marker crossed the router in clear text with WireGuard")
	}
	if bytes.Contains(seen, []byte(body[len(body)/2:len(body)/2+64])) {
		t.Errorf("the 1 MB body crossed the router in clear text with WireGuard")
	}
	t.Logf("with WireGuard: %d bytes captured on the router, no marker", len(seen))

	// h3's key replaced (its agent stopped, by an admin) with one signed by
	// another cluster's CA: h2 no longer makes it a WireGuard peer and
	// reaches it by VXLAN (its VTEP is still published), and says why.
	obj, err := h1.client.Get(ctx(t), api.KindNode, "", "h3")
	if err != nil {
		t.Fatal(err)
	}
	h3Subnet := obj.(*api.Node).Spec.PodCIDR
	h3Net := strings.TrimSuffix(h3Subnet, "/24")
	poll.Until(t, 30*time.Second, "h2 reaches h3 over WireGuard", func() error {
		if r := nsRun(t, 2, "ip", "route", "show", "proto", "136"); !strings.Contains(r, h3Subnet+" dev "+wireguard.DefaultName) {
			return fmt.Errorf("h2's routes:\n%s", r)
		}
		return nil
	})
	c.kill(3)
	ca, err := identity.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := identity.IssueSelf(ca, nil, "h3", []net.IP{net.ParseIP("10.213.0.13")}, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stranger.Trust = []*x509.Certificate{ca.Cert}
	nk, err := wireguard.LoadNodeKey(t.TempDir(), stranger)
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, wireguard.Annotation, nk.Annotation)
	if _, err := h1.client.Patch(ctx(t), api.KindNode, "", "h3", []byte(patch)); err != nil {
		t.Fatalf("write a foreign key on h3: %v", err)
	}
	poll.Until(t, 30*time.Second, "h2 reaches h3 over VXLAN, not WireGuard", func() error {
		r := nsRun(t, 2, "ip", "route", "show", "proto", "136")
		if !strings.Contains(r, h3Subnet+" via "+h3Net+" dev shoal.vx onlink") {
			return fmt.Errorf("h2's routes:\n%s", r)
		}
		return nil
	})
	logData, _ := os.ReadFile(filepath.Join(clusterStateDir, "h2", "agent.log"))
	if !regexp.MustCompile(`its published key is refused.* node=h3 .*certificate not issued by this cluster's CA`).Match(logData) {
		t.Errorf("h2 logged no refusal of h3's foreign key")
	}

	// vxlan on both sides of the router: the same capture shows the marker.
	vxlan := append(os.Environ(), "SHOAL_POD_NETWORK_BACKEND=vxlan")
	c.script(time.Minute, vxlan, "upgrade", "1")
	c.script(time.Minute, vxlan, "upgrade", "2")
	poll.Until(t, 30*time.Second, "h1 and h2 on vxlan", func() error {
		got := nodeBackends(t, h1)
		if got["h1"] != "vxlan" || got["h2"] != "vxlan" {
			return fmt.Errorf("backends %v", got)
		}
		return nil
	})
	if strings.Contains(nsRun(t, 1, "ip", "link", "show"), wireguard.DefaultName) {
		t.Error("h1 on vxlan kept a WireGuard device")
	}
	poll.Until(t, 30*time.Second, "h1's pod reaches h2's over vxlan", func() error {
		out, err := get("wg-h1", "http://"+ip("wg-h2")+":8080/")
		if err != nil || !strings.Contains(out, "remote="+ip("wg-h1")+":") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	marker, seen = crossRouter()
	if !bytes.Contains(seen, []byte(marker)) {
		t.Errorf("with vxlan the marker is not seen on the router: the capture proves nothing")
	}
	t.Logf("with VXLAN: %d bytes captured on the router, the marker in clear text", len(seen))
}
