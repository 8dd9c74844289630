package integration

// Benchmarks of the real kubectl against shoal, side by side with shoal's
// own CLI in one run, on a 3-host cluster (scripts/bench-kubectl runs them
// and prints the ratios):
//
//   - BenchmarkKubectlGetPodsAll: `kubectl get pods -A` against
//     `shoal get pods -A` with 1,000 pods. The pods are placed nowhere (a
//     node selector no node matches) so that the figure is the API's, the
//     transport's and the printer's, not the engines'. Each tool's start
//     alone (`version --client`, no request) is reported beside it: the
//     floor under either tool's figure.
//   - BenchmarkKubectlApplySockShop: `kubectl apply -f` of the Sock Shop demo
//     (the corpus file, images mapped to the test image) until every pod is
//     Running, against `shoal apply -f` of the same file.
//
// Each iteration runs both tools in turn, so that both see the same machine;
// the medians are reported as metrics, with their ratio.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// sockShopFile is the Sock Shop demo in the corpus.
const sockShopFile = "microservices-demo--complete-demo.yaml"

// benchPods is how many pods BenchmarkKubectlGetPodsAll lists.
const benchPods = 1000

// timedRun runs a command and returns how long it took; a failure fails
// the benchmark with its output.
func timedRun(b *testing.B, cmd *exec.Cmd) (time.Duration, string) {
	b.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s\n%s", strings.Join(cmd.Args, " "), err, tailLines(out.String(), 5), errOut.String())
	}
	return took, out.String()
}

// kubectlCmd is the installed kubectl pointed at a host, with its own
// discovery cache (warmed by the caller: a user's is warm).
func kubectlCmd(b *testing.B, h *clusterHost, cacheDir string, stdin []byte, args ...string) *exec.Cmd {
	b.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		b.Fatal("kubectl is not installed: scripts/test installs it")
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", h.kubeconfig, "--server", h.url, "--cache-dir", cacheDir}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return cmd
}

