package registry

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// replica is one simulated agent: a store of its own and a registry over
// it; records move between replicas only when a test says so.
type replica struct {
	name string
	st   *gossip.Store
	o    *Registry
}

func newReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	out := make([]*replica, n)
	for i := range out {
		name := fmt.Sprintf("h%d", i+1)
		st, err := gossip.Open("", name, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = &replica{name: name, st: st, o: New(st)}
	}
	ctx := context.Background()
	if _, err := out[0].o.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range out[1:] {
		exchange(t, out[0], r)
	}
	return out
}

func records(st *gossip.Store) []*gossip.Record {
	var out []*gossip.Record
	st.All(func(r *gossip.Record) { out = append(out, r) })
	slices.SortFunc(out, func(a, b *gossip.Record) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// send applies every record of from to to, as gossip would.
func send(t *testing.T, from, to *replica) {
	t.Helper()
	if _, err := to.st.Apply(context.Background(), records(from.st)); err != nil {
		t.Fatal(err)
	}
}

func exchange(t *testing.T, a, b *replica) {
	t.Helper()
	send(t, a, b)
	send(t, b, a)
}

// sameState fails unless every replica holds the same records, byte for byte.
func sameState(t *testing.T, rs ...*replica) {
	t.Helper()
	want := records(rs[0].st)
	for _, r := range rs[1:] {
		got := records(r.st)
		if len(got) != len(want) {
			t.Fatalf("%s holds %d records, %s %d", r.name, len(got), rs[0].name, len(want))
		}
		for i := range got {
			if !got[i].Same(want[i]) {
				t.Fatalf("%s and %s differ on %s:\n%s %s\n%s %s", r.name, rs[0].name, got[i].Key,
					got[i].Version, got[i].Value, want[i].Version, want[i].Value)
			}
		}
	}
}

func getDeployment(t *testing.T, r *replica, name string) *api.Deployment {
	t.Helper()
	obj, err := r.o.Get(context.Background(), api.KindDeployment, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.Deployment)
}

func edit(t *testing.T, r *replica, name string, fn func(d *api.Deployment)) *api.Deployment {
	t.Helper()
	d := getDeployment(t, r, name)
	fn(d)
	out, err := r.o.Update(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return out.(*api.Deployment)
}

func drainConflicts(o *Registry) []Conflict {
	var out []Conflict
	for {
		select {
		case c := <-o.Conflicts():
			out = append(out, c)
		default:
			return out
		}
	}
}

// The partition of the issue: an image change on one side and a scale on
// the other both stand after the heal, on every agent, in the same bytes,
// with a generation above both sides' and a new resourceVersion.
func TestEditsOfDifferentFieldsMadeApartBothStand(t *testing.T) {
	rs := newReplicas(t, 3)
	ctx := context.Background()
	if _, err := rs[0].o.Create(ctx, testDeployment("web", 2)); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	exchange(t, rs[0], rs[2])
	a := edit(t, rs[0], "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	b := edit(t, rs[1], "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(5) })
	exchange(t, rs[0], rs[1])
	send(t, rs[1], rs[2])
	send(t, rs[2], rs[0])
	sameState(t, rs...)
	for _, r := range rs {
		d := getDeployment(t, r, "web")
		if d.Spec.Template.Spec.Containers[0].Image != "img:v2" || *d.Spec.Replicas != 5 {
			t.Fatalf("%s: image %s replicas %d; want both edits", r.name, d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas)
		}
		if d.Generation <= a.Generation || d.Generation <= b.Generation {
			t.Fatalf("%s: generation %d, the sides had %d and %d: the merged spec must be seen as new", r.name, d.Generation, a.Generation, b.Generation)
		}
		if d.ResourceVersion == a.ResourceVersion || d.ResourceVersion == b.ResourceVersion {
			t.Fatalf("%s: resourceVersion %s is one side's: a client holding it would overwrite the merge", r.name, d.ResourceVersion)
		}
	}
	for _, r := range rs {
		if cs := drainConflicts(r.o); len(cs) != 0 {
			t.Fatalf("%s reported conflicts for edits of different fields: %+v", r.name, cs)
		}
	}
	// An update made with a side's resourceVersion is refused: it would
	// undo the other side's edit.
	stale := getDeployment(t, rs[0], "web")
	stale.ResourceVersion = b.ResourceVersion
	if _, err := rs[0].o.Update(ctx, stale); !api.IsConflict(err) {
		t.Fatalf("update with a pre-merge resourceVersion: want Conflict, got %v", err)
	}
}

// Containers merge by name: the image of one and the env of another,
// changed apart, both stand.
func TestContainersMergeByName(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	d := testDeployment("web", 1)
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, api.Container{Name: "side", Image: "side:v1"})
	if _, err := rs[0].o.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	edit(t, rs[0], "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	edit(t, rs[1], "web", func(d *api.Deployment) {
		d.Spec.Template.Spec.Containers[1].Env = []api.EnvVar{{Name: "MODE", Value: "fast"}}
		d.Labels["team"] = "b"
	})
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	got := getDeployment(t, rs[0], "web")
	cs := got.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Name != "app" || cs[0].Image != "img:v2" || cs[1].Name != "side" || len(cs[1].Env) != 1 || got.Labels["team"] != "b" {
		t.Fatalf("containers %+v labels %v: want both edits, in order", cs, got.Labels)
	}
}

