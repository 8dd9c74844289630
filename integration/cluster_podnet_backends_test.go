package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// subnetPods is a server pod pinned to each of three hosts, a NodePort
// Service for the one on h2 and a Service per pod.
const subnetPods = `apiVersion: v1
kind: Pod
metadata: {name: on-h1, labels: {app: sn, host: h1}}
spec:
  nodeName: h1
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-h2, labels: {app: sn, host: h2}}
spec:
  nodeName: h2
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-h3, labels: {app: sn, host: h3}}
spec:
  nodeName: h3
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"], ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: sn-h2}
spec:
  type: NodePort
  selector: {app: sn, host: h2}
  ports: [{port: 80, targetPort: 8080, nodePort: 30090}]
---
apiVersion: v1
kind: Service
metadata: {name: sn-h1}
spec:
  selector: {app: sn, host: h1}
  ports: [{port: 80, targetPort: 8080}]
`

// nsRun runs a command in host i's network namespace.
func nsRun(t *testing.T, i int, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{fmt.Sprintf("--net=/var/run/netns/shoal-h%d", i), "--"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("h%d: %s: %v: %s", i, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nodeBackends maps each node to the BACKEND column of `get nodes -o wide`.
func nodeBackends(t *testing.T, h *clusterHost) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(h.shoal("get", "nodes", "-o", "wide")), "\n")
	out := map[string]string{}
	col := strings.Index(lines[0], "BACKEND")
	if col < 0 {
		t.Fatalf("no BACKEND column:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines[1:] {
		if len(l) > col {
			out[strings.Fields(l)[0]] = strings.TrimSpace(l[col:])
		}
	}
	return out
}

// TestPodNetworkAcrossRoutedSubnets runs three hosts on two subnets joined
// by a router that drops pod traffic (h1 and h3 on one, h2 on the other):
// auto takes host-gw within a subnet and WireGuard across the router
// (every agent publishes a key of the cluster); pods
// reach each other by address (source kept) and Service name, a NodePort
// answers on every host, 1 MB bodies pass (no MTU black hole). With
// host-gw forced on both sides, pod traffic across the router fails (so
// the router does drop it). A host killed and started again keeps its
// pods' connectivity; a deleted node leaves no route on the others.
// (TestPodNetworkWireGuardAcrossRoutedSubnets runs VXLAN across the router.)
func TestPodNetworkAcrossRoutedSubnets(t *testing.T) {
	c := startClusterSubnets(t, 3, 2)
	h1, h2 := c.agent(1), c.agent(2)
	if got := h2.url; got != "https://10.213.1.12:7480" {
		t.Fatalf("h2 at %s, want the second subnet", got)
	}
	if _, errOut, err := h1.shoalIn([]byte(subnetPods), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	pods := map[string]*api.Pod{}
	poll.Until(t, 90*time.Second, "the three pods running with addresses", func() error {
		for _, p := range h1.pods(t, "default", "app=sn") {
			pods[p.Name] = p
		}
		for _, name := range []string{"on-h1", "on-h2", "on-h3"} {
			if p := pods[name]; p == nil || p.Status.Phase != api.PodRunning || p.Status.PodIP == "" {
				return fmt.Errorf("%s not running yet", name)
			}
		}
		return nil
	})
	poll.Until(t, 30*time.Second, "BACKEND: host-gw within a subnet, wireguard across", func() error {
		got := nodeBackends(t, h1)
		if got["h1"] != "host-gw,wireguard" || got["h2"] != "wireguard" || got["h3"] != "host-gw,wireguard" {
			return fmt.Errorf("backends %v", got)
		}
		return nil
	})
	t.Logf("BACKEND column: %v", nodeBackends(t, h1))
	h2Subnet := pods["on-h2"].Status.PodIP[:strings.LastIndex(pods["on-h2"].Status.PodIP, ".")] + ".0/24"
	if r := nsRun(t, 1, "ip", "route", "show", "proto", "136"); !strings.Contains(r, h2Subnet+" dev shoal.wg") {
		t.Errorf("h1's route to h2's pods is not over WireGuard:\n%s", r)
	}

	// get calls url from pod, returning its body.
	get := func(pod, url string) (string, error) {
		return execIn(t, h1, pod, "get", "--timeout", "3s", url)
	}
	reach := func(what, pod, url, want string) {
		t.Helper()
		poll.Until(t, 30*time.Second, what, func() error {
			out, err := get(pod, url)
			if err != nil || !strings.Contains(out, want) {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}
	ip := func(name string) string { return pods[name].Status.PodIP }
	reach("h1's pod to h2's by address, source kept", "on-h1", "http://"+ip("on-h2")+":8080/", "remote="+ip("on-h1")+":")
	reach("h2's pod to h1's by Service name", "on-h2", "http://sn-h1/hostname", "on-h1")
	reach("h3's pod to h2's by Service name", "on-h3", "http://sn-h2/hostname", "on-h2")
	reach("h3's pod to h1's on the same subnet", "on-h3", "http://"+ip("on-h1")+":8080/", "remote="+ip("on-h3")+":")
	for i := 1; i <= 3; i++ {
		addr := c.agent(i).address()
		poll.Until(t, 30*time.Second, fmt.Sprintf("the NodePort on h%d", i), func() error {
			out, err := httpGet("http://" + addr + ":30090/hostname")
			if err != nil || out != "on-h2" {
				return fmt.Errorf("%v: %q", err, out)
			}
			return nil
		})
	}
	// 1 MB and more in one body across the router, both ways: the test
	// app's own binary, as the serving pod reads it over loopback.
	for _, pair := range [][2]string{{"on-h1", "on-h2"}, {"on-h2", "on-h3"}} {
		want, err := get(pair[1], "http://127.0.0.1:8080/file?path=/testapp")
		if err != nil || len(want) < 1<<20 {
			t.Fatalf("%s serving its binary to itself: %d bytes, %v", pair[1], len(want), err)
		}
		out, err := get(pair[0], "http://"+ip(pair[1])+":8080/file?path=/testapp")
		if err != nil || out != want {
			t.Errorf("%s fetching %d bytes from %s: got %d bytes, %v", pair[0], len(want), pair[1], len(out), err)
		}
		t.Logf("%s fetched %d bytes from %s", pair[0], len(out), pair[1])
	}
	// The same body to a client outside the cluster through the NodePort of
	// h1 and h3, relayed to h2's pod over the tunnel: the client offers a
	// 1500-byte path's MSS, the pod's smaller MTU sets the segments both
	// ways, so nothing is dropped for its size (no MSS clamping needed).
	binary, err := get("on-h2", "http://127.0.0.1:8080/file?path=/testapp")
	if err != nil {
		t.Fatalf("on-h2 serving its binary to itself: %v", err)
	}
	for _, i := range []int{1, 3} {
		addr := c.agent(i).address()
		out, err := exec.Command("curl", "-sS", "--max-time", "30", "http://"+addr+":30090/file?path=/testapp").Output()
		if err != nil || strings.TrimSpace(string(out)) != strings.TrimSpace(binary) {
			t.Errorf("the NodePort on h%d relaying %d bytes from h2's pod: got %d bytes, %v", i, len(binary), len(out), err)
		}
		t.Logf("the NodePort on h%d relayed %d bytes from h2's pod", i, len(out))
	}

	// host-gw forced on h1 and h2: no route can cross the router.
	hostGW := append(os.Environ(), "SHOAL_POD_NETWORK_BACKEND=host-gw")
	c.script(time.Minute, hostGW, "upgrade", "1")
	c.script(time.Minute, hostGW, "upgrade", "2")
	poll.Until(t, 30*time.Second, "h1 and h2 on host-gw", func() error {
		got := nodeBackends(t, h1)
		if got["h1"] != "host-gw" || got["h2"] != "host-gw" {
			return fmt.Errorf("backends %v", got)
		}
		return nil
	})
	if out, err := get("on-h1", "http://"+ip("on-h2")+":8080/"); err == nil {
		t.Errorf("with host-gw, h1's pod reached h2's across the router: %s", out)
	} else {
		t.Logf("with host-gw, h1's pod to h2's fails as it should: %s", strings.TrimSpace(out))
	}
	if links := nsRun(t, 1, "ip", "link", "show"); strings.Contains(links, "shoal.vx") || strings.Contains(links, "shoal.wg") {
		t.Error("h1 on host-gw kept a tunnel device")
	}
	c.script(time.Minute, nil, "upgrade", "1")
	c.script(time.Minute, nil, "upgrade", "2")
	reach("back on auto: h1's pod to h2's", "on-h1", "http://"+ip("on-h2")+":8080/", "remote="+ip("on-h1")+":")

	// h2 killed and started again: its pod comes back, reachable.
	c.kill(2)
	c.start(2)
	poll.Until(t, 90*time.Second, "h2's pod running again", func() error {
		for _, p := range h1.pods(t, "default", "host=h2") {
			if p.Status.Phase == api.PodRunning && p.Status.PodIP != "" && api.IsPodReady(p) {
				pods["on-h2"] = p
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	reach("after h2's restart: h1's pod to h2's by Service name", "on-h1", "http://sn-h2/hostname", "on-h2")
	reach("after h2's restart: h2's pod to h1's", "on-h2", "http://"+ip("on-h1")+":8080/", "remote="+ip("on-h2")+":")

	// h3 stopped and deleted: nothing of it stays on h1 (host-gw) or h2
	// (WireGuard).
	h3Subnet := ip("on-h3")[:strings.LastIndex(ip("on-h3"), ".")] + ".0"
	if r := nsRun(t, 2, "ip", "route", "show", "proto", "136"); !strings.Contains(r, h3Subnet+"/24 dev shoal.wg") {
		t.Fatalf("h2 has no route over WireGuard to h3 before its deletion:\n%s", r)
	}
	c.kill(3)
	h1.shoal("delete", "node", "h3")
	start := time.Now()
	poll.Until(t, 30*time.Second, "no route, forwarding or neighbour entry for h3 left", func() error {
		for i := 1; i <= 2; i++ {
			if r := nsRun(t, i, "ip", "route", "show", "proto", "136"); strings.Contains(r, h3Subnet+"/24") {
				return fmt.Errorf("h%d route: %s", i, r)
			}
		}
		return nil
	})
	t.Logf("h3's routes gone %s after its deletion", time.Since(start).Round(time.Millisecond))
}
