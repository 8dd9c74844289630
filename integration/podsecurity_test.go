package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// hostRunsPrivileged reports whether this host's engine can start a
// privileged container (a host whose capability bounding set lacks some,
// such as a sandboxed VM, cannot).
func hostRunsPrivileged(t *testing.T) bool {
	out, err := exec.Command("docker", "run", "--rm", "--privileged", "--entrypoint", "/bin/sh", "shoal-testapp:v1", "-c", "true").CombinedOutput()
	if err != nil {
		t.Logf("this host cannot run privileged containers: %s", strings.TrimSpace(string(out)))
	}
	return err == nil
}

// labelNamespace applies a Namespace with one Pod Security label.
func labelNamespace(t *testing.T, a *agent, name, mode, level string) {
	t.Helper()
	ns := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels: {pod-security.kubernetes.io/%s: %s}
`, name, mode, level)
	if out, errOut, err := a.shoalIn([]byte(ns), "apply", "-f", "-"); err != nil {
		t.Fatalf("label namespace %s: %v\n%s%s", name, err, out, errOut)
	}
}

func podIn(t *testing.T, a *agent, ns, name string) *api.Pod {
	o, err := a.client.Get(ctx(t), api.KindPod, ns, name)
	if err != nil {
		return nil
	}
	return o.(*api.Pod)
}

func waitRunning(t *testing.T, a *agent, ns, name string) *api.Pod {
	t.Helper()
	var p *api.Pod
	poll.Until(t, 60*time.Second, ns+"/"+name+" running", func() error {
		if p = podIn(t, a, ns, name); p == nil {
			return fmt.Errorf("not found")
		}
		if p.Status.Phase != api.PodRunning {
			return fmt.Errorf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		return nil
	})
	return p
}

const privilegedPodYAML = `apiVersion: v1
kind: Pod
metadata: {name: rooted, namespace: %s}
spec:
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    securityContext: {privileged: true}
`

const hostPathPodYAML = `apiVersion: v1
kind: Pod
metadata: {name: hostroot, namespace: %s}
spec:
  volumes:
  - {name: root, hostPath: {path: /}}
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    volumeMounts: [{name: root, mountPath: /host, readOnly: true}]
`

const privilegedDeploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: rooted, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: rooted}}
  template:
    metadata: {labels: {app: rooted}}
    spec:
      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["sleep", "infinity"]
        securityContext: {privileged: true}
`

func TestPodSecurityRefusesUnderTheDefaultAndAllowsAPrivilegedNamespace(t *testing.T) {
	a := startAgent(t)
	refusals := []struct {
		what, manifest, field string
	}{
		{"a privileged pod", fmt.Sprintf(privilegedPodYAML, "default"), "spec.containers[0].securityContext.privileged"},
		{"a hostPath pod", fmt.Sprintf(hostPathPodYAML, "default"), "spec.volumes[0].hostPath"},
		{"a deployment with a privileged container", fmt.Sprintf(privilegedDeploymentYAML, "default"),
			"spec.template.spec.containers[0].securityContext.privileged"},
		{"a host network pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hn"},"spec":{"hostNetwork":true,
			"containers":[{"name":"app","image":"shoal-testapp:v1"}]}}`, "spec.hostNetwork"},
		{"a privileged host port", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hp"},"spec":{
			"containers":[{"name":"app","image":"shoal-testapp:v1","ports":[{"containerPort":80,"hostPort":80}]}]}}`,
			"spec.containers[0].ports[0].hostPort"},
		{"an added capability", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"cap"},"spec":{
			"containers":[{"name":"app","image":"shoal-testapp:v1","securityContext":{"capabilities":{"add":["SYS_ADMIN"]}}}]}}`,
			"spec.containers[0].securityContext.capabilities.add[0]"},
	}
	for _, r := range refusals {
		out, errOut, err := a.shoalIn([]byte(r.manifest), "apply", "-f", "-")
		if err == nil {
			t.Fatalf("%s was accepted: %s", r.what, out)
		}
		for _, want := range []string{"forbidden", `"baseline:latest"`, r.field, "pod-security.kubernetes.io/enforce=privileged"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: the refusal lacks %q:\n%s", r.what, want, errOut)
			}
		}
	}
	if _, _, err := a.shoalIn(nil, "get", "deployment", "rooted"); err == nil {
		t.Fatal("the refused deployment exists")
	}
	if _, _, err := a.shoalIn(nil, "get", "pod", "rooted"); err == nil {
		t.Fatal("the refused pod exists")
	}

	labelNamespace(t, a, "ops", "enforce", "privileged")
	for _, m := range []string{privilegedPodYAML, hostPathPodYAML, privilegedDeploymentYAML} {
		if out, errOut, err := a.shoalIn([]byte(fmt.Sprintf(m, "ops")), "apply", "-f", "-"); err != nil {
			t.Fatalf("refused in a privileged namespace: %v\n%s%s", err, out, errOut)
		}
	}
	waitRunning(t, a, "ops", "hostroot")
	if out := strings.TrimSpace(a.shoal("exec", "-n", "ops", "hostroot", "--", "cat", "/host/proc/1/comm")); out == "" {
		t.Fatal("the hostPath pod does not see the host")
	}
	if hostRunsPrivileged(t) {
		rooted := waitRunning(t, a, "ops", "rooted")
		id := strings.TrimPrefix(rooted.Status.ContainerStatuses[0].ContainerID, "docker://")
		if priv := docker(t, "inspect", "-f", "{{.HostConfig.Privileged}}", id); priv != "true" {
			t.Fatalf("privileged %s", priv)
		}
		poll.Until(t, 60*time.Second, "the privileged deployment's pod ready", func() error {
			if n := readyPods(a.pods(t, "ops", "app=rooted")); n != 1 {
				return fmt.Errorf("%d ready", n)
			}
			return nil
		})
	} else {
		// This host's engine cannot start privileged containers at all
		// (its capability bounding set lacks some); the pods were admitted
		// and the engine was asked for a privileged container.
		for _, name := range []string{"rooted", ""} {
			poll.Until(t, 60*time.Second, "the engine asked for a privileged container", func() error {
				var p *api.Pod
				if name != "" {
					p = podIn(t, a, "ops", name)
				} else if ps := a.pods(t, "ops", "app=rooted"); len(ps) == 1 {
					p = ps[0]
				}
				if p == nil || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
					!strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, "apply caps") {
					return fmt.Errorf("%+v", p)
				}
				return nil
			})
		}
	}
	rooted := podIn(t, a, "ops", "rooted")
	// Relabelling the namespace warns about the running pods and leaves them.
	labels := `apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {pod-security.kubernetes.io/enforce: baseline}}
