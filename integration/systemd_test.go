package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// systemdHost is a Debian booted with systemd as its PID 1 by
// systemd-nspawn, with its own network namespace (loopback only) and its
// own Docker Engine: a host as `shoal install` expects one.
type systemdHost struct {
	t       *testing.T
	nspawn  *exec.Cmd
	initPID int
	console *bytes.Buffer
}

// bootSystemdHost builds (once, cached in ~/.cache/shoal) or reuses the
// root of scripts/systemd-root and boots it. Its root is an overlay on a
// tmpfs (--volatile=overlay): nothing a test does reaches the cached root.
// share is bound read-only at /opt/shoal-test.
func bootSystemdHost(t *testing.T, share string) *systemdHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the systemd test needs root: it boots a container with systemd-nspawn")
	}
	start := time.Now()
	out, err := exec.Command("../scripts/systemd-root").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("scripts/systemd-root could not build the Debian root to boot under systemd: %v\n%s", err, stderr)
	}
	root := strings.TrimSpace(string(out))
	t.Logf("the systemd root %s ready in %s", root, time.Since(start).Round(100*time.Millisecond))

	name := fmt.Sprintf("shoal-it-sd-%d", os.Getpid())
	h := &systemdHost{t: t, console: &bytes.Buffer{}}
	// --register=no and --keep-unit: this machine's PID 1 is not systemd,
	// so there is no machined or system bus to register with.
	// SYSTEMD_SECCOMP=0: nspawn's own seccomp filter refuses the keyring
	// calls (they are not namespaced), and runc creates a session keyring
	// for every container; a host booted by its own systemd has no such
	// filter.
	h.nspawn = exec.Command("systemd-nspawn", "--boot", "--directory", root, "--machine", name,
		"--register=no", "--keep-unit", "--volatile=overlay", "--private-network",
		"--capability=all", "--bind-ro="+share+":/opt/shoal-test")
	h.nspawn.Env = append(os.Environ(), "SYSTEMD_SECCOMP=0")
	h.nspawn.Stdout, h.nspawn.Stderr = h.console, h.console
	if err := h.nspawn.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v (apt-get install systemd-container)", err)
	}
	exited := make(chan struct{})
	go func() { _ = h.nspawn.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM asks the container's systemd to power off.
		_ = h.nspawn.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("the systemd container did not power off within 30 s; killed")
			_ = h.nspawn.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("the container's console:\n%s", tailString(h.console.String(), 40))
		}
	})
	// The container's PID 1 is the child of systemd-nspawn that runs
	// systemd (nspawn's own short-lived helpers come and go first).
	poll.Until(t, 30*time.Second, "the container's systemd", func() error {
		pid := h.nspawn.Process.Pid
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + f + "/comm")
			if strings.TrimSpace(string(comm)) == "systemd" {
				h.initPID, err = strconv.Atoi(f)
				return err
			}
		}
		return fmt.Errorf("no systemd among systemd-nspawn's children %q; console:\n%s", b, tailString(h.console.String(), 10))
	})
	poll.Until(t, 60*time.Second, "systemd inside up (is-system-running)", func() error {
		out, _ := h.sh("systemctl is-system-running")
		if out == "running" || out == "degraded" {
			return nil
		}
		return fmt.Errorf("is-system-running: %q", out)
	})
	// On cgroup v1, nspawn mounts the container's controllers read-only
	// (bind mounts made read-only), so its engine could not make a
	// container's cgroup; a host's own systemd leaves them writable. Only
	// the read-only flag of those bind mounts changes.
	h.must(`findmnt -rn -o TARGET,FSTYPE,OPTIONS | awk '($2 == "cgroup" || $2 == "cgroup2") && $3 ~ /(^|,)ro(,|$)/ {print $1}' |
		while read -r m; do mount -o remount,bind,rw "$m"; done`)
	return h
}

// sh runs a shell script inside the container (all its namespaces) and
// returns its trimmed combined output.
func (h *systemdHost) sh(script string) (string, error) {
	cx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cx, "nsenter", "--target", strconv.Itoa(h.initPID), "--all", "--",
		"/bin/sh", "-c", "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; "+script)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// must is sh that fails the test on an error.
