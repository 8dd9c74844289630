package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

const backupManifests = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {GREETING: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: cli-s3cret-value}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: nginx}]
`

// backup writes a file that restore reads into another (new) server; the
// passphrase is required and checked, a changed file is refused, and a
// server that already holds the objects refuses a restore.
func TestBackupAndRestoreBetweenTwoServers(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("twelve chars or more\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "c.backup")
	old := clienttest.NewServer(t)
	if r := shoal(t, old, backupManifests, "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("apply: %s", r.stderr)
	}

	if r := shoal(t, old, "", "backup", "-o", file); r.code == 0 || !strings.Contains(r.stderr, "passphrase is required") {
		t.Fatalf("backup without a passphrase: %d %s", r.code, r.stderr)
	}
	if r := shoal(t, old, "", "backup", "--passphrase-file", pass); r.code == 0 || !strings.Contains(r.stderr, "-o FILE is required") {
		t.Fatalf("backup without -o: %d %s", r.code, r.stderr)
	}
	r := shoal(t, old, "", "backup", "-o", file, "--passphrase-file", pass)
	if r.code != 0 || !strings.Contains(r.stdout, "configmaps 1") || !strings.Contains(r.stdout, "deployments 1") {
		t.Fatalf("backup: %d %s %s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("cli-s3cret-value")) {
		t.Fatal("the secret is in the file in clear")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".c.backup.partial-*")); len(leftovers) != 0 {
		t.Fatalf("partial files left: %v", leftovers)
	}

	changed := filepath.Join(dir, "changed.backup")
	c := bytes.Clone(b)
	c[len(c)-5] ^= 1
	_ = os.WriteFile(changed, c, 0o600)
	fresh := clienttest.NewServer(t)
	if r := shoal(t, fresh, "", "restore", changed, "--passphrase-file", pass); r.code == 0 || !strings.Contains(r.stderr, "is damaged") {
		t.Fatalf("restore of a changed file: %d %s", r.code, r.stderr)
	}

	r = shoal(t, fresh, "", "restore", file, "--passphrase-file", pass)
	if r.code != 0 {
		t.Fatalf("restore: %s", r.stderr)
	}
	for _, want := range []string{"configmaps 1", "deployments 1", "secrets 1", "not restored: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("restore output lacks %q:\n%s", want, r.stdout)
		}
	}
	obj := fresh.Object(api.KindSecret, "default", "creds")
	if obj == nil || string(obj.(*api.Secret).Data["password"]) != "cli-s3cret-value" {
		t.Fatalf("the restored secret: %+v", obj)
	}
	if fresh.Object(api.KindDeployment, "default", "web") == nil {
		t.Fatal("the deployment was not restored")
	}
	if r := shoal(t, fresh, "", "restore", file, "--passphrase-file", pass); r.code == 0 || !strings.Contains(r.stderr, "already holds") {
		t.Fatalf("a second restore: %d %s", r.code, r.stderr)
	}
}
