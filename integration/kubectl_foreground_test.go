package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	a.kubectlStdout(t, "delete", "deployment", "fg-nowait", "--cascade=foreground", "--wait=false")
	got := a.kubectlStdout(t, "get", "deployment", "fg-nowait", "-o", "jsonpath={.metadata.deletionTimestamp}|{.metadata.finalizers}")
	stamp, finalizers, _ := strings.Cut(got, "|")
	if stamp == "" || !strings.Contains(finalizers, "foregroundDeletion") {
		t.Fatalf("the Deployment being deleted in the foreground: %q; want a deletionTimestamp and the finalizer foregroundDeletion", got)
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
