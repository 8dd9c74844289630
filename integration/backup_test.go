package integration

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const backupYAML = `apiVersion: v1
kind: ConfigMap
metadata: {name: bk-settings}
data:
  GREETING: hello-from-the-backup
---
apiVersion: v1
kind: Secret
metadata: {name: bk-creds}
stringData:
  password: restored-s3cret-value
---
apiVersion: v1
kind: Service
metadata: {name: bk}
spec:
  selector: {app: bk}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bk, labels: {app: bk}}
spec:
  replicas: 2
  selector: {matchLabels: {app: bk}}
  template:
    metadata: {labels: {app: bk}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["serve", "--port", "8080"]
        env:
        - name: GREETING
          valueFrom: {configMapKeyRef: {name: bk-settings, key: GREETING}}
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: bk-creds, key: password}}
        volumeMounts:
        - {name: creds, mountPath: /etc/creds}
      volumes:
      - name: creds
        secret: {secretName: bk-creds}
`

// The way back from losing every host: a backup of a one-agent cluster,
// the agent and its data destroyed, a new agent (a new cluster) restored
// from the file runs the same workloads, reading the same config and
// secret; the file holds the secret only sealed.
func TestBackupRestoreIntoANewCluster(t *testing.T) {
	a := startAgent(t)
	if _, errOut, err := a.shoalIn([]byte(backupYAML), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	old := waitReady(t, a, "app=bk", 2, 90*time.Second)
	svc, err := a.client.Get(ctx(t), api.KindService, "default", "bk")
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.(*api.Service).Spec.ClusterIP

	// Only a cluster administrator takes a backup.
	viewer := strings.TrimSpace(a.shoal("token", "create", "viewer", "--role", "view"))
	if _, err := a.newClient(t, viewer).Backup(ctx(t), "a long enough passphrase", io.Discard); !api.IsForbidden(err) {
		t.Fatalf("a backup with a view token: %v, want Forbidden", err)
	}

	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("a long enough passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.backup")
	start := time.Now()
	out := a.shoal("backup", "-o", file, "--passphrase-file", passFile)
	t.Logf("backup in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"restored-s3cret-value", base64.StdEncoding.EncodeToString([]byte("restored-s3cret-value"))} {
		if bytes.Contains(b, []byte(clear)) {
			t.Fatalf("the backup holds the secret in clear (%q)", clear)
		}
	}
	if !bytes.Contains(b, []byte("hello-from-the-backup")) || !strings.Contains(out, "deployments 1") {
		t.Fatalf("the backup lacks the ConfigMap or the Deployment: %s", out)
	}

	// Every host lost: the agent, its containers and its data.
	a.stop(syscall.SIGKILL)
	removeContainers(a.name)
	if err := unmountBelow(a.dataDir); err != nil { // the secret volumes' tmpfs
		t.Fatal(err)
	}
	if err := os.RemoveAll(a.dataDir); err != nil {
		t.Fatal(err)
	}

	n := startAgent(t)
	_, errOut, err := n.shoalIn(nil, "restore", file, "--passphrase-file", filepath.Join(dir, "nothing"))
	if err == nil || !strings.Contains(errOut, "passphrase-file") {
		t.Fatalf("restore with a missing passphrase file: %v: %s", err, errOut)
	}
	wrong := filepath.Join(dir, "wrong")
	_ = os.WriteFile(wrong, []byte("not the right passphrase"), 0o600)
	if _, errOut, err := n.shoalIn(nil, "restore", file, "--passphrase-file", wrong); err == nil || !strings.Contains(errOut, "does not open this backup") {
		t.Fatalf("restore with a wrong passphrase: %v: %s", err, errOut)
	}
	start = time.Now()
	out = n.shoal("restore", file, "--passphrase-file", passFile)
	t.Logf("restore in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	for _, want := range []string{"deployments 1", "services 1", "configmaps 1", "secrets 1", "pods owned by a controller"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore output lacks %q", want)
		}
	}
	pods := waitReady(t, n, "app=bk", 2, 90*time.Second)
	for _, p := range pods {
		if p.Spec.NodeName != n.name {
			t.Errorf("pod %s runs on %q, want the new host %s", p.Name, p.Spec.NodeName, n.name)
		}
		for _, o := range old {
			if o.Name == p.Name {
				t.Errorf("pod %s of the old cluster was restored as it was", p.Name)
			}
		}
	}
	env := n.shoal("exec", pods[0].Name, "--", "env")
	for _, want := range []string{"GREETING=hello-from-the-backup", "PASSWORD=restored-s3cret-value"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("the restored pod's environment lacks %s:\n%s", want, env)
		}
	}
	if got := n.shoal("exec", pods[0].Name, "--", "cat", "/etc/creds/password"); got != "restored-s3cret-value" {
		t.Errorf("the restored pod reads %q from its secret volume", got)
	}
	svc, err = n.client.Get(ctx(t), api.KindService, "default", "bk")
	if err != nil {
		t.Fatal(err)
	}
	if ip := svc.(*api.Service).Spec.ClusterIP; ip != clusterIP {
		t.Errorf("the restored Service has cluster IP %s, the backed-up one %s", ip, clusterIP)
	}
	poll.Until(t, 30*time.Second, "the restored Service's endpoints", func() error {
		o, err := n.client.Get(ctx(t), api.KindEndpoints, "default", "bk")
		if err != nil {
			return err
		}
		got := 0
		for _, s := range o.(*api.Endpoints).Subsets {
			got += len(s.Addresses)
		}
		if got != 2 {
			return fmt.Errorf("%d ready addresses, want 2", got)
		}
		return nil
	})

	// A second restore would overwrite what the cluster now holds: refused.
	if _, errOut, err := n.shoalIn(nil, "restore", file, "--passphrase-file", passFile); err == nil || !strings.Contains(errOut, "already holds") {
		t.Fatalf("a second restore: %v: %s", err, errOut)
	}
}
