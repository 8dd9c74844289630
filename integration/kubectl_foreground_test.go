package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// slowDeployment is a Deployment whose pods ignore SIGTERM, so that each
// takes its whole grace period (4 s) to terminate.
func slowDeployment(name string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: 4
      containers:
      - name: app
        image: %[2]s
        command: ["/testapp", "sleep", "infinity", "--ignore-sigterm"]
`, name, testImage)
}

// TestKubectlForegroundDeleteKeepsTheOwnerUntilItsPodsAreGone runs the real
// kubectl: after `delete --cascade=foreground --wait=false` the Deployment
// is still readable with a deletionTimestamp and the finalizer
// foregroundDeletion while its pods terminate, and goes after them; a
// waiting `delete --cascade=foreground` returns once everything is gone.
func TestKubectlForegroundDeleteKeepsTheOwnerUntilItsPodsAreGone(t *testing.T) {
	a := startAgent(t)
	for _, name := range []string{"fg-nowait", "fg-wait"} {
		if out, errOut, err := a.kubectlIn(t, []byte(slowDeployment(name)), "apply", "-f", "-"); err != nil {
			t.Fatalf("apply %s: %v\n%s%s", name, err, out, errOut)
		}
	}
	for _, name := range []string{"fg-nowait", "fg-wait"} {
		a.kubectlStdout(t, "wait", "--for=condition=Available", "deployment/"+name, "--timeout=90s")
	}

	start := time.Now()
	// kubectl's own request, logged at -v=6, is answered 200 as
	// Kubernetes answers a propagationPolicy delete.
	_, trace, err := a.kubectlIn(t, nil, "delete", "deployment", "fg-nowait", "--cascade=foreground", "--wait=false", "-v=6")
	if err != nil {
		t.Fatalf("kubectl delete --cascade=foreground: %v\n%s", err, trace)
	}
	if !strings.Contains(trace, "DELETE https://") || !strings.Contains(trace, "200 OK") {
		t.Fatalf("kubectl's DELETE was not answered 200 OK:\n%s", trace)
	}
	got := a.kubectlStdout(t, "get", "deployment", "fg-nowait", "-o", "jsonpath={.metadata.deletionTimestamp}|{.metadata.finalizers}")
	stamp, finalizers, _ := strings.Cut(got, "|")
	if stamp == "" || !strings.Contains(finalizers, "foregroundDeletion") {
		t.Fatalf("the Deployment being deleted in the foreground: %q; want a deletionTimestamp and the finalizer foregroundDeletion", got)
	}
	// shoal apply of the same file, meanwhile, keeps the deletion going.
	if out, errOut, err := a.shoalIn([]byte(slowDeployment("fg-nowait")), "apply", "-f", "-"); err != nil {
		t.Fatalf("shoal apply during the deletion: %v\n%s%s", err, out, errOut)
	}
	if again := a.kubectlStdout(t, "get", "deployment", "fg-nowait", "-o", "jsonpath={.metadata.deletionTimestamp}|{.metadata.finalizers}"); again != got {
		t.Fatalf("after shoal apply: %q, want %q kept", again, got)
	}
	pods := a.pods(t, "default", "app=fg-nowait")
	if len(pods) == 0 {
		t.Fatal("the pods went at once: their grace period is 4 s")
	}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			t.Fatalf("pod %s is not terminating", p.Name)
		}
	}
	if rs := a.kubectlStdout(t, "get", "replicasets", "-l", "app=fg-nowait", "-o", "jsonpath={.items[*].metadata.finalizers}"); !strings.Contains(rs, "foregroundDeletion") {
		t.Fatalf("its ReplicaSet: finalizers %q, want foregroundDeletion", rs)
	}
	poll.Until(t, 60*time.Second, "the Deployment gone after its pods", func() error {
		_, errOut, err := a.kubectlIn(t, nil, "get", "deployment", "fg-nowait")
		if err == nil || !strings.Contains(errOut, "NotFound") {
			return fmt.Errorf("still there: %v %s", err, errOut)
		}
		if left := a.pods(t, "default", "app=fg-nowait"); len(left) != 0 {
			t.Fatalf("the Deployment went while %d pods were left", len(left))
		}
		return nil
	})
	t.Logf("foreground deletion without waiting finished after %v", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	a.kubectlStdout(t, "delete", "deployment", "fg-wait", "--cascade=foreground", "--timeout=60s")
	took := time.Since(start)
	if left := a.pods(t, "default", "app=fg-wait"); len(left) != 0 {
		t.Fatalf("kubectl delete returned with %d pods left", len(left))
	}
	if rs := a.kubectlStdout(t, "get", "replicasets", "-l", "app=fg-wait", "-o", "name"); rs != "" {
		t.Fatalf("kubectl delete returned with ReplicaSets left: %q", rs)
	}
	if took < 3*time.Second {
		t.Fatalf("kubectl delete returned after %v, before the pods' 4 s grace period could pass", took)
	}
	t.Logf("kubectl delete --cascade=foreground returned after %v", took.Round(100*time.Millisecond))
}

// deleteRaw sends a DELETE with a DeleteOptions body to the agent's API and
// returns the status code and the decoded object answered.
func deleteRaw(t *testing.T, a *agent, path, body string) (int, *api.ObjectMeta) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, a.url()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.httpClient(t, "").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var obj struct {
		Metadata api.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("DELETE %s answered %d %s: %v", path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, &obj.Metadata
}

// TestKubectlForegroundDeleteWithNothingBlockingAndThe202 checks the
// answers to deletes as Kubernetes gives them: a foreground delete of an
// object with no dependents answers 200 with the object marked
// (deletionTimestamp, foregroundDeletion), which the collector then
// removes; a delete with the deprecated orphanDependents: false of an
// object a finalizer holds answers 202 Accepted with the marked object; a
// delete that removes the object answers 200.
func TestKubectlForegroundDeleteWithNothingBlockingAndThe202(t *testing.T) {
	a := startAgent(t)
	a.kubectlStdout(t, "create", "configmap", "fg-alone", "--from-literal=k=v")
	code, m := deleteRaw(t, a, "/api/v1/namespaces/default/configmaps/fg-alone", `{"propagationPolicy":"Foreground"}`)
	if code != http.StatusOK || m.DeletionTimestamp == nil || !api.HasFinalizer(m, api.FinalizerForeground) {
		t.Fatalf("foreground delete with no dependents: %d, deletion %v, finalizers %v; want 200 and the object marked", code, m.DeletionTimestamp, m.Finalizers)
	}
	poll.Until(t, 20*time.Second, "the collector removes fg-alone", func() error {
		_, errOut, err := a.kubectlIn(t, nil, "get", "configmap", "fg-alone")
		if err == nil || !strings.Contains(errOut, "NotFound") {
			return fmt.Errorf("still there: %v %s", err, errOut)
		}
		return nil
	})

	held := `apiVersion: v1
kind: ConfigMap
metadata:
  name: fg-held
  finalizers: [example.com/hold]
data: {k: v}
`
	if out, errOut, err := a.kubectlIn(t, []byte(held), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	code, m = deleteRaw(t, a, "/api/v1/namespaces/default/configmaps/fg-held", `{"orphanDependents":false}`)
	if code != http.StatusAccepted || m.DeletionTimestamp == nil || !api.HasFinalizer(m, "example.com/hold") {
		t.Fatalf("delete held by a finalizer, orphanDependents false: %d, deletion %v, finalizers %v; want 202 and the marked object", code, m.DeletionTimestamp, m.Finalizers)
	}
	a.kubectlStdout(t, "patch", "configmap", "fg-held", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	if _, errOut, err := a.kubectlIn(t, nil, "get", "configmap", "fg-held"); err == nil || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("fg-held after its last finalizer went: %v %s", err, errOut)
	}

	a.kubectlStdout(t, "create", "configmap", "fg-gone", "--from-literal=k=v")
	if code, _ := deleteRaw(t, a, "/api/v1/namespaces/default/configmaps/fg-gone", `{"orphanDependents":false}`); code != http.StatusOK {
		t.Fatalf("a delete that removes the object answered %d, want 200", code)
	}
}
