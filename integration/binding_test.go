package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/internal/poll"
)

// curl binds a pod the scheduler left pending through the pods/binding
// subresource, with the body Kubernetes' scheduler sends: the pod runs on
// the node named, and a second binding is refused with a conflict.
// (`kubectl create --raw` sends no Content-Type, which shoal refuses on
// every write: docs/security.md.)
func TestCurlBindsAPendingPod(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed to check the binding subresource with a real client: %v", err)
	}
	a := startAgent(t)
	kc, err := client.LoadKubeconfig(a.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kc.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: hand-bound
spec:
  nodeSelector: {disk: none-such}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ` + testImage + `
    args: ["serve", "--port", "8080"]
`
	if _, errOut, err := a.shoalIn([]byte(pod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	poll.Until(t, 30*time.Second, "the pod unschedulable", func() error {
		o, err := a.client.Get(ctx(t), api.KindPod, "default", "hand-bound")
		if err != nil {
			return err
		}
		p := o.(*api.Pod)
		if c := api.FindCondition(p.Status.Conditions, api.PodScheduled); c == nil || c.Status != api.ConditionFalse || p.Spec.NodeName != "" {
			return fmt.Errorf("conditions %+v node %q", p.Status.Conditions, p.Spec.NodeName)
		}
		return nil
	})
	binding := filepath.Join(t.TempDir(), "binding.json")
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"hand-bound"},"target":{"apiVersion":"v1","kind":"Node","name":%q}}`, a.name)
	if err := os.WriteFile(binding, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		out, err := exec.Command(curl, "-sS", "--fail-with-body", "--cacert", a.caFile(),
			"-H", "Authorization: Bearer "+conn.Token, "-H", "Content-Type: application/json",
			"--data-binary", "@"+binding, a.url()+"/api/v1/namespaces/default/pods/hand-bound/binding").CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, `"Success"`) || !strings.Contains(out, `"code":201`) {
		t.Fatalf("curl POST .../binding: %v\n%s", err, out)
	}
	poll.Until(t, 60*time.Second, "the pod running on the node it was bound to", func() error {
		o, err := a.client.Get(ctx(t), api.KindPod, "default", "hand-bound")
		if err != nil {
			return err
		}
		p := o.(*api.Pod)
		if p.Spec.NodeName != a.name || p.Status.Phase != api.PodRunning {
			return fmt.Errorf("node %q phase %s", p.Spec.NodeName, p.Status.Phase)
		}
		if c := api.FindCondition(p.Status.Conditions, api.PodScheduled); c == nil || c.Status != api.ConditionTrue {
			return fmt.Errorf("PodScheduled %+v", c)
		}
		return nil
	})
	out, err := run()
	if err == nil || !strings.Contains(out, "already assigned to node") || !strings.Contains(out, `"code":409`) {
		t.Fatalf("a second binding: %v\n%s; want a conflict", err, out)
	}
}