`
	_, errOut, err := a.shoalIn([]byte(labels), "apply", "-f", "-")
	if err != nil || !strings.Contains(errOut, `existing pods in namespace "ops" violate the new PodSecurity enforce level "baseline:latest"`) {
		t.Fatalf("relabel: %v\n%s", err, errOut)
	}
	time.Sleep(2 * time.Second) // a relabel must not touch running pods
	if p := podIn(t, a, "ops", "rooted"); p == nil || p.UID != rooted.UID || p.DeletionTimestamp != nil {
		t.Fatalf("the pod was touched: %+v", p)
	}
	if p := podIn(t, a, "ops", "hostroot"); p == nil || p.Status.Phase != api.PodRunning {
		t.Fatalf("the running pod was touched: %+v", p)
	}
}

func TestPodSecurityWarnLevelAcceptsWithWarnings(t *testing.T) {
	a := startAgent(t)
	labelNamespace(t, a, "team", "warn", "restricted")
	pod := `apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: team}
spec:
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"]}
`
	_, errOut, err := a.shoalIn([]byte(pod), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("refused: %v %s", err, errOut)
	}
	for _, field := range []string{"allowPrivilegeEscalation", "capabilities.drop", "runAsNonRoot", "seccompProfile.type"} {
		if !strings.Contains(errOut, `would violate PodSecurity "restricted": spec.containers[0].securityContext.`+field) {
			t.Errorf("no warning for %s:\n%s", field, errOut)
		}
	}
	waitRunning(t, a, "team", "plain")
	// A restricted agent default refuses the same pod elsewhere.
	b := startAgent(t, "--pod-security-default", "restricted")
	if _, errOut, err := b.shoalIn([]byte(strings.Replace(pod, "namespace: team", "namespace: default", 1)), "apply", "-f", "-"); err == nil ||
		!strings.Contains(errOut, `"restricted:latest"`) || !strings.Contains(errOut, "--pod-security-default") {
		t.Fatalf("a restricted default admitted it: %v\n%s", err, errOut)
	}
}

// procStatus reads fields of /proc/<which>/status in a pod's container.
func procStatus(t *testing.T, a *agent, ns, pod, which string) map[string]string {
	t.Helper()
	out := a.shoal("exec", "-n", ns, pod, "--", "cat", "/proc/"+which+"/status")
	fields := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// dockerDefaultCaps is the engine's default capability set: CHOWN,
// DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
const dockerDefaultCaps = 0xa80425fb

func TestContainersRunWithNoNewPrivilegesAndTheirCapabilities(t *testing.T) {
	a := startAgent(t)
	labelNamespace(t, a, "caps", "enforce", "privileged")
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"]}
---
apiVersion: v1
kind: Pod
metadata: {name: dropall}
spec:
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    securityContext: {capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Pod
metadata: {name: netadmin, namespace: caps}
spec:
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    securityContext: {capabilities: {add: [NET_ADMIN]}}
---
apiVersion: v1
kind: Pod
metadata: {name: escalating, namespace: caps}
spec:
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    securityContext: {allowPrivilegeEscalation: true}
---
apiVersion: v1
kind: Pod
metadata: {name: unconfined, namespace: caps}
spec:
  securityContext:
    seccompProfile: {type: Unconfined}
    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "80"}]
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"]}
`
	if out, errOut, err := a.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	cases := []struct {
		ns, pod    string
		noNewPrivs string
		capEff     uint64
	}{
		{"default", "plain", "1", dockerDefaultCaps},
		{"default", "dropall", "1", 0},
		{"caps", "netadmin", "1", dockerDefaultCaps | 1<<12},
		{"caps", "escalating", "0", dockerDefaultCaps},
	}
	for _, c := range cases {
		waitRunning(t, a, c.ns, c.pod)
		for _, which := range []string{"1", "self"} {
			st := procStatus(t, a, c.ns, c.pod, which)
			capEff, err := strconv.ParseUint(st["CapEff"], 16, 64)
			if err != nil || capEff != c.capEff || st["NoNewPrivs"] != c.noNewPrivs {
				t.Errorf("%s /proc/%s: CapEff %s NoNewPrivs %s, want %x and %s", c.pod, which, st["CapEff"], st["NoNewPrivs"], c.capEff, c.noNewPrivs)
			}
			if st["Seccomp"] != "2" {
				t.Errorf("%s /proc/%s: Seccomp %s, want 2 (the engine's default filter)", c.pod, which, st["Seccomp"])
			}
		}
	}
	waitRunning(t, a, "caps", "unconfined")
	if st := procStatus(t, a, "caps", "unconfined", "1"); st["Seccomp"] != "0" {
		t.Errorf("unconfined: Seccomp %s, want 0", st["Seccomp"])
	}
	if v := strings.TrimSpace(a.shoal("exec", "-n", "caps", "unconfined", "--", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start")); v != "80" {
		t.Errorf("the pod's sysctl is %q, want 80", v)
	}
}

