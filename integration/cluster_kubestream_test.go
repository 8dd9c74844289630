package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestKubectlStreamsAcrossHosts asks h1 for exec and port-forward of a pod
// on h2, as kubectl pointed at h1 would: h1 forwards the upgraded
// connection to h2's agent.
func TestKubectlStreamsAcrossHosts(t *testing.T) {
	c := startCluster(t, 2)
	h1 := c.agent(1)
	const pod = "far"
	yaml := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: far}}
spec:
  nodeName: h2
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["serve", "--port", "8080"]
`, pod)
	if _, errOut, err := h1.shoalIn([]byte(yaml), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	poll.Until(t, 120*time.Second, "pod far ready on h2", func() error {
		pods := h1.pods(t, "default", "app=far")
		if len(pods) != 1 || pods[0].Spec.NodeName != "h2" || pods[0].Status.Phase != api.PodRunning || readyPods(pods) != 1 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	cfg, err := clientcmd.BuildConfigFromFlags("", h1.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = h1.url

	t.Run("exec", func(t *testing.T) {
		ex := kubectlExecutor(t, cfg, podSubURL(cfg, pod, "exec", execQuery("app", true, false, "sh", "-c", "cat; exit 4")))
		var out bytes.Buffer
		err := ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: strings.NewReader("across\n"), Stdout: &out, Stderr: io.Discard})
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 4 || out.String() != "across\n" {
			t.Fatalf("exec through h1: %v, output %q; want exit code 4 and the input back", err, out.String())
		}
	})

	t.Run("exec over SPDY", func(t *testing.T) {
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", podSubURL(cfg, pod, "exec", execQuery("app", true, false, "sh", "-c", "cat; exit 3")))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = ex.StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: strings.NewReader("spdy across\n"), Stdout: &out, Stderr: io.Discard})
		var ce utilexec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 3 || out.String() != "spdy across\n" {
			t.Fatalf("SPDY exec through h1: %v, output %q; want exit code 3 and the input back", err, out.String())
		}
	})

	u := podSubURL(cfg, pod, "portforward", nil)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	for name, dialer := range map[string]httpstream.Dialer{"port-forward over a websocket": tunnel, "port-forward over SPDY": plain} {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("port-forward ended: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("port-forward not ready")
			}
			defer func() { close(stop); <-done }()
			ports, _ := fw.GetPorts()
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", ports[0].Local))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) != pod {
				t.Fatalf("GET /hostname through h1 to a pod on h2: %d %q", resp.StatusCode, b)
			}
		})
	}
}
