package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const configYAML = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  GREETING: hello-from-configmap
  LEVEL: debug
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData:
  password: s3cret-value
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cfg, labels: {app: cfg}}
spec:
  replicas: 1
  selector: {matchLabels: {app: cfg}}
  template:
    metadata: {labels: {app: cfg}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: shoal-testapp:v1
        command: ["/bin/sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"]
        env:
        - name: GREETING
          valueFrom: {configMapKeyRef: {name: settings, key: GREETING}}
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: creds, key: password}}
        - name: MY_POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: COMBINED
          value: "$(GREETING)/$(MY_POD)"
        envFrom:
        - prefix: CFG_
          configMapRef: {name: settings}
`

func TestConfigEnvLogsAndExec(t *testing.T) {
	a := startAgent(t)
	_, errOut, err := a.shoalIn([]byte(configYAML), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	pods := waitReady(t, a, "app=cfg", 1, 60*time.Second)
	pod := pods[0].Name

	t.Run("ConfigMap, Secret and fieldRef values reach the environment", func(t *testing.T) {
		env := a.shoal("exec", pod, "--", "env")
		for _, want := range []string{"GREETING=hello-from-configmap", "PASSWORD=s3cret-value", "MY_POD=" + pod,
			"COMBINED=hello-from-configmap/" + pod, "CFG_LEVEL=debug", "CFG_GREETING=hello-from-configmap"} {
			if !strings.Contains(env, want+"\n") {
				t.Errorf("environment lacks %s:\n%s", want, env)
			}
		}
	})

	t.Run("exec passes the exit code through", func(t *testing.T) {
		_, _, err := a.shoalIn(nil, "exec", pod, "--", "sh", "-c", "exit 7")
		var ee *exec.ExitError
		if !asExit(err, &ee) || ee.ExitCode() != 7 {
			t.Fatalf("exit status %v, want 7", err)
		}
	})

	t.Run("logs -f streams new lines", func(t *testing.T) {
		cmd := exec.Command(shoalBin(t), a.cliArgs("logs", "-f", "--tail", "1", pod)...)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		sc := bufio.NewScanner(out)
		seen := map[string]bool{}
		deadline := time.After(10 * time.Second)
		lines := make(chan string)
		go func() {
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		for len(seen) < 5 {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("log stream ended after %d lines", len(seen))
				}
				if !strings.HasPrefix(l, "tick-") {
					t.Fatalf("unexpected log line %q", l)
				}
				seen[l] = true
			case <-deadline:
				t.Fatalf("only %d lines streamed in 10s", len(seen))
			}
		}
	})

	t.Run("logs --tail and --timestamps", func(t *testing.T) {
		out := a.shoal("logs", "--tail", "3", "--timestamps", pod)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("--tail 3 gave %d lines: %q", len(lines), out)
		}
		if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0]); err != nil {
			t.Fatalf("no timestamp on %q", lines[0])
		}
	})

	t.Run("exec -it runs an interactive shell", func(t *testing.T) {
		cmd := exec.Command(shoalBin(t), a.cliArgs("exec", "-it", pod, "--", "sh")...)
		tty, err := pty.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer tty.Close()
		var buf bytes.Buffer
		done := make(chan struct{})
		go func() { io.Copy(&buf, tty); close(done) }()
		time.Sleep(500 * time.Millisecond) // let the remote shell print its prompt
		fmt.Fprintf(tty, "echo interactive-$((40+2))\n")
		fmt.Fprintf(tty, "exit 3\n")
		waitErr := make(chan error, 1)
		go func() { waitErr <- cmd.Wait() }()
		select {
		case err = <-waitErr:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("interactive exec did not end; output so far: %q", buf.String())
		}
		var ee *exec.ExitError
		if !asExit(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("exit status %v, want 3; output %q", err, buf.String())
		}
		tty.Close()
		<-done
		if !strings.Contains(buf.String(), "interactive-42") {
			t.Fatalf("the shell's answer is missing from %q", buf.String())
		}
	})

	t.Run("describe shows events", func(t *testing.T) {
		poll.Until(t, 10*time.Second, "events in describe", func() error {
			out, _, err := a.shoalIn(nil, "describe", "pod", pod)
			if err != nil {
				return err
			}
			for _, want := range []string{"Scheduled", "Started", "Running"} {
				if !strings.Contains(out, want) {
					return fmt.Errorf("describe lacks %q:\n%s", want, out)
				}
			}
			return nil
		})
	})
}

func asExit(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

func TestBadInputIsRefusedAndNothingIsStored(t *testing.T) {
	a := startAgent(t)
	valid := deploymentYAML("bad", 1, testImage)
	cases := []struct {
		name, input, mention string
	}{
		{"malformed YAML", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad\n", "YAML"},
		{"unknown kind", "apiVersion: v1\nkind: Frobnicator\nmetadata: {name: bad}\n", "Frobnicator"},
		{"invalid name", strings.ReplaceAll(valid, "name: bad", "name: Bad_Name!"), "metadata.name"},
		{"negative replicas", strings.Replace(valid, "replicas: 1", "replicas: -2", 1), "spec.replicas"},
		{"missing image", strings.Replace(valid, "        image: "+testImage+"\n", "", 1), "spec.template.spec.containers[0].image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, err := a.shoalIn([]byte(c.input), "apply", "-f", "-")
			if err == nil {
				t.Fatalf("apply succeeded")
			}
			if !strings.Contains(errOut, c.mention) {
				t.Fatalf("error %q does not mention %q", errOut, c.mention)
			}
			// The same input straight to the API: a 4xx Status.
			resp, err := a.httpClient(t, "").Post(a.url()+"/shoal/v1/apply", "application/yaml", strings.NewReader(c.input))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(string(body), `"kind":"Status"`) {
				t.Fatalf("HTTP %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("a body over the size limit", func(t *testing.T) {
		big := valid + "# " + strings.Repeat("x", 13<<20) + "\n"
		resp, err := a.httpClient(t, "").Post(a.url()+"/shoal/v1/apply", "application/yaml", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "limit") {
			t.Fatalf("HTTP %d %s", resp.StatusCode, body)
		}
	})
	objs, _, err := a.client.List(ctx(t), api.KindDeployment, "", api.ListOptions{})
	if err != nil || len(objs) != 0 {
		t.Fatalf("bad input stored %d deployments (%v)", len(objs), err)
	}
	if err := a.client.Healthz(ctx(t)); err != nil {
		t.Fatalf("the agent stopped serving: %v", err)
	}
}