func (h *systemdHost) must(script string) string {
	h.t.Helper()
	out, err := h.sh(script)
	if err != nil {
		h.t.Fatalf("in the systemd container: %s: %v\n%s", script, err, out)
	}
	return out
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestInstalledUnitRunsUnderSystemd installs the agent with `shoal
// install` on a Debian booted with systemd as PID 1 (systemd-nspawn) that
// runs its own Docker Engine, starts the unit as docs/install.md says, and
// checks that it is active and enabled, the agent ready, its records in the
// journal under the unit with their levels' priorities (journalctl -p
// filters by them), that Restart=always brings a killed agent back, and
// that systemctl stop ends it cleanly; and that the unit's agent runs a
// Deployment's pods on the container's engine, which outlive the agent's
// kill, restart and stop.
func TestInstalledUnitRunsUnderSystemd(t *testing.T) {
	share := t.TempDir()
	if err := os.Chmod(share, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(shoalBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(share, "shoal"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test image, for the container's own engine: no registry.
	if out, err := exec.Command("docker", "save", "-o", filepath.Join(share, "images.tar"), testImage).CombinedOutput(); err != nil {
		t.Fatalf("docker save %s: %v: %s", testImage, err, out)
	}
	if err := os.Chmod(filepath.Join(share, "images.tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	booted := time.Now()
	h := bootSystemdHost(t, share)
	t.Logf("booted in %s", time.Since(booted).Round(100*time.Millisecond))
	if pid1 := h.must("cat /proc/1/comm"); pid1 != "systemd" {
		t.Fatalf("PID 1 in the container is %q, want systemd", pid1)
	}
	poll.Until(t, 30*time.Second, "the container's Docker Engine", func() error {
		_, err := h.sh("docker info >/dev/null")
		return err
	})

	// As docs/install.md says.
	out := h.must("/opt/shoal-test/shoal install --name sd1 --api-addr 127.0.0.1:7480 --bind 127.0.0.1:7481 --advertise 127.0.0.1:7481 --log-level debug")
	if !strings.Contains(out, "/etc/systemd/system/shoal.service") {
		t.Errorf("install said %q", out)
	}
	h.must("systemctl daemon-reload && systemctl enable --now shoal")
	started := time.Now()
	poll.Until(t, 60*time.Second, "the agent's /readyz under systemd", func() error {
		if err := h.ready(); err != nil {
			st, _ := h.sh("systemctl status shoal --no-pager -n 5")
			return fmt.Errorf("%v; %s", err, st)
		}
		return nil
	})
	t.Logf("the unit's agent ready %s after systemctl enable --now", time.Since(started).Round(100*time.Millisecond))
	if st := h.must("systemctl is-active shoal; systemctl is-enabled shoal"); st != "active\nenabled" {
		t.Errorf("systemctl is-active, is-enabled: %q", st)
	}

	// The journal: one entry per record, under the unit, with the level's
	// priority, and no priority prefix or timestamp left in the message.
	entries := journal(t, h, "journalctl -u shoal -o json --no-pager")
	prios := map[string]int{}
	for _, e := range entries {
		msg := e["MESSAGE"]
		if e["SYSLOG_IDENTIFIER"] != "shoal" || e["_SYSTEMD_UNIT"] != "shoal.service" {
			continue // systemd's own lines about the unit
		}
		prios[e["PRIORITY"]]++
		if strings.HasPrefix(msg, "<") || strings.Contains(msg, "time=") || !strings.Contains(msg, "msg=") {
			t.Errorf("a journal message with a priority prefix or a time, or not a record: %q", msg)
		}
		if p := e["PRIORITY"]; strings.Contains(msg, "level=DEBUG") && p != "7" || strings.Contains(msg, "level=INFO") && p != "6" ||
			strings.Contains(msg, "level=WARN") && p != "4" || strings.Contains(msg, "level=ERROR") && p != "3" {
			t.Errorf("priority %s for %q", p, msg)
		}
	}
	t.Logf("the agent's journal entries by priority: %v", prios)
	if prios["6"] == 0 || prios["7"] == 0 {
		t.Errorf("want info (PRIORITY 6) and debug (7) entries of the agent in the journal: %v", prios)
	}
	// journalctl -p filters by them: no debug entry at -p info.
	for _, e := range journal(t, h, "journalctl -u shoal -p info -o json --no-pager") {
		if p, _ := strconv.Atoi(e["PRIORITY"]); p > 6 {
			t.Errorf("journalctl -p info shows an entry of priority %d: %q", p, e["MESSAGE"])
		}
	}

	// The unit's agent runs pods: a Deployment of 2 applied with the
	// CLI inside, its pods Running on the container's engine and
	// answering on their pod IPs.
	h.must("docker load -i /opt/shoal-test/images.tar")
	h.must(`shoal apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: ` + testImage + `}]
EOF`)
	var ips []string
	poll.Until(t, 60*time.Second, "2 pods of the unit's agent Running", func() error {
		var list struct {
			Items []struct {
				Status struct{ Phase, PodIP string }
			}
		}
		out, err := h.sh("shoal get pods -l app=web -o json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return fmt.Errorf("shoal get pods -o json: %v", err)
		}
		ips = ips[:0]
		for _, p := range list.Items {
			if p.Status.Phase == "Running" && p.Status.PodIP != "" {
				ips = append(ips, p.Status.PodIP)
			}
		}
		if len(ips) != 2 {
			events, _ := h.sh("shoal get events 2>&1 | tail -n 4")
			return fmt.Errorf("%d of 2 Running with an IP; last events:\n%s", len(ips), events)
		}
		return nil
	})
	for _, ip := range ips {
		poll.Until(t, 20*time.Second, "pod "+ip+" answering", func() error {
			out, err := h.sh("curl -fsS --max-time 2 http://" + ip + ":8080/")
			if err != nil || !strings.Contains(out, "testapp version=v1") {
				return fmt.Errorf("%q %v", out, err)
			}
			return nil
		})
	}
	containers := h.must("docker ps -q --no-trunc | sort")
	if n := len(strings.Fields(containers)); n != 2 {
		t.Fatalf("the container's engine runs %d containers, want the 2 pods' (one container each):\n%s", n, h.must("docker ps -a"))
	}

	// Restart=always: an agent killed with SIGKILL is started again by
	// systemd, and becomes ready again.
	mainPID := func() string { return h.must("systemctl show -p MainPID --value shoal") }
	before := mainPID()
	h.must("kill -9 " + before)
	killed := time.Now()
	poll.Until(t, 30*time.Second, "the agent started again by systemd and ready", func() error {
		if pid := mainPID(); pid == before || pid == "0" {
			return fmt.Errorf("MainPID %s", pid)
		}
		return h.ready()
	})
	t.Logf("after kill -9, systemd started the agent again and it was ready in %s (RestartSec=2s)", time.Since(killed).Round(100*time.Millisecond))
	if n := h.must("systemctl show -p NRestarts --value shoal"); n != "1" {
		t.Errorf("NRestarts %s, want 1", n)
	}

	// systemctl stop: SIGTERM, and the agent exits cleanly within
	// TimeoutStopSec (a clean exit leaves the unit inactive, not failed).
	h.must("systemctl stop shoal")
	if st, _ := h.sh("systemctl is-active shoal"); st != "inactive" {
		t.Errorf("after systemctl stop: %q, want inactive (not failed)", st)
	}
	if r := h.must("systemctl show -p Result --value shoal"); r != "success" {
		t.Errorf("the unit's Result after the stop: %q, want success", r)
	}
	// Pods are the engine's, not the unit's: neither the kill, the
	// restart nor the stop ended or replaced a container.
	if now := h.must("docker ps -q --no-trunc | sort"); now != containers {
		t.Errorf("the pods' containers changed across the agent's kill, restart and stop:\nbefore %s\nafter %s", containers, now)
	}
}

// ready returns nil when the agent in the container answers /readyz.
func (h *systemdHost) ready() error {
	out, err := h.sh("curl -fsS --max-time 2 --cacert /var/lib/shoal/identity/ca.crt https://127.0.0.1:7480/readyz")
	if err != nil || out != "ok" {
		return fmt.Errorf("readyz: %q %v", out, err)
	}
	return nil
}

// journal runs journalctl -o json in the container and returns its entries'
// text fields.
func journal(t *testing.T, h *systemdHost, cmd string) []map[string]string {
	t.Helper()
	out := h.must(cmd)
	var entries []map[string]string
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("%s: a line that is not JSON: %q", cmd, line)
		}
		e := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e[k] = s
			}
		}
		entries = append(entries, e)
	}
	return entries
}
