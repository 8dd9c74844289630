package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// A backup taken from one agent of a 3-host cluster; the cluster goes away
// (scripts/cluster down: every host, engine and data); a new 3-host cluster
// restored from the file runs the same Deployment, Service, ConfigMap and
// Secret, its pods spread over the new hosts.
func TestClusterBackupRestoredIntoANewCluster(t *testing.T) {
	c := startCluster(t, 3)
	yaml := strings.Replace(backupYAML, "replicas: 2", "replicas: 3", 1)
	if _, errOut, err := c.agent(1).shoalIn([]byte(yaml), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	ready := func(what string) []*api.Pod {
		var pods []*api.Pod
		poll.Until(t, 120*time.Second, what, func() error {
			pods = c.agent(1).pods(t, "default", "app=bk")
			if n := readyPods(pods); n != 3 {
				return fmt.Errorf("%d of 3 pods ready", n)
			}
			return nil
		})
		return pods
	}
	ready("3 ready pods in the first cluster")
	svc, err := c.agent(1).client.Get(ctx(t), api.KindService, "default", "bk")
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.(*api.Service).Spec.ClusterIP

	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	_ = os.WriteFile(pass, []byte("a long enough passphrase"), 0o600)
	file := filepath.Join(dir, "cluster.backup")
	out := c.agent(2).shoal("backup", "-o", file, "--passphrase-file", pass) // any agent
	t.Logf("%s", strings.TrimSpace(out))
	if b, _ := os.ReadFile(file); bytes.Contains(b, []byte("restored-s3cret-value")) {
		t.Fatal("the backup holds the secret in clear")
	}

	// Every host lost; a new cluster of new hosts (new CA, new credentials).
	up := c.script(5*time.Minute, nil, "up", "3")
	if strings.Count(up, "\n") != 3 {
		t.Fatalf("scripts/cluster up 3 printed:\n%s", up)
	}
	for _, h := range c.hosts {
		h.client = h.newClient(t, "") // the new cluster's admin kubeconfig
	}
	if got := c.agent(1).pods(t, "default", "app=bk"); len(got) != 0 {
		t.Fatalf("the new cluster already has %d pods of the old one", len(got))
	}
	out = c.agent(3).shoal("restore", file, "--passphrase-file", pass)
	t.Logf("%s", strings.TrimSpace(out))
	pods := ready("3 ready pods in the restored cluster")
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) < 2 {
		t.Errorf("the restored pods run on %v: not spread over the new hosts", nodes)
	}
	env := c.agent(1).shoal("exec", pods[0].Name, "--", "env")
	for _, want := range []string{"GREETING=hello-from-the-backup", "PASSWORD=restored-s3cret-value"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("a restored pod's environment lacks %s", want)
		}
	}
	for i := 1; i <= 3; i++ {
		o, err := c.agent(i).client.Get(ctx(t), api.KindService, "default", "bk")
		if err != nil {
			t.Fatalf("h%d: %v", i, err)
		}
		if ip := o.(*api.Service).Spec.ClusterIP; ip != clusterIP {
			t.Errorf("h%d: the Service's cluster IP is %s, was %s", i, ip, clusterIP)
		}
		if _, err := c.agent(i).client.Get(ctx(t), api.KindConfigMap, "default", "bk-settings"); err != nil {
			t.Errorf("h%d: the ConfigMap: %v", i, err)
		}
	}
}
