package integration

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestKubernetesServiceLeadsPodsToTheAPI: the agent keeps the `kubernetes`
// Service in `default` (the first address of the service range, port 443)
// with Endpoints naming the agent's API, and a pod reaches the API at
// https://kubernetes.default.svc, verifying it with the cluster's CA; a
// view token it holds is judged by RBAC.
func TestKubernetesServiceLeadsPodsToTheAPI(t *testing.T) {
	// The API must listen where pods reach it: the host's address, not
	// loopback (whose agents the Service leaves out).
	a := startAgentWith(t, func(a *agent) {
		a.extra = append(a.extra, "--api-addr", fmt.Sprintf("0.0.0.0:%d", a.port), "--bind", "0.0.0.0:0")
	})
	poll.Until(t, 30*time.Second, "the kubernetes service", func() error {
		svcTable, errOut, err := a.kubectlIn(t, nil, "get", "service", "kubernetes", "-n", "default")
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		if row := rowOf(svcTable, "kubernetes"); len(row) < 5 || row[1] != "ClusterIP" || row[2] != "10.96.0.1" || row[4] != "443/TCP" {
			return fmt.Errorf("get service kubernetes:\n%s", svcTable)
		}
		return nil
	})
	var ep *api.Endpoints
	poll.Until(t, 30*time.Second, "the kubernetes endpoints name the agent", func() error {
		o, err := a.client.Get(ctx(t), api.KindEndpoints, "default", "kubernetes")
		if err != nil {
			return err
		}
		ep = o.(*api.Endpoints)
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Ports[0].Port != int32(a.port) {
			return fmt.Errorf("endpoints %+v", ep.Subsets)
		}
		return nil
	})
	if ip := net.ParseIP(ep.Subsets[0].Addresses[0].IP); ip == nil || ip.IsLoopback() {
		t.Fatalf("endpoint address %q", ep.Subsets[0].Addresses[0].IP)
	}
	// The Service is kept: deleted, it comes back with the same address.
	a.kubectlStdout(t, "delete", "service", "kubernetes")
	poll.Until(t, 60*time.Second, "the kubernetes service back", func() error {
		o, err := a.client.Get(ctx(t), api.KindService, "default", "kubernetes")
		if err != nil {
			return err
		}
		if ip := o.(*api.Service).Spec.ClusterIP; ip != "10.96.0.1" {
			return fmt.Errorf("cluster IP %s", ip)
		}
		return nil
	})

	ca, err := os.ReadFile(a.caFile())
	if err != nil {
		t.Fatal(err)
	}
	viewer := strings.TrimSpace(a.shoal("token", "create", "pod-viewer", "--role", "view"))
	a.kubectlStdout(t, "create", "configmap", "cluster-ca", "--from-literal=ca.crt="+string(ca))
	a.kubectlStdout(t, "create", "secret", "generic", "viewer-token", "--from-literal=token="+viewer)
	pod := `apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - name: c
    image: ` + testImage + `
    command: ["/testapp", "sleep", "1h"]
    volumeMounts:
    - {name: ca, mountPath: /ca}
    - {name: token, mountPath: /token}
  volumes:
  - {name: ca, configMap: {name: cluster-ca}}
  - {name: token, secret: {secretName: viewer-token}}
`
	if _, errOut, err := a.kubectlIn(t, []byte(pod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply pod: %v %s", err, errOut)
	}
	a.kubectlStdout(t, "wait", "pod/client", "--for=condition=Ready", "--timeout=90s")
	get := func(url string, token bool) (string, error) {
		args := []string{"exec", "client", "--", "/testapp", "get", url, "--cacert", "/ca/ca.crt", "--timeout", "5s"}
		if token {
			args = append(args, "--bearer-file", "/token/token")
		}
		out, errOut, err := a.kubectlIn(t, nil, args...)
		return out + errOut, err
	}
	// Through the Service's name and its address, the certificate holds.
	var out string
	poll.Until(t, 30*time.Second, "a pod reaches the API by kubernetes.default.svc", func() error {
		out, err = get("https://kubernetes.default.svc/api", true)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if !strings.Contains(out, `"APIVersions"`) || !strings.Contains(out, `"v1"`) {
		t.Errorf("GET /api from the pod: %s", out)
	}
	if out, err := get("https://10.96.0.1:443/api/v1/namespaces/default/pods", true); err != nil || !strings.Contains(out, `"PodList"`) {
		t.Errorf("list pods with a view token by the cluster IP: %v %s", err, out)
	}
	// RBAC decides: the view role reads no Secrets; no token is no user.
	if out, err := get("https://kubernetes.default.svc/api/v1/namespaces/default/secrets", true); err == nil || !strings.Contains(out, "403") {
		t.Errorf("secrets with a view token: %v %s", err, out)
	}
	if out, err := get("https://kubernetes.default.svc/api/v1/namespaces/default/pods", false); err == nil || !strings.Contains(out, "401") {
		t.Errorf("pods without a token: %v %s", err, out)
	}

	// The pod's own service-account token, mounted by its node.
	saPod := func(name, extra string) string {
		return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `}
spec:
  ` + extra + `
  containers:
  - {name: c, image: ` + testImage + `, command: ["/testapp", "sleep", "1h"]}
`
	}
	for name, extra := range map[string]string{"sa-client": "serviceAccountName: default", "no-token": "automountServiceAccountToken: false"} {
		if _, errOut, err := a.kubectlIn(t, []byte(saPod(name, extra)), "apply", "-f", "-"); err != nil {
			t.Fatalf("apply pod %s: %v %s", name, err, errOut)
		}
	}
	a.kubectlStdout(t, "wait", "pod/sa-client", "pod/no-token", "--for=condition=Ready", "--timeout=90s")
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount"
	saGet := func(url string) (string, error) {
		out, errOut, err := a.kubectlIn(t, nil, "exec", "sa-client", "--", "/testapp", "get", url,
			"--cacert", sa+"/ca.crt", "--bearer-file", sa+"/token", "--timeout", "5s")
		return out + errOut, err
	}
	// The variables client-go's in-cluster configuration reads.
	if env := a.kubectlStdout(t, "exec", "sa-client", "--", "/testapp", "env"); !strings.Contains(env, "KUBERNETES_SERVICE_HOST=10.96.0.1\n") ||
		!strings.Contains(env, "KUBERNETES_SERVICE_PORT=443\n") {
		t.Errorf("env:\n%s", env)
	}
	if ns := a.kubectlStdout(t, "exec", "sa-client", "--", "/testapp", "cat", sa+"/namespace"); ns != "default" {
		t.Errorf("namespace file %q", ns)
	}
	// The default account may discover, nothing more (as in Kubernetes).
	if out, err := saGet("https://kubernetes.default.svc/api"); err != nil || !strings.Contains(out, `"APIVersions"`) {
		t.Errorf("discovery with the pod's token: %v %s", err, out)
	}
	if out, err := saGet("https://kubernetes.default.svc/api/v1/namespaces/default/pods"); err == nil || !strings.Contains(out, "403") ||
		!strings.Contains(out, "system:serviceaccount:default:default") {
		t.Errorf("pods with the default account's token: %v %s", err, out)
	}
	a.kubectlStdout(t, "create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:default")
	poll.Until(t, 30*time.Second, "the bound account lists pods", func() error {
		out, err := saGet("https://kubernetes.default.svc/api/v1/namespaces/default/pods")
		if err != nil || !strings.Contains(out, `"PodList"`) {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if out, errOut, err := a.kubectlIn(t, nil, "exec", "no-token", "--", "/testapp", "cat", sa+"/token"); err == nil {
		t.Errorf("a pod with automountServiceAccountToken: false has a token: %s %s", out, errOut)
	}
	// Nor is it told where the API is (shoal's choice: compose's pods take
	// no token, and docker compose gives its containers no such variables).
	if env := a.kubectlStdout(t, "exec", "no-token", "--", "/testapp", "env"); strings.Contains(env, "KUBERNETES_") {
		t.Errorf("a pod with automountServiceAccountToken: false has the API's variables:\n%s", env)
	}
	// The token is bound to its pod: it works from anywhere while the pod
	// lives, and no longer once the pod is deleted.
	token := a.kubectlStdout(t, "exec", "sa-client", "--", "/testapp", "cat", sa+"/token")
	tc := a.newClient(t, token)
	if _, _, err := tc.List(ctx(t), api.KindPod, "default", api.ListOptions{}); err != nil {
		t.Fatalf("the pod's token from outside: %v", err)
	}
	a.kubectlStdout(t, "delete", "pod", "sa-client", "--wait=true", "--timeout=60s")
	if _, _, err := tc.List(ctx(t), api.KindPod, "default", api.ListOptions{}); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("the token of a deleted pod: %v", err)
	}
}
