package volumereclaim

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// volumes is an engine's volume list.
type volumes struct {
	mu    sync.Mutex
	vols  map[string]map[string]string
	inUse map[string]bool
}

func (v *volumes) ListVolumes(_ context.Context, prefix string) ([]engine.VolumeInfo, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []engine.VolumeInfo
	for n, l := range v.vols {
		if strings.HasPrefix(n, prefix) {
			out = append(out, engine.VolumeInfo{Name: n, Labels: l})
		}
	}
	return out, nil
}

func (v *volumes) RemoveVolume(_ context.Context, name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inUse[name] {
		return engine.ErrInUse
	}
	delete(v.vols, name)
	return nil
}

func (v *volumes) has(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.vols[name]
	return ok
}

func newRegistry(t *testing.T) *registry.Registry {
	st, err := gossip.Open("", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return registry.New(st)
}

func answers(t *testing.T, reg *registry.Registry, ns string) []*api.Event {
	objs, _, err := reg.List(context.Background(), api.KindEvent, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []*api.Event
	for _, o := range objs {
		if e := o.(*api.Event); e.Reason == api.EventReasonVolumesRemoved {
			out = append(out, e)
		}
	}
	return out
}

func TestReclaimRemovesTheNamespacesVolumesOnceItsPodsAreGone(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	for _, ns := range []string{"shop", "shop-db"} {
		if _, err := reg.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "db-1", Namespace: "shop"},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "db", Image: "img"}}}}
	if _, err := reg.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	eng := &volumes{vols: map[string]map[string]string{
		"shoal-pvc-shop-data":      {engine.LabelPodNamespace: "shop"},
		"shoal-pvc-shop-cache":     nil, // made by the engine itself: no label
		"shoal-pvc-shop-db-data":   {engine.LabelPodNamespace: "shop-db"},
		"shoal-pvc-other-data":     {engine.LabelPodNamespace: "other"},
		"unrelated-volume-of-host": nil,
	}, inUse: map[string]bool{}}
	r := New(Config{Node: "n1", Engine: eng, Objects: reg, Answers: reg})

	// Without a request, nothing goes (down without -v keeps the data).
	r.Sync(ctx)
	if !eng.has("shoal-pvc-shop-data") || len(answers(t, reg, "shop")) != 0 {
		t.Fatal("volumes removed without a request")
	}
	nsObj, err := reg.Get(ctx, api.KindNamespace, "", "shop")
	if err != nil {
		t.Fatal(err)
	}
	nsObj.GetObjectMeta().Annotations = map[string]string{api.AnnotationRemoveVolumes: "req-1"}
	if _, err := reg.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	// A pod of the namespace still on the node: not yet.
	r.Sync(ctx)
	if !eng.has("shoal-pvc-shop-data") || len(answers(t, reg, "shop")) != 0 {
		t.Fatal("volumes removed while a pod of the namespace is on the node")
	}
	if _, err := reg.Delete(ctx, api.KindPod, "shop", "db-1", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	// A stopped container still holding a volume: retried, not answered.
	eng.inUse["shoal-pvc-shop-data"] = true
	r.Sync(ctx)
	if len(answers(t, reg, "shop")) != 0 {
		t.Fatal("answered while a volume could not be removed")
	}
	delete(eng.inUse, "shoal-pvc-shop-data")
	r.Sync(ctx)
	for _, gone := range []string{"shoal-pvc-shop-data", "shoal-pvc-shop-cache"} {
		if eng.has(gone) {
			t.Errorf("%s is still there", gone)
		}
	}
	for _, kept := range []string{"shoal-pvc-shop-db-data", "shoal-pvc-other-data", "unrelated-volume-of-host"} {
		if !eng.has(kept) {
			t.Errorf("%s, not of namespace shop, was removed", kept)
		}
	}
	evs := answers(t, reg, "shop")
	if len(evs) != 1 || evs[0].Source.Host != "n1" || evs[0].Annotations[api.AnnotationRemoveVolumes] != "req-1" ||
		evs[0].Message != "node n1 removed the volumes shoal-pvc-shop-cache, shoal-pvc-shop-data" {
		t.Fatalf("answers %d: %+v", len(evs), *evs[0])
	}
	// Answered once.
	r.Sync(ctx)
	if n := len(answers(t, reg, "shop")); n != 1 {
		t.Errorf("%d answers after another sync", n)
	}
}