func TestRunAsNonRootWithARootImageIsNotStarted(t *testing.T) {
	a := startAgent(t)
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"]}
---
apiVersion: v1
kind: Pod
metadata: {name: nonroot-uid}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000}
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"]}
`
	if out, errOut, err := a.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	waitPod(t, a, "nonroot", "CreateContainerConfigError", 60*time.Second, func(p *api.Pod) error {
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "CreateContainerConfigError" ||
			!strings.Contains(cs[0].State.Waiting.Message, "container has runAsNonRoot and image will run as root") {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	for _, c := range runningApps(t, a.name) {
		if c.Labels["io.shoal.pod.name"] == "nonroot" {
			t.Fatalf("the root container runs: %s", c.ID)
		}
	}
	waitRunning(t, a, "default", "nonroot-uid")
	if uid := strings.TrimSpace(a.shoal("exec", "nonroot-uid", "--", "id", "-u")); uid != "1000" {
		t.Fatalf("runs as %q", uid)
	}
}

func TestASubPathSymlinkDoesNotExposeTheHost(t *testing.T) {
	a := startAgent(t)
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: escape}
spec:
  volumes:
  - {name: shared, emptyDir: {}}
  initContainers:
  - name: plant
    image: shoal-testapp:v1
    command: ["/bin/sh", "-c", "ln -s / /shared/escape && ln -s ../../../../../.. /shared/up && mkdir -p /shared/real && echo inside > /shared/real/f"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: victim
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    volumeMounts: [{name: shared, mountPath: /host, subPath: escape}]
  - name: climber
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    volumeMounts: [{name: shared, mountPath: /host, subPath: up}]
  - name: honest
    image: shoal-testapp:v1
    args: ["sleep", "infinity"]
    volumeMounts: [{name: shared, mountPath: /data, subPath: real}]
`
	if out, errOut, err := a.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	waitPod(t, a, "escape", "the escaping mounts refused", 60*time.Second, func(p *api.Pod) error {
		waiting := 0
		for _, cs := range p.Status.ContainerStatuses {
			if (cs.Name == "victim" || cs.Name == "climber") && cs.State.Waiting != nil &&
				cs.State.Waiting.Reason == "CreateContainerConfigError" && strings.Contains(cs.State.Waiting.Message, "escapes its volume") {
				waiting++
			}
		}
		if waiting != 2 {
			return fmt.Errorf("%+v", p.Status.ContainerStatuses)
		}
		return nil
	})
	poll.Until(t, 60*time.Second, "the honest container running", func() error {
		for _, c := range runningApps(t, a.name) {
			if c.Labels["io.shoal.container.name"] == "honest" {
				return nil
			}
		}
		return fmt.Errorf("not running")
	})
	if out := strings.TrimSpace(a.shoal("exec", "escape", "-c", "honest", "--", "cat", "/data/f")); out != "inside" {
		t.Fatalf("the honest subPath shows %q", out)
	}
	for _, c := range dockerPS(t, a.name) {
		if n := c.Labels["io.shoal.container.name"]; n == "victim" || n == "climber" {
			t.Fatalf("a container with an escaping subPath exists: %s", c.ID)
		}
		mounts := docker(t, "inspect", "-f", `{{range .Mounts}}{{.Source}} {{end}}`, c.ID)
		for _, src := range strings.Fields(mounts) {
			if src == "/" {
				t.Fatalf("container %s mounts the host's root", c.ID)
			}
		}
	}
	a.shoal("delete", "pod", "escape")
	// The agent runs in this host's mount namespace: its mounts are ours.
	poll.Until(t, 60*time.Second, "the pod's staged mounts removed", func() error {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return err
		}
		if n := strings.Count(string(b), a.dataDir+"/pods"); n != 0 {
			return fmt.Errorf("%d mounts left under the data dir", n)
		}
		return nil
	})
}

