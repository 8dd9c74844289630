package registry_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/registry"
)

// A delete that only marks an object (it has finalizers) made on one side
// of a partition and edits made on the other merge into one state every
// member agrees on; whatever that state, a delete then removes the object
// everywhere once no finalizer is left.
func TestDeletionMarksMergeThroughGossip(t *testing.T) {
	c := gossiptest.New(t, 2, gossiptest.Options{})
	ms := c.Members()
	regs := []*registry.Registry{registry.New(ms[0].Store), registry.New(ms[1].Store)}
	ctx := context.Background()
	if _, err := regs[0].Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"labelled", "released"} {
		if _, err := regs[0].Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default",
			Finalizers: []string{"example.com/keep"}}}); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(t, 20*time.Second)

	c.Partition(ms[:1], ms[1:])
	for _, name := range []string{"labelled", "released"} {
		if _, err := regs[0].Delete(ctx, api.KindConfigMap, "default", name, api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	update := func(name string, fn func(*api.ObjectMeta)) {
		t.Helper()
		obj, err := regs[1].Get(ctx, api.KindConfigMap, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		fn(obj.GetObjectMeta())
		if _, err := regs[1].Update(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	update("labelled", func(m *api.ObjectMeta) { m.Labels = map[string]string{"side": "b"} })
	update("released", func(m *api.ObjectMeta) { m.Finalizers = nil }) // not knowing of the delete
	time.Sleep(500 * time.Millisecond)
	c.Heal()
	c.WaitMembers(t, 30*time.Second)
	c.WaitConverged(t, 30*time.Second)

	metas := func(name string) []*api.ObjectMeta {
		var out []*api.ObjectMeta
		for _, r := range regs {
			obj, err := r.Get(ctx, api.KindConfigMap, "default", name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			m := obj.GetObjectMeta()
			out = append(out, m)
		}
		if !reflect.DeepEqual(out[0], out[1]) {
			t.Fatalf("%s: the members disagree:\n%+v\n%+v", name, out[0], out[1])
		}
		return out
	}
	m := metas("labelled")[0]
	if m.DeletionTimestamp == nil || m.Labels["side"] != "b" || !slices.Equal(m.Finalizers, []string{"example.com/keep"}) {
		t.Fatalf("labelled: deletion %v, labels %v, finalizers %v; want the delete's mark and the label both", m.DeletionTimestamp, m.Labels, m.Finalizers)
	}
	// The later write's finalizers (none) and the delete's mark both
	// stand: nothing is left to wait for, so a delete (the garbage
	// collector's sweep) removes it on every member.
	m = metas("released")[0]
	if m.DeletionTimestamp == nil || len(m.Finalizers) != 0 {
		t.Fatalf("released: deletion %v, finalizers %v", m.DeletionTimestamp, m.Finalizers)
	}
	if _, err := regs[1].Delete(ctx, api.KindConfigMap, "default", "released", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	update("labelled", func(m *api.ObjectMeta) { m.Finalizers = nil })
	c.WaitConverged(t, 30*time.Second)
	for i, r := range regs {
		for _, name := range []string{"labelled", "released"} {
			if _, err := r.Get(ctx, api.KindConfigMap, "default", name); !api.IsNotFound(err) {
				t.Fatalf("%s on %s: %v, want it gone", name, ms[i].Name, err)
			}
		}
	}
}
