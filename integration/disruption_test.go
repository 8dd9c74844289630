package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const budgetYAML = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: web}
`

// shoal drain evicts through pods/eviction: on one host (nowhere for the
// pods to go), a budget of minAvailable 1 over two ready pods lets one go
// and holds the other, and the drain says why and gives up at its timeout.
func TestDrainWaitsOnAPodDisruptionBudget(t *testing.T) {
	a := startAgent(t)
	mustApplyYAML(t, a, deploymentYAML("web", 2, testImage))
	waitReady(t, a, "app=web", 2, 60*time.Second)
	mustApplyYAML(t, a, budgetYAML)
	poll.Until(t, 30*time.Second, "the budget counted", func() error {
		o, err := a.client.Get(ctx(t), api.KindPodDisruptionBudget, "default", "web")
		if err != nil {
			return err
		}
		if st := o.(*api.PodDisruptionBudget).Status; st.CurrentHealthy != 2 || st.DisruptionsAllowed != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	before := a.pods(t, "default", "app=web")
	cmd := exec.Command(shoalBin(t), a.cliArgs("drain", a.name, "--timeout", "12s")...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the drain finished although the budget holds a pod:\n%s", out)
	}
	if !strings.Contains(string(out), "Cannot evict pod as it would violate the pod's disruption budget") ||
		!strings.Contains(string(out), "will retry after 5s") {
		t.Fatalf("the drain did not say why it waits:\n%s", out)
	}
	// One of the two pods was evicted, the other runs on.
	var kept int
	for _, p := range a.pods(t, "default", "app=web") {
		for _, b := range before {
			if p.UID == b.UID && p.DeletionTimestamp == nil {
				kept++
			}
		}
	}
	if kept != 1 {
		t.Fatalf("%d of the two pods kept, want 1:\n%s", kept, out)
	}
	a.shoal("uncordon", a.name)
}

func mustApplyYAML(t *testing.T, a *agent, doc string) {
	t.Helper()
	if _, errOut, err := a.shoalIn([]byte(doc), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
}