// shoalCmd is the shoal CLI pointed at a host.
func shoalCmd(b *testing.B, h *clusterHost, stdin []byte, args ...string) *exec.Cmd {
	cmd := exec.Command(shoalBin(b), append([]string{"--kubeconfig", h.kubeconfig, "--server", h.url}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return cmd
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// reportPair reports both tools' medians in milliseconds and their ratio.
func reportPair(b *testing.B, kubectl, shoal []time.Duration) {
	k, s := median(kubectl), median(shoal)
	b.ReportMetric(float64(k.Microseconds())/1000, "kubectl-ms")
	b.ReportMetric(float64(s.Microseconds())/1000, "shoal-ms")
	b.ReportMetric(float64(k)/float64(s), "kubectl/shoal")
	b.Logf("medians over %d rounds: kubectl %s, shoal %s, ratio %.2f", len(kubectl), k, s, float64(k)/float64(s))
}

func BenchmarkKubectlGetPodsAll(b *testing.B) {
	c := startCluster(b, 3)
	h := c.agent(1)
	cache := b.TempDir()
	// Ten namespaces of a hundred pods, one apply each.
	const namespaces = 10
	for n := range namespaces {
		var m strings.Builder
		fmt.Fprintf(&m, "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench-%d}\n", n)
		for i := range benchPods / namespaces {
			fmt.Fprintf(&m, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-%03d, namespace: bench-%d, labels: {app: bench}}\n"+
				"spec:\n  nodeSelector: {shoal.io/bench: nowhere}\n  containers:\n  - {name: app, image: %s}\n", i, n, testImage)
		}
		timedRun(b, shoalCmd(b, h, []byte(m.String()), "apply", "-f", "-"))
	}
	// Every pod listed (and the discovery cache warm) before timing.
	poll.Until(b, 2*time.Minute, "every pod listed", func() error {
		_, out := timedRun(b, kubectlCmd(b, h, cache, nil, "get", "pods", "-A", "--no-headers"))
		if n := strings.Count(out, "\n"); n < benchPods {
			return fmt.Errorf("%d pods listed", n)
		}
		return nil
	})
	var kubectl, shoal, kubectlStart, shoalStart []time.Duration
	b.ResetTimer()
	for b.Loop() {
		// Each tool's start alone (no request), to read the ratio by.
		took, _ := timedRun(b, kubectlCmd(b, h, cache, nil, "version", "--client"))
		kubectlStart = append(kubectlStart, took)
		took, _ = timedRun(b, shoalCmd(b, h, nil, "version", "--client"))
		shoalStart = append(shoalStart, took)
		took, out := timedRun(b, kubectlCmd(b, h, cache, nil, "get", "pods", "-A"))
		if n := strings.Count(out, "\n"); n != benchPods+1 {
			b.Fatalf("kubectl listed %d lines, want %d", n, benchPods+1)
		}
		kubectl = append(kubectl, took)
		took, out = timedRun(b, shoalCmd(b, h, nil, "get", "pods", "-A"))
		if n := strings.Count(out, "\n"); n != benchPods+1 {
			b.Fatalf("shoal listed %d lines, want %d", n, benchPods+1)
		}
		shoal = append(shoal, took)
	}
	b.StopTimer()
	reportPair(b, kubectl, shoal)
	b.ReportMetric(float64(median(kubectlStart).Microseconds())/1000, "kubectl-start-ms")
	b.ReportMetric(float64(median(shoalStart).Microseconds())/1000, "shoal-start-ms")
	b.Logf("start alone (version --client): kubectl %s, shoal %s", median(kubectlStart), median(shoalStart))
}

// podsOfManifest counts the pods a manifest's workloads ask for.
func podsOfManifest(b *testing.B, manifest []byte) int {
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	pods := 0
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc["kind"] {
		case "Deployment", "StatefulSet", "ReplicaSet":
			n, ok := dig(doc, "spec", "replicas").(int)
			if !ok {
				n = 1
			}
			pods += n
		case "Pod":
			pods++
		}
	}
	if pods == 0 {
		b.Fatal("the manifest asks for no pods")
	}
	return pods
}

func BenchmarkKubectlApplySockShop(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(kubeCorpusDir, sockShopFile))
	if err != nil {
		b.Fatal(err)
	}
	s := &standIn{secrets: map[string]bool{}, configMaps: map[string]bool{}}
	manifest, defined, err := s.rewriteManifest(raw)
	if err != nil {
		b.Fatal(err)
	}
	want := podsOfManifest(b, manifest)
	c := startCluster(b, 3)
	h := c.agent(1)
	cache := b.TempDir()
	if stubs := s.stubs(defined); stubs != "" {
		timedRun(b, shoalCmd(b, h, []byte(stubs), "apply", "-f", "-"))
	}
	timedRun(b, kubectlCmd(b, h, cache, nil, "api-resources")) // a warm discovery cache
	const ns = "sock-shop"
	running := func() int {
		n := 0
		for _, p := range h.pods(b, ns, "") {
			if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
				n++
			}
		}
		return n
	}
	// upUntilRunning applies with cmd and returns the time until every pod
	// runs; then it deletes everything and waits until the hosts are clean.
	upUntilRunning := func(cmd *exec.Cmd) time.Duration {
		start := time.Now()
		timedRun(b, cmd)
		poll.Until(b, 5*time.Minute, "every Sock Shop pod Running", func() error {
			if n := running(); n < want {
				return fmt.Errorf("%d of %d pods Running", n, want)
			}
			return nil
		})
		took := time.Since(start)
		b.StopTimer()
		timedRun(b, shoalCmd(b, h, nil, "delete", "namespace", ns)) // all of the demo is in it
		poll.Until(b, 5*time.Minute, "the Sock Shop gone from every host", func() error {
			if n := len(h.pods(b, ns, "")); n > 0 {
				return fmt.Errorf("%d pods left", n)
			}
			if n := total(c.runningApps("")); n > 0 {
				return fmt.Errorf("%d app containers left", n)
			}
			if _, err := h.client.Get(ctx(b), api.KindNamespace, "", ns); !api.IsNotFound(err) {
				return fmt.Errorf("namespace %s still there (%v)", ns, err)
			}
			return nil
		})
		b.StartTimer()
		return took
	}
	var kubectl, shoal []time.Duration
	b.ResetTimer()
	for b.Loop() {
		kubectl = append(kubectl, upUntilRunning(kubectlCmd(b, h, cache, manifest, "apply", "-f", "-")))
		shoal = append(shoal, upUntilRunning(shoalCmd(b, h, manifest, "apply", "-f", "-")))
	}
	b.StopTimer()
	reportPair(b, kubectl, shoal)
}