// The same field changed on both sides: one value everywhere (the newer
// write's), and the conflict is reported naming both writes.
func TestSameFieldEditedApartIsOneValueAndAConflict(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	for _, r := range rs {
		r.o.SetUserOf(func(context.Context) string { return "user-of-" + r.name })
	}
	if _, err := rs[0].o.Create(ctx, testDeployment("web", 2)); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	edit(t, rs[0], "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:a" })
	edit(t, rs[1], "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:b" })
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	img := getDeployment(t, rs[0], "web").Spec.Template.Spec.Containers[0].Image
	if img != "img:b" {
		t.Fatalf("image %q: the newer write (h2's) wins", img)
	}
	var all []Conflict
	for _, r := range rs {
		all = append(all, drainConflicts(r.o)...)
	}
	if len(all) == 0 {
		t.Fatal("no conflict reported")
	}
	c := all[0]
	if fieldPath(c.Path) != "spec.template.spec.containers[app].image" || c.Winner.Version.Node != "h2" || c.Loser.Version.Node != "h1" ||
		c.Winner.User != "user-of-h2" || c.Loser.User != "user-of-h1" {
		t.Fatalf("conflict %+v (%s)", c, fieldPath(c.Path))
	}
	// A later edit over the merged value is no conflict.
	edit(t, rs[0], "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:c" })
	exchange(t, rs[0], rs[1])
	for _, r := range rs {
		if cs := drainConflicts(r.o); len(cs) != 0 {
			t.Fatalf("a causally later edit reported as a conflict: %+v", cs)
		}
	}
}

// Two edits valid alone, invalid together: the newer write stands whole,
// the same everywhere, and it is reported.
func TestInvalidMergeKeepsTheNewerWriteWhole(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	d := testDeployment("web", 2)
	if _, err := rs[0].o.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	// maxSurge 0 on one side, maxUnavailable 0 on the other: never both.
	edit(t, rs[0], "web", func(d *api.Deployment) {
		z := api.FromInt(0)
		d.Spec.Strategy.RollingUpdate.MaxSurge = &z
	})
	edit(t, rs[1], "web", func(d *api.Deployment) {
		z := api.FromInt(0)
		d.Spec.Strategy.RollingUpdate.MaxUnavailable = &z
		d.Spec.Replicas = api.Int32(4)
	})
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	got := getDeployment(t, rs[0], "web")
	if ru := got.Spec.Strategy.RollingUpdate; ru.MaxSurge.String() == "0" || ru.MaxUnavailable.String() != "0" || *got.Spec.Replicas != 4 {
		t.Fatalf("want h2's write whole: %+v replicas %d", got.Spec.Strategy.RollingUpdate, *got.Spec.Replicas)
	}
	var whole bool
	for _, r := range rs {
		for _, c := range drainConflicts(r.o) {
			whole = whole || c.Path == ""
		}
	}
	if !whole {
		t.Fatal("the merge that kept one write whole was not reported")
	}
	// A third replica meeting the merged state and one input agrees.
	st, _ := gossip.Open("", "h3", nil)
	t.Cleanup(func() { st.Close() })
	r3 := &replica{name: "h3", st: st, o: New(st)}
	send(t, rs[0], r3)
	sameState(t, rs[0], r3)
}

// A delete on one side wins over an edit and a status write on the other,
// however late they were written.
func TestDeleteWinsOverEditAndStatusMadeApart(t *testing.T) {
	rs := newReplicas(t, 2)
	ctx := context.Background()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"a": "1"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}
	created, err := rs[0].o.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	running := created.(*api.Pod)
	running.Status.Phase = api.PodRunning
	if _, err := rs[0].o.UpdateStatus(ctx, running); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	if _, err := rs[0].o.Delete(ctx, api.KindPod, "default", "p", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// h2, apart, later: an edit and a status write.
	obj, _ := rs[1].o.Get(ctx, api.KindPod, "default", "p")
	pod := obj.(*api.Pod)
	pod.Labels["a"] = "2"
	if _, err := rs[1].o.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = api.PodSucceeded
	if _, err := rs[1].o.UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	sameState(t, rs...)
	for _, r := range rs {
		for _, key := range []string{"o/pods/default/p", "s/pods/default/p"} {
			if rec := r.st.Get(key); rec == nil || !rec.Deleted {
				t.Fatalf("%s: %s is %+v; want a tombstone", r.name, key, rec)
			}
		}
	}
	// The object created again after the delete is a new incarnation: it
	// wins over the old tombstone.
	p2 := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}
	if _, err := rs[1].o.Create(ctx, p2); err != nil {
		t.Fatal(err)
	}
	exchange(t, rs[0], rs[1])
	if _, err := rs[0].o.Get(ctx, api.KindPod, "default", "p"); err != nil {
		t.Fatalf("the re-created pod: %v", err)
	}
}

