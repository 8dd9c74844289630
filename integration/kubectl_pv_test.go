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

// TestKubectlHostPathVolumeBindsAndHoldsThePodsFile runs the real kubectl
// against an agent and Docker: a hostPath PersistentVolume, a claim naming
// it (spec.volumeName) and a pod writing a file there. Both sides are
// Bound, to each other, and the file is in the host's directory. A local
// volume whose nodeAffinity names the agent's node places its claim there.
// A claim of the volumes' class that none fits stays Pending with a
// FailedBinding Event saying why, and its pod is not scheduled. Deleting
// the claim leaves a Retain volume Released.
func TestKubectlHostPathVolumeBindsAndHoldsThePodsFile(t *testing.T) {
	a := startAgent(t)
	host := t.TempDir()
	local := t.TempDir()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: it-host
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %[1]s/data, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: it-local
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: local-disks
  local: {path: %[2]s}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [%[3]s]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: named
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources: {requests: {storage: 1Gi}}
  volumeName: it-host
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: by-class
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local-disks
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: writer
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: %[4]s
    command: ["/testapp", "write", "/data/hello.txt", "written", "by", "the", "pod"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: named}
`, host, local, a.name, testImage)
	if out, errOut, err := a.kubectlIn(t, []byte(manifest), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	if got := a.kubectlStdout(t, "get", "pvc", "named", "-o",
		`jsonpath={.status.phase} {.spec.volumeName} {.metadata.annotations.pv\.kubernetes\.io/bind-completed}`); got != "Bound it-host yes" {
		t.Fatalf("claim named: %q, want Bound to it-host", got)
	}
	if got := a.kubectlStdout(t, "get", "pv", "it-host", "-o", "jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}"); got != "Bound default/named" {
		t.Fatalf("volume it-host: %q", got)
	}
	if got := a.kubectlStdout(t, "get", "pvc", "by-class", "-o",
		`jsonpath={.status.phase} {.spec.volumeName} {.metadata.annotations.volume\.kubernetes\.io/selected-node}`); got != "Bound it-local "+a.name {
		t.Fatalf("claim by-class: %q, want Bound to it-local on %s", got, a.name)
	}
	poll.Until(t, 90*time.Second, "the writer pod Succeeded", func() error {
		if got := a.kubectlStdout(t, "get", "pod", "writer", "-o", "jsonpath={.status.phase}"); got != "Succeeded" {
			return fmt.Errorf("phase %q", got)
		}
		return nil
	})
	data, err := os.ReadFile(filepath.Join(host, "data", "hello.txt"))
	if err != nil || strings.TrimSpace(string(data)) != "written by the pod" {
		t.Fatalf("the file on the host path: %q %v", data, err)
	}

	// A claim no volume fits waits, with an Event, and its pod waits too.
	waiting := `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: too-big
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources: {requests: {storage: 50Gi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: waiter
spec:
  containers:
  - name: app
    image: ` + testImage + `
    command: ["/testapp", "sleep", "infinity"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: too-big}
`
	if out, errOut, err := a.kubectlIn(t, []byte(waiting), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	poll.Until(t, 30*time.Second, "a FailedBinding Event on too-big", func() error {
		got := a.kubectlStdout(t, "get", "events", "--field-selector", "involvedObject.name=too-big", "-o", "jsonpath={.items[*].reason}: {.items[*].message}")
		if !strings.Contains(got, "FailedBinding") || !strings.Contains(got, `class "manual"`) || !strings.Contains(got, "50Gi") {
			return fmt.Errorf("events: %q", got)
		}
		return nil
	})
	if got := a.kubectlStdout(t, "get", "pvc", "too-big", "-o", "jsonpath={.status.phase}"); got != "Pending" {
		t.Fatalf("too-big: %q, want Pending", got)
	}
	poll.Until(t, 30*time.Second, "the waiter unschedulable, naming its claim", func() error {
		got := a.kubectlStdout(t, "get", "pod", "waiter", "-o", `jsonpath={.spec.nodeName}|{.status.conditions[?(@.type=="PodScheduled")].message}`)
		if !strings.HasPrefix(got, "|") || !strings.Contains(got, `"too-big" is not bound yet`) {
			return fmt.Errorf("pod: %q", got)
		}
		return nil
	})

	// The claim's deletion leaves the Retain volume Released, with its data.
	a.kubectlStdout(t, "delete", "pod", "writer", "waiter", "--grace-period=0", "--force")
	a.kubectlStdout(t, "delete", "pvc", "named")
	if got := a.kubectlStdout(t, "get", "pv", "it-host", "-o", "jsonpath={.status.phase} {.spec.claimRef.name}"); got != "Released named" {
		t.Fatalf("it-host after its claim went: %q, want Released", got)
	}
	if _, err := os.Stat(filepath.Join(host, "data", "hello.txt")); err != nil {
		t.Fatalf("the data of a Retain volume: %v", err)
	}
}
