package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// TestKubectlReplicationController applies the corpus' https-nginx file
// (a Service and a ReplicationController, images mapped to the test image)
// with the real kubectl: the controller runs its pod, `kubectl get rc` has
// Kubernetes' columns, and `kubectl scale rc` scales it through the scale
// subresource.
func TestKubectlReplicationController(t *testing.T) {
	a := startAgent(t)
	const file = "kubernetes-examples--https-nginx--nginx-app.yaml"
	raw, err := os.ReadFile(filepath.Join(kubeCorpusDir, file))
	if err != nil {
		t.Fatal(err)
	}
	s := &standIn{secrets: map[string]bool{}, configMaps: map[string]bool{}}
	out, _, err := s.rewriteManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(manifest, out, 0o644); err != nil {
		t.Fatal(err)
	}
	a.kubectlStdout(t, "create", "secret", "generic", "nginxsecret", "--from-literal=tls.key=stub")
	a.kubectlStdout(t, "create", "configmap", "nginxconfigmap", "--from-literal=default.conf=stub")
	if got := a.kubectlStdout(t, "apply", "-f", manifest); !strings.Contains(got, "replicationcontroller/my-nginx created") {
		t.Fatalf("apply: %s", got)
	}
	if got := a.kubectlStdout(t, "apply", "-f", manifest); !strings.Contains(got, "replicationcontroller/my-nginx unchanged") {
		t.Fatalf("second apply: %s", got)
	}
	waitReady := func(n int) {
		t.Helper()
		poll.Until(t, 90*time.Second, fmt.Sprintf("%d ready pods of my-nginx", n), func() error {
			pods := a.pods(t, "default", "app=nginx")
			if got := readyPods(pods); got != n {
				return fmt.Errorf("%d ready of %d", got, len(pods))
			}
			for _, p := range pods {
				if ref := p.ControllerRef(); p.DeletionTimestamp == nil && (ref == nil || ref.Kind != "ReplicationController" || ref.Name != "my-nginx") {
					return fmt.Errorf("pod %s is not the ReplicationController's: %+v", p.Name, p.OwnerReferences)
				}
			}
			return nil
		})
	}
	waitReady(1)

	poll.Until(t, 30*time.Second, "get rc shows 1 ready", func() error {
		table := a.kubectlStdout(t, "get", "rc")
		if h := header(table); h != "NAME DESIRED CURRENT READY AGE" {
			return fmt.Errorf("get rc header %q", h)
		}
		if row := rowOf(table, "my-nginx"); len(row) < 4 || strings.Join(row[1:4], " ") != "1 1 1" {
			return fmt.Errorf("get rc row %q:\n%s", row, table)
		}
		return nil
	})
	wide := a.kubectlStdout(t, "get", "replicationcontrollers", "-o", "wide")
	if h := header(wide); h != "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR" {
		t.Errorf("get rc -o wide header %q", h)
	}
	if row := rowOf(wide, "my-nginx"); len(row) != 8 || row[5] != "nginxhttps" || row[7] != "app=nginx" {
		t.Errorf("get rc -o wide row %q", row)
	}

	if got := a.kubectlStdout(t, "scale", "rc", "my-nginx", "--replicas=3"); !strings.Contains(got, "replicationcontroller/my-nginx scaled") {
		t.Fatalf("scale: %s", got)
	}
	waitReady(3)
	a.kubectlStdout(t, "scale", "rc/my-nginx", "--replicas=1")
	poll.Until(t, 60*time.Second, "scaled back to 1", func() error {
		if n := len(a.pods(t, "default", "app=nginx")); n != 1 {
			return fmt.Errorf("%d pods", n)
		}
		return nil
	})

	// A selector that does not match the template is refused, naming the field.
	_, errOut, err := a.kubectlIn(t, []byte(`apiVersion: v1
kind: ReplicationController
metadata: {name: bad}
spec:
  selector: {app: other}
  template:
    metadata: {labels: {app: bad}}
    spec: {containers: [{name: c, image: `+testImage+`}]}
`), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "spec.template.metadata.labels") {
		t.Errorf("a selector not matching the template: err %v, %s", err, errOut)
	}

	// Deleting the controller takes its pods.
	a.kubectlStdout(t, "delete", "rc", "my-nginx", "--wait=true", "--timeout=60s")
	poll.Until(t, 60*time.Second, "the pods gone", func() error {
		for _, p := range a.pods(t, "default", "app=nginx") {
			if p.DeletionTimestamp == nil {
				return fmt.Errorf("pod %s remains", p.Name)
			}
		}
		return nil
	})
}
