package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// BenchmarkPodStartLatency measures pod start latency as Kubernetes' SLO
// does (images present): 100 pods created at once on a 3-host cluster (a
// Deployment of 100 replicas), and for each pod the time from when a watch
// on h1 first saw it until the watch saw it Running with every container
// running. p50 and p99 over the pods of every iteration; each iteration
// deletes the Deployment and waits for its pods to be gone, and the next
// waits for their containers to be gone from the engines. Run it with
//
//	SHOAL_TEST_DOCKER=1 SHOAL_BIN=$PWD/bin/shoal go test ./integration -run '^$' -bench PodStartLatency -benchtime 3x
func BenchmarkPodStartLatency(b *testing.B) {
	const pods = 100
	c := startCluster(b, 3)
	h := c.agent(1)
	cl := h.newClient(b, "")
	sel, _ := api.ParseSelector("app=startlat")
	var lat []time.Duration
	var whole []time.Duration
	round := 0
	for b.Loop() {
		round++
		// The last round's pods gone first: a watch starts with what is
		// there, and a terminating pod still reads Running.
		poll.Until(b, 2*time.Minute, "no pod left of the last round", func() error {
			if n := len(h.pods(b, "default", "app=startlat")); n > 0 {
				return fmt.Errorf("%d pods left", n)
			}
			return nil
		})
		// And their containers gone from the engines: removals still under
		// way would slow this round's starts.
		poll.Until(b, 2*time.Minute, "no container left of the last round", func() error {
			for i := 1; i <= 3; i++ {
				if ids := c.docker(i, "ps", "-aq", "--filter", "label=io.shoal.pod.namespace=default"); ids != "" {
					return fmt.Errorf("h%d still has %d containers", i, len(strings.Fields(ids)))
				}
			}
			return nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		events, err := cl.Watch(ctx, api.KindPod, "default", api.ListOptions{LabelSelector: sel})
		if err != nil {
			b.Fatal(err)
		}
		seen, running := map[string]time.Time{}, map[string]time.Time{}
		start := time.Now()
		manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: startlat}
spec:
  replicas: %d
  selector: {matchLabels: {app: startlat}}
  template:
    metadata: {labels: {app: startlat}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: %s}
`, pods, testImage)
		if _, errOut, err := h.shoalIn([]byte(manifest), "apply", "-f", "-"); err != nil {
			b.Fatalf("apply: %v %s", err, errOut)
		}
		for len(running) < pods {
			select {
			case ev, ok := <-events:
				if !ok {
					b.Fatalf("round %d: the watch ended with %d of %d Running", round, len(running), pods)
				}
				p, isPod := ev.Object.(*api.Pod)
				if !isPod || ev.Type == "DELETED" || p.DeletionTimestamp != nil {
					continue
				}
				now := time.Now()
				if _, ok := seen[p.Name]; !ok {
					seen[p.Name] = now
				}
				if _, ok := running[p.Name]; !ok && podRunning(p) {
					running[p.Name] = now
				}
			case <-ctx.Done():
				b.Fatalf("round %d: %d of %d Running in 5 minutes", round, len(running), pods)
			}
		}
		whole = append(whole, time.Since(start))
		cancel()
		var slowest time.Duration
		for name, at := range running {
			lat = append(lat, at.Sub(seen[name]))
			slowest = max(slowest, at.Sub(seen[name]))
		}
		b.Logf("round %d: all %d Running %v after the apply; slowest pod %v", round, pods, whole[len(whole)-1].Round(time.Millisecond), slowest.Round(time.Millisecond))
		if _, errOut, err := h.shoalIn(nil, "delete", "deployment", "startlat", "--wait"); err != nil {
			b.Fatalf("delete: %v %s", err, errOut)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() * 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(median(whole).Seconds(), "all-running-s")
	b.Logf("%d pods: start latency p50 %.0f ms, p99 %.0f ms, max %.0f ms; apply to all Running %v (median of %d)",
		len(lat), pct(0.5), pct(0.99), lat[len(lat)-1].Seconds()*1000, median(whole).Round(time.Millisecond), len(whole))
}

// podRunning: Running, with every container running.
func podRunning(p *api.Pod) bool {
	if p.Status.Phase != api.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}
