package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const statefulSetManifests = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 8080}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: ` + testImage + `
        args: ["serve", "--port", "8080"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
`

// gatewayTaken reports whether the agent could not serve DNS on the pod
// bridge's gateway because another process holds the port.
func gatewayTaken(a *agent) bool {
	b, err := os.ReadFile(a.logFilePath())
	return err == nil && strings.Contains(string(b), "cluster dns not serving pods")
}

// stsPodsByName lists the pods of the web StatefulSet by name.
func stsPodsByName(t *testing.T, a interface {
	pods(testing.TB, string, string) []*api.Pod
}) map[string]*api.Pod {
	out := map[string]*api.Pod{}
	for _, p := range a.pods(t, "default", "app=web") {
		out[p.Name] = p
	}
	return out
}

// A StatefulSet of 3 with volume claims on one host: the pods start in
// order, each once the one before is ready; each resolves the others by
// their stable names; a file written to a pod's claim is there again when
// the pod is deleted and made again with the same name.
func TestStatefulSetStartsInOrderWithStableNamesAndKeepsItsData(t *testing.T) {
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// Registered first, so run last: after the agent's containers are gone.
	t.Cleanup(func() {
		for i := range 3 {
			_ = exec.Command("docker", "volume", "rm", "-f", fmt.Sprintf("%sdata-web-%d", api.ClaimVolumePrefix("default"), i)).Run()
		}
	})
	a := startAgent(t, "--dns-addr", dnsAddr)
	if _, errOut, err := a.shoalIn([]byte(statefulSetManifests), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	// Every pod is first seen only once all below it are Ready.
	seen := map[string]bool{}
	took := poll.Until(t, 120*time.Second, "3 ready pods web-0..2", func() error {
		pods := stsPodsByName(t, a)
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			if pods[name] == nil || seen[name] {
				continue
			}
			seen[name] = true
			for j := range i {
				if below := pods[fmt.Sprintf("web-%d", j)]; below == nil || !api.IsPodReady(below) {
					t.Fatalf("%s made before web-%d was ready: %s", name, j, podFingerprint(a.pods(t, "default", "app=web")))
				}
			}
		}
		if n := readyPods(a.pods(t, "default", "app=web")); n != 3 {
			return fmt.Errorf("%d ready: %s", n, podFingerprint(a.pods(t, "default", "app=web")))
		}
		return nil
	})
	t.Logf("3 pods ready %s after apply", took.Round(100*time.Millisecond))
	out := a.shoal("get", "pvc")
	for i := range 3 {
		if !strings.Contains(out, fmt.Sprintf("data-web-%d", i)) {
			t.Fatalf("get pvc has no claim data-web-%d:\n%s", i, out)
		}
	}
	sts := a.shoal("get", "sts", "web", "-o", "json")
	if !strings.Contains(sts, `"readyReplicas": 3`) && !strings.Contains(sts, `"readyReplicas":3`) {
		t.Errorf("get sts web: %s", sts)
	}

	pods := stsPodsByName(t, a)
	// The stable names, asked of this agent's DNS server directly. A name
	// follows its pod's readiness through the headless Service's
	// endpoints, a moment after the pod is ready (as in Kubernetes).
	for i := range 3 {
		name := fmt.Sprintf("web-%d.web.default.svc.cluster.local.", i)
		want := pods[fmt.Sprintf("web-%d", i)].Status.PodIP
		poll.Until(t, 10*time.Second, name+" answers "+want, func() error {
			q := new(mdns.Msg)
			q.SetQuestion(name, mdns.TypeA)
			in, err := mdns.Exchange(q, dnsAddr)
			if err != nil || len(in.Answer) != 1 || !strings.Contains(in.Answer[0].String(), want) {
				return fmt.Errorf("%s at %s: %v %v", name, dnsAddr, err, in)
			}
			return nil
		})
	}
	// From a pod: its resolver asks the pod bridge's gateway. Agents of
	// other tests on this machine share that bridge; when one of them
	// holds its port 53, the pods here ask that agent, which does not know
	// this one's pods.
	if gatewayTaken(a) {
		t.Logf("another agent on this machine serves DNS on the pod gateway; the names were checked at %s only", dnsAddr)
	} else {
		poll.Until(t, 30*time.Second, "web-2 resolves web-0.web.default.svc.cluster.local", func() error {
			out, errOut, err := a.shoalIn(nil, "exec", "web-2", "--", "/testapp", "lookup", "web-0.web.default.svc.cluster.local")
			if err != nil || !strings.Contains(out, pods["web-0"].Status.PodIP) {
				return fmt.Errorf("lookup: %v %s %s (want %s)", err, out, errOut, pods["web-0"].Status.PodIP)
			}
			return nil
		})
		if out, errOut, err := a.shoalIn(nil, "exec", "web-0", "--", "/testapp", "lookup", "web-1.web"); err != nil || !strings.Contains(out, pods["web-1"].Status.PodIP) {
			t.Fatalf("web-0 looks up web-1.web: %v %s %s (want %s)", err, out, errOut, pods["web-1"].Status.PodIP)
		}
	}
	if out := strings.TrimSpace(a.shoal("exec", "web-1", "--", "/testapp", "hostname")); out != "web-1" {
		t.Errorf("hostname in web-1: %q", out)
	}

	a.shoal("exec", "web-1", "--", "/testapp", "write", "/data/note", "kept-by-web-1")
	old := pods["web-1"]
	a.shoal("delete", "pod", "web-1")
	poll.Until(t, 90*time.Second, "web-1 made again and ready", func() error {
		p := stsPodsByName(t, a)["web-1"]
		if p == nil || p.UID == old.UID || !api.IsPodReady(p) {
			return fmt.Errorf("web-1: %s", podFingerprint(a.pods(t, "default", "app=web")))
		}
		return nil
	})
	if out := strings.TrimSpace(a.shoal("exec", "web-1", "--", "/testapp", "cat", "/data/note")); out != "kept-by-web-1" {
		t.Fatalf("the file on web-1's claim reads %q after the pod was made again", out)
	}

	// Scaling down removes web-2 and keeps its claim.
	a.shoal("scale", "sts", "web", "--replicas", "2")
	poll.Until(t, 60*time.Second, "web-2 gone", func() error {
		if p := stsPodsByName(t, a)["web-2"]; p != nil {
			return fmt.Errorf("web-2 still there")
		}
		return nil
	})
	if out := a.shoal("get", "pvc"); !strings.Contains(out, "data-web-2") {
		t.Fatalf("the claim of web-2 was deleted by the scale-down:\n%s", out)
	}

	// A template change rolls out from the highest ordinal down, each pod
	// keeping its claim; the revisions are ControllerRevisions.
	before := a.getSTS(t)
	changed := strings.Replace(strings.Replace(statefulSetManifests, "replicas: 3", "replicas: 2", 1),
		`args: ["serve", "--port", "8080"]`, `args: ["serve", "--port", "8080"]`+"\n        env: [{name: VERSION, value: two}]", 1)
	if _, errOut, err := a.shoalIn([]byte(changed), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply the changed template: %v %s", err, errOut)
	}
	if out := a.shoal("rollout", "status", "sts/web", "--timeout", "2m"); !strings.Contains(out, "partitioned roll out complete: 2 new pods have been updated") {
		t.Errorf("rollout status sts/web: %q", out)
	}
	took = poll.Until(t, 120*time.Second, "the rollout done", func() error {
		s := a.getSTS(t)
		if s.Status.UpdateRevision == before.Status.UpdateRevision || s.Status.CurrentRevision != s.Status.UpdateRevision ||
			s.Status.UpdatedReplicas != 2 || s.Status.ReadyReplicas != 2 {
			return fmt.Errorf("status %+v", s.Status)
		}
		return nil
	})
	t.Logf("2 pods rolled out %s after apply", took.Round(100*time.Millisecond))
	if out := strings.TrimSpace(a.shoal("exec", "web-1", "--", "/testapp", "cat", "/data/note")); out != "kept-by-web-1" {
		t.Fatalf("the file on web-1's claim reads %q after the rollout", out)
	}
	revs := a.shoal("get", "controllerrevisions")
	for _, r := range []string{before.Status.UpdateRevision, a.getSTS(t).Status.UpdateRevision} {
		if !strings.Contains(revs, r) {
			t.Errorf("get controllerrevisions has no %s:\n%s", r, revs)
		}
	}
}

func (a *agent) getSTS(t *testing.T) *api.StatefulSet {
	t.Helper()
	o, err := a.client.Get(ctx(t), api.KindStatefulSet, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.StatefulSet)
}
