package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/compose"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/volumereclaim"
)

// hostVolumes is one host's engine volumes.
type hostVolumes struct {
	mu   sync.Mutex
	vols map[string]string // name: namespace label
}

func (h *hostVolumes) ListVolumes(_ context.Context, prefix string) ([]engine.VolumeInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []engine.VolumeInfo
	for n, ns := range h.vols {
		if strings.HasPrefix(n, prefix) {
			out = append(out, engine.VolumeInfo{Name: n, Labels: map[string]string{engine.LabelPodNamespace: ns}})
		}
	}
	return out, nil
}

func (h *hostVolumes) RemoveVolume(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.vols, name)
	return nil
}

func (h *hostVolumes) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.vols)
}

const volumeCompose = `
name: shop
services:
  db:
    image: img:db
    volumes: ["data:/var/lib/db"]
  web:
    image: img:web
    scale: 2
volumes:
  data: {}
`

// down -v asks the hosts to remove the project's volumes and waits for
// every ready host's answer; down without -v keeps them. Each service's
// progress is a line.
func TestComposeDownRemovesVolumesOnEveryReadyHost(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.PodTermination = 200 * time.Millisecond
	f := writeCompose(t, t.TempDir(), volumeCompose)
	srv.Add(node("n1", "10.0.0.1", api.ConditionTrue, "2", "4Gi", time.Hour), node("n2", "10.0.0.2", api.ConditionTrue, "2", "4Gi", time.Hour),
		node("n3", "10.0.0.3", api.ConditionFalse, "2", "4Gi", time.Hour))
	hosts := map[string]*hostVolumes{
		"n1": {vols: map[string]string{"shoal-pvc-shop-data": "shop", "shoal-pvc-other-data": "other"}},
		"n2": {vols: map[string]string{}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for name, h := range hosts {
		r := volumereclaim.New(volumereclaim.Config{Node: name, Engine: h, Objects: srv.Registry(), Answers: srv.Registry(), Interval: 50 * time.Millisecond})
		wg.Go(func() { r.Run(ctx) })
	}
	up := func() {
		expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
		for _, p := range []*api.Pod{boundPod("shop", "db-1", "n1", "", ""), boundPod("shop", "web-1", "n1", "", ""), boundPod("shop", "web-2", "n2", "", "")} {
			svc := strings.Split(p.Name, "-")[0]
			p.Labels = map[string]string{compose.LabelProject: "shop", compose.LabelService: svc}
			srv.Add(p)
		}
	}
	up()
	r := shoal(t, srv, "", "compose", "-p", "shop", "down")
	expectOK(t, r)
	if hosts["n1"].count() != 2 {
		t.Fatalf("down without -v removed volumes")
	}
	for _, want := range []string{"db: stopping, 1 pod left", "web: stopping, 2 pods left", "db: removed", "web: removed", "namespace/shop deleted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("down's progress lacks %q:\n%s", want, r.stdout)
		}
	}

	up()
	r = shoal(t, srv, "", "compose", "-p", "shop", "down", "-v")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "(volumes): removed shoal-pvc-shop-data") || !strings.Contains(r.stdout, "namespace/shop deleted") {
		t.Errorf("down -v:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "warning: node n3 is not ready: its volumes of project shop (shoal-pvc-shop-*) stay") {
		t.Errorf("down -v does not warn of the host that is not ready:\n%s", r.stderr)
	}
	h := hosts["n1"]
	h.mu.Lock()
	_, kept := h.vols["shoal-pvc-other-data"]
	_, left := h.vols["shoal-pvc-shop-data"]
	h.mu.Unlock()
	if left || !kept {
		t.Errorf("after down -v: shop's volume left %v, another project's kept %v", left, kept)
	}
	if srv.Object(api.KindNamespace, "", "shop") != nil {
		t.Errorf("the namespace is still there")
	}

	// down, then down -v: the volumes kept by the first go with the second.
	up()
	expectOK(t, shoal(t, srv, "", "compose", "-p", "shop", "down"))
	h.mu.Lock()
	h.vols["shoal-pvc-shop-data"] = "shop"
	h.mu.Unlock()
	r = shoal(t, srv, "", "compose", "-p", "shop", "down", "-v")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "project shop is not on the cluster; removing its volumes") || !strings.Contains(r.stdout, "(volumes): removed shoal-pvc-shop-data") {
		t.Errorf("down -v after down:\n%s", r.stdout)
	}
	if srv.Object(api.KindNamespace, "", "shop") != nil {
		t.Errorf("the namespace made for the removal is still there")
	}
}
