package registry

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// The same field edited on two agents apart: each agent that merges
// records the conflict, and they write one Event on the object between
// them, naming the field, both values and both writers (users and agents).
func TestConflictIsOneEventNamingBothWriters(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	for _, r := range rs {
		r.o.SetUserOf(func(context.Context) string { return "user-of-" + r.name })
	}
	if _, err := rs[0].o.Create(ctx, testDeployment("web", 2)); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	edit(t, rs[0], "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(3) })
	edit(t, rs[1], "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(7) })
	// Both agents merge the two writes (each gets the other's before its
	// own merge went out): both report the conflict.
	fromA, fromB := records(rs[0].st), records(rs[1].st)
	if _, err := rs[0].st.Apply(ctx, fromB); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[1].st.Apply(ctx, fromA); err != nil {
		t.Fatal(err)
	}
	sameState(t, rs...)
	for _, r := range rs {
		go r.o.RecordConflicts(ctx, r.name, log)
	}
	events := func(r *replica) []*api.Event {
		list, _, err := r.o.List(ctx, api.KindEvent, "default", nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []*api.Event
		for _, o := range list {
			if ev := o.(*api.Event); ev.Reason == ReasonConflictingEdits {
				out = append(out, ev)
			}
		}
		return out
	}
	poll.Cond(t, 10*time.Second, "a conflict event on both agents", func() bool { return len(events(rs[0])) > 0 && len(events(rs[1])) > 0 })
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	evs := events(rs[0])
	if len(evs) != 1 {
		t.Fatalf("%d conflict events; want one: %+v", len(evs), evs)
	}
	ev := evs[0]
	d := getDeployment(t, rs[0], "web")
	if *d.Spec.Replicas != 7 {
		t.Fatalf("replicas %d; want the newer write's 7", *d.Spec.Replicas)
	}
	for _, want := range []string{"spec.replicas", "kept 7", "overwritten 3", "by user-of-h2 on agent h2", "by user-of-h1 on agent h1"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("event message %q lacks %q", ev.Message, want)
		}
	}
	if ev.Type != api.EventWarning || ev.InvolvedObject.Kind != "Deployment" || ev.InvolvedObject.Name != "web" || ev.InvolvedObject.UID != d.UID {
		t.Errorf("event %+v: want a Warning on Deployment web", ev)
	}
}

// Edits of one Event made apart merge like any object's, but are not
// reported: a conflict's Event must not beget another.
func TestConflictsOfEventsAreNotReported(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	ev := &api.Event{ObjectMeta: api.ObjectMeta{Name: "e", Namespace: "default"}, Reason: "R", Message: "m", Count: 1,
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "p", Namespace: "default"}}
	if _, err := rs[0].o.Create(ctx, ev); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	for i, r := range rs {
		obj, err := r.o.Get(ctx, api.KindEvent, "default", "e")
		if err != nil {
			t.Fatal(err)
		}
		e := obj.(*api.Event)
		e.Count = int32(10 + i)
		if _, err := r.o.Update(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	for _, r := range rs {
		if cs := drainConflicts(r.o); len(cs) != 0 {
			t.Fatalf("%s reported a conflict of an Event: %+v", r.name, cs)
		}
	}
}

// A ConfigMap's data has no generation: the later edit of one key wins
// every register, and the conflict is still reported.
func TestConflictWithoutGenerationIsReported(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	if _, err := rs[0].o.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cfg", Namespace: "default"},
		Data: map[string]string{"mode": "a"}}); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	for i, r := range rs {
		obj, err := r.o.Get(ctx, api.KindConfigMap, "default", "cfg")
		if err != nil {
			t.Fatal(err)
		}
		cm := obj.(*api.ConfigMap)
		cm.Data["mode"] = []string{"b", "c"}[i]
		if _, err := r.o.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	var all []Conflict
	for _, r := range rs {
		all = append(all, drainConflicts(r.o)...)
	}
	if len(all) == 0 || fieldPath(all[0].Path) != "data.mode" || all[0].Winner.Version.Node != "h2" {
		t.Fatalf("conflicts %+v; want data.mode, h2's edit kept", all)
	}
	obj, _ := rs[0].o.Get(ctx, api.KindConfigMap, "default", "cfg")
	if v := obj.(*api.ConfigMap).Data["mode"]; v != "c" {
		t.Fatalf("mode %q; want the later edit's c", v)
	}
}
