package registry_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// The merge through real gossip (memberlist, broadcasts, anti-entropy with
// content sums) among in-process members, one partitioned from two: edits
// of different fields both stand, the same field edited on both sides
// ends with one value and a reported conflict, every member holds the same
// bytes, and nothing merges back and forth once converged.
func TestPartitionedEditsMergeThroughGossip(t *testing.T) {
	c := gossiptest.New(t, 3, gossiptest.Options{})
	ms := c.Members()
	regs := make([]*registry.Registry, len(ms))
	for i, m := range ms {
		regs[i] = registry.New(m.Store)
	}
	ctx := context.Background()
	if _, err := regs[0].Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "clash"} {
		if _, err := regs[0].Create(ctx, deployment(name, 2)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(t, 20*time.Second)

	c.Partition(ms[:1], ms[1:])
	edit(t, regs[0], "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	edit(t, regs[0], "clash", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(4) })
	time.Sleep(5 * time.Millisecond)
	edit(t, regs[1], "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(5) })
	edit(t, regs[2], "clash", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(6) })
	time.Sleep(500 * time.Millisecond) // broadcasts into the cut are lost
	c.Heal()
	c.WaitMembers(t, 30*time.Second)
	c.WaitConverged(t, 30*time.Second)

	for i, r := range regs {
		web := get(t, r, "web")
		if web.Spec.Template.Spec.Containers[0].Image != "img:v2" || *web.Spec.Replicas != 5 {
			t.Fatalf("%s: web has image %s and %d replicas; want both edits", ms[i].Name, web.Spec.Template.Spec.Containers[0].Image, *web.Spec.Replicas)
		}
		if clash := get(t, r, "clash"); *clash.Spec.Replicas != 6 {
			t.Fatalf("%s: clash has %d replicas; want the later write's 6", ms[i].Name, *clash.Spec.Replicas)
		}
	}
	var conflicts []registry.Conflict
	poll.Cond(t, 10*time.Second, "the conflict on clash reported", func() bool {
		for _, r := range regs {
			for {
				select {
				case cf := <-r.Conflicts():
					conflicts = append(conflicts, cf)
					continue
				default:
				}
				break
			}
		}
		return len(conflicts) > 0
	})
	for _, cf := range conflicts {
		if cf.Key != "o/deployments/default/clash" || cf.Winner.Version.Node != ms[2].Name || cf.Loser.Version.Node != ms[0].Name {
			t.Fatalf("conflict %+v: want clash's replicas, %s's write over %s's", cf, ms[2].Name, ms[0].Name)
		}
	}

	// Converged means the same bytes, and it stays so: a merge that
	// rendered differently on two members would keep changing records.
	same := func() error {
		for _, m := range ms[1:] {
			var diff []string
			m.Store.All(func(r *gossip.Record) {
				if o := ms[0].Store.Get(r.Key); o == nil || !o.Same(r) {
					diff = append(diff, r.Key)
				}
			})
			if len(diff) > 0 {
				return fmt.Errorf("%s and %s hold different bytes for %v", ms[0].Name, m.Name, diff)
			}
		}
		return nil
	}
	if err := same(); err != nil {
		t.Fatal(err)
	}
	before := gossiptest.Digest(ms[0].Store)
	time.Sleep(2 * time.Second) // several anti-entropy rounds of the local profile
	if err := same(); err != nil {
		t.Fatal(err)
	}
	if after := gossiptest.Digest(ms[0].Store); !maps.Equal(before, after) {
		t.Fatalf("records changed after convergence with no write: merges go back and forth")
	}
}

func deployment(name string, replicas int32) *api.Deployment {
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img:v1"}}},
			},
		},
	}
}

func get(t *testing.T, r *registry.Registry, name string) *api.Deployment {
	t.Helper()
	o, err := r.Get(context.Background(), api.KindDeployment, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Deployment)
}

func edit(t *testing.T, r *registry.Registry, name string, fn func(*api.Deployment)) {
	t.Helper()
	d := get(t, r, name)
	fn(d)
	if _, err := r.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}