// Property: replicas that make random edits apart and exchange their
// records in random orders (repeats included) end with the same bytes, and
// every edit of a field no other replica touched stands.
func TestRandomEditsConvergeToTheSameBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ctx := context.Background()
	for round := 0; round < 25; round++ {
		rs := newReplicas(t, 3)
		d := testDeployment("web", 1)
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, api.Container{Name: "side", Image: "side:v1"})
		if _, err := rs[0].o.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[1:] {
			exchange(t, rs[0], r)
		}
		for step := 0; step < 12; step++ {
			r := rs[rng.Intn(len(rs))]
			switch rng.Intn(7) {
			case 0:
				edit(t, r, "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(int32(rng.Intn(9))) })
			case 1:
				edit(t, r, "web", func(d *api.Deployment) {
					d.Spec.Template.Spec.Containers[0].Image = fmt.Sprintf("img:%d", rng.Intn(5))
				})
			case 2:
				edit(t, r, "web", func(d *api.Deployment) {
					c := &d.Spec.Template.Spec.Containers[len(d.Spec.Template.Spec.Containers)-1]
					c.Env = append(c.Env, api.EnvVar{Name: fmt.Sprintf("V%d", rng.Intn(4)), Value: r.name})
					slices.SortFunc(c.Env, func(a, b api.EnvVar) int { return strings.Compare(a.Name, b.Name) })
					c.Env = slices.CompactFunc(c.Env, func(a, b api.EnvVar) bool { return a.Name == b.Name })
				})
			case 3:
				edit(t, r, "web", func(d *api.Deployment) { d.Labels[fmt.Sprintf("l%d", rng.Intn(3))] = r.name })
			case 4:
				edit(t, r, "web", func(d *api.Deployment) { delete(d.Labels, fmt.Sprintf("l%d", rng.Intn(3))) })
			case 5:
				edit(t, r, "web", func(d *api.Deployment) { d.Spec.MinReadySeconds = int32(rng.Intn(3)) })
			default: // a partial exchange
				from, to := rs[rng.Intn(len(rs))], rs[rng.Intn(len(rs))]
				recs := records(from.st)
				rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
				if _, err := to.st.Apply(ctx, recs[:rng.Intn(len(recs)+1)]); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Everyone meets everyone, in a random order, until nothing moves.
		for i := 0; i < 4; i++ {
			for _, p := range rng.Perm(len(rs) * len(rs)) {
				a, b := rs[p/len(rs)], rs[p%len(rs)]
				if a != b {
					send(t, a, b)
				}
			}
		}
		sameState(t, rs...)
		for _, r := range rs {
			drainConflicts(r.o)
		}
	}
}

// The merge function itself: commutative, associative and idempotent on
// random versions of one object.
func TestMergeRecordsIsCommutativeAssociativeIdempotent(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	ctx := context.Background()
	rs := newReplicas(t, 3)
	if _, err := rs[0].o.Create(ctx, testDeployment("web", 1)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[1:] {
		exchange(t, rs[0], r)
	}
	// Versions written apart on three replicas, and some merged.
	var versions []*gossip.Record
	for i := 0; i < 12; i++ {
		r := rs[i%3]
		switch rng.Intn(3) {
		case 0:
			edit(t, r, "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(int32(rng.Intn(9))) })
		case 1:
			edit(t, r, "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = fmt.Sprint("i", rng.Intn(4)) })
		default:
			edit(t, r, "web", func(d *api.Deployment) { d.Labels[fmt.Sprint("k", rng.Intn(3))] = r.name })
		}
		versions = append(versions, r.st.Get("o/deployments/default/web"))
		if rng.Intn(3) == 0 {
			send(t, rs[rng.Intn(3)], r)
		}
	}
	o := rs[0].o
	m := func(a, b *gossip.Record) *gossip.Record {
		if a.Same(b) {
			return a
		}
		if r, ok := o.MergeRecords(a.Key, a, b); ok {
			return r
		}
		return gossip.Merge(a, b)
	}
	for i := 0; i < 400; i++ {
		a, b, c := versions[rng.Intn(len(versions))], versions[rng.Intn(len(versions))], versions[rng.Intn(len(versions))]
		if !m(a, b).Same(m(b, a)) {
			t.Fatalf("not commutative:\n%s\n%s", a.Value, b.Value)
		}
		if !m(m(a, b), c).Same(m(a, m(b, c))) {
			t.Fatalf("not associative:\n%s\n%s\n%s\n%s\nvs\n%s", a.Value, b.Value, c.Value, m(m(a, b), c).Value, m(a, m(b, c)).Value)
		}
		if !m(a, a).Same(a) || !m(m(a, b), b).Same(m(a, b)) {
			t.Fatal("not idempotent")
		}
	}
	drainConflicts(o)
}