func TestAHostNetworkPodHasTheHostIPInItsEndpoints(t *testing.T) {
	a := startAgent(t)
	labelNamespace(t, a, "hostnet", "enforce", "privileged")
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: onhost, namespace: hostnet, labels: {app: onhost}}
spec:
  hostNetwork: true
  containers:
  - {name: app, image: shoal-testapp:v1, args: ["sleep", "infinity"], ports: [{containerPort: 18080}]}
---
apiVersion: v1
kind: Service
metadata: {name: onhost, namespace: hostnet}
spec:
  selector: {app: onhost}
  ports: [{port: 80, targetPort: 18080}]
`
	if out, errOut, err := a.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	p := waitRunning(t, a, "hostnet", "onhost")
	if p.Status.PodIP == "" || p.Status.PodIP != p.Status.HostIP {
		t.Fatalf("pod IP %q, host IP %q", p.Status.PodIP, p.Status.HostIP)
	}
	if hp := p.Spec.Containers[0].Ports[0].HostPort; hp != 18080 {
		t.Fatalf("hostPort %d, want the container port", hp)
	}
	poll.Until(t, 30*time.Second, "endpoints with the host IP", func() error {
		o, err := a.client.Get(ctx(t), api.KindEndpoints, "hostnet", "onhost")
		if err != nil {
			return err
		}
		ep := o.(*api.Endpoints)
		for _, s := range ep.Subsets {
			for _, addr := range s.Addresses {
				if addr.IP == p.Status.HostIP {
					return nil
				}
			}
		}
		return fmt.Errorf("%+v", ep.Subsets)
	})
}
