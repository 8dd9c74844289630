package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// lbChart is a chart with a Deployment behind a LoadBalancer Service: Helm's
// --wait waits until the Service has an address.
var lbChart = map[string]string{
	"Chart.yaml": "apiVersion: v2\nname: lb\nversion: 0.1.0\n",
	"templates/all.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - {name: app, image: shoal-testapp:v1, args: ["serve", "--port", "8080"], ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}}
spec:
  type: LoadBalancer
  selector: {app: {{ .Release.Name }}}
  ports: [{name: http, port: 8089, targetPort: 8080}]
`,
}

// TestLoadBalancerServiceGetsTheNodesAddresses: a LoadBalancer Service's
// status lists the node's address, where its port answers; `helm install
// --wait` and `kubectl wait` on it end; a second Service on the same port
// stays pending, and one on the agent's API port is refused an address.
func TestLoadBalancerServiceGetsTheNodesAddresses(t *testing.T) {
	// The node's address must not be loopback: bind where others reach it.
	a := startAgentWith(t, func(a *agent) {
		a.extra = append(a.extra, "--api-addr", fmt.Sprintf("0.0.0.0:%d", a.port), "--bind", "0.0.0.0:0")
	})
	h := newHelm(t, a)
	start := time.Now()
	h.run(t, "install", "lb", writeChart(t, t.TempDir(), lbChart), "--wait", "--timeout", "90s")
	t.Logf("helm install --wait ended after %s", time.Since(start).Round(time.Millisecond))
	ip := strings.Trim(a.kubectlStdout(t, "get", "service", "lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"), "'")
	if ip == "" || strings.HasPrefix(ip, "127.") {
		t.Fatalf("ingress address %q", ip)
	}
	if row := rowOf(a.kubectlStdout(t, "get", "service", "lb"), "lb"); len(row) < 4 || row[3] != ip {
		t.Errorf("EXTERNAL-IP column %q, want %s", row, ip)
	}
	// The address takes the service port.
	client := &http.Client{Timeout: 3 * time.Second}
	poll.Until(t, 30*time.Second, "the load balancer address answers", func() error {
		resp, err := client.Get(fmt.Sprintf("http://%s:8089/", ip))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	})

	// kubectl wait ends on a Service given an address later.
	svc := func(name string, port int) []byte {
		return []byte(fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s}
spec:
  type: LoadBalancer
  selector: {app: lb}
  ports: [{port: %d, targetPort: 8080}]
`, name, port))
	}
	if _, errOut, err := a.kubectlIn(t, svc("other", 8090), "apply", "-f", "-"); err != nil {
		t.Fatal(err, errOut)
	}
	a.kubectlStdout(t, "wait", "service/other", "--for=jsonpath={.status.loadBalancer.ingress[0].ip}="+ip, "--timeout=60s")

	// A port another LoadBalancer holds, or the API's, gets no address.
	for name, port := range map[string]int{"same-port": 8089, "api-port": a.port} {
		if _, errOut, err := a.kubectlIn(t, svc(name, port), "apply", "-f", "-"); err != nil {
			t.Fatal(err, errOut)
		}
	}
	poll.Until(t, 30*time.Second, "pending events", func() error {
		out := a.kubectlStdout(t, "get", "events", "--field-selector", "reason=LoadBalancerPending")
		if !strings.Contains(out, "is taken on the nodes by LoadBalancer service default/lb") || !strings.Contains(out, "agents listen on") {
			return fmt.Errorf("events:\n%s", out)
		}
		return nil
	})
	for _, name := range []string{"same-port", "api-port"} {
		if got := a.kubectlStdout(t, "get", "service", name, "-o", "jsonpath={.status.loadBalancer.ingress}"); got != "" {
			t.Errorf("%s got an address: %s", name, got)
		}
	}
	// The API still answers on the node's address.
	if out, err := httpGetCA(fmt.Sprintf("https://%s:%d/readyz", ip, a.port), a.caFile()); err != nil || out != "ok" {
		t.Errorf("the API on the node's address after a LoadBalancer asked for its port: %q %v", out, err)
	}
	h.run(t, "uninstall", "lb", "--wait")
}
