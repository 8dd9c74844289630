package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// TestKubectlGetPrintsShoalsTables runs the installed kubectl against an
// agent: kubectl get prints the tables shoal get prints (the server's
// Tables carry the CLI's columns), with -o wide, -A, --show-labels and
// --sort-by, and kubectl get -w prints a row per change under one header.
func TestKubectlGetPrintsShoalsTables(t *testing.T) {
	kubectlBin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed: %v", err)
	}
	a := startAgent(t)
	if _, errOut, err := a.shoalIn([]byte(deploymentYAML("web", 2, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	poll.Until(t, 90*time.Second, "2 pods ready", func() error {
		if n := readyPods(a.pods(t, "default", "app=web")); n != 2 {
			return fmt.Errorf("%d ready", n)
		}
		return nil
	})
	kubectlArgs := func(args ...string) []string {
		return append([]string{"--kubeconfig", a.kubeconfig(), "--server", a.url(), "--cache-dir", t.TempDir()}, args...)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectlBin, kubectlArgs(args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	for _, tc := range []struct {
		kubectl, shoal []string
		mention        string
	}{
		{[]string{"get", "pods"}, nil, "RESTARTS"},
		{[]string{"get", "pods", "-o", "wide"}, nil, "NODE"},
		{[]string{"get", "pods", "-A", "--show-labels"}, nil, "pod-template-hash="},
		{[]string{"get", "pods", "--sort-by=.metadata.name"}, []string{"get", "pods"}, "Running"},
		{[]string{"get", "deployments", "-o", "wide"}, nil, "shoal-testapp:v1"},
		{[]string{"get", "replicasets"}, nil, "DESIRED"},
		{[]string{"get", "nodes", "-o", "wide"}, nil, "CPU(REQ/ALLOC)"},
		{[]string{"get", "namespaces"}, nil, "Active"},
	} {
		if tc.shoal == nil {
			tc.shoal = tc.kubectl
		}
		// Ages tick between the two commands: compare until they agree.
		var got, want string
		poll.Until(t, 15*time.Second, "kubectl "+strings.Join(tc.kubectl, " ")+" printing what shoal prints", func() error {
			got, want = kubectl(tc.kubectl...), a.shoal(tc.shoal...)
			if got != want {
				return fmt.Errorf("kubectl prints:\n%s\nshoal prints:\n%s", got, want)
			}
			return nil
		})
		if !strings.Contains(got, tc.mention) {
			t.Errorf("kubectl %s does not show %q:\n%s", strings.Join(tc.kubectl, " "), tc.mention, got)
		}
	}

	// -w: the table, then a row per change, aligned under the one header.
	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(wctx, kubectlBin, kubectlArgs("get", "pods", "-w")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("kubectl get -w ended")
			}
			return l
		case <-wctx.Done():
			t.Fatal("kubectl get -w printed nothing more")
		}
		return ""
	}
	if h := next(); !strings.HasPrefix(h, "NAME") || !strings.Contains(h, "RESTARTS") {
		t.Fatalf("header %q", h)
	}
	for i := 0; i < 2; i++ {
		if l := next(); !strings.HasPrefix(l, "web-") || !strings.Contains(l, "Running") {
			t.Fatalf("row %q", l)
		}
	}
	before := map[string]bool{}
	for _, p := range a.pods(t, "default", "app=web") {
		before[p.Name] = true
	}
	a.shoal("scale", "deployment/web", "--replicas", "3")
	for {
		l := next()
		if strings.HasPrefix(l, "NAME") {
			t.Fatalf("a second header: %q", l)
		}
		fields := strings.Fields(l)
		if len(fields) < 5 || !strings.HasPrefix(fields[0], "web-") {
			t.Fatalf("watch row %q", l)
		}
		if !before[fields[0]] && fields[1] == "1/1" && fields[2] == "Running" {
			break // the new pod, running
		}
	}
}
