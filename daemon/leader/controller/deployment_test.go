package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// deploymentDone reports whether the Deployment finished rolling out its
// current template: every replica updated and available, status current.
func deploymentDone(t *testing.T, store testStore, name string) (bool, string) {
	d := getDeployment(t, store, name)
	want := *d.Spec.Replicas
	st := d.Status
	cond := api.FindCondition(st.Conditions, api.DeploymentProgressing)
	ok := st.ObservedGeneration == d.Generation && st.Replicas == want && st.UpdatedReplicas == want &&
		st.ReadyReplicas == want && st.AvailableReplicas == want && st.UnavailableReplicas == 0 &&
		cond != nil && cond.Reason == ReasonNewReplicaSetAvailable
	return ok, fmt.Sprintf("gen %d status %+v", d.Generation, st)
}

func waitDone(t *testing.T, store testStore, name string) {
	t.Helper()
	poll.True(t, 20*time.Second, "deployment "+name+" rolled out", func() (bool, string) {
		return deploymentDone(t, store, name)
	})
}

func setImage(image string) func(*api.Deployment) {
	return func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

func podImage(p *api.Pod) string { return p.Spec.Containers[0].Image }

func TestDeploymentCreatesReplicaSetWithHashNameAndRevision(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, nil)
	mustCreate(t, store, newDeployment("web", 3))
	waitDone(t, store, "web")

	d := getDeployment(t, store, "web")
	hash, err := computeHash(&d.Spec.Template, nil)
	if err != nil {
		t.Fatal(err)
	}
	sets := listReplicaSets(t, store)
	if len(sets) != 1 {
		t.Fatalf("%d replicasets, want 1", len(sets))
	}
	rs := sets[0]
	if rs.Name != "web-"+hash {
		t.Fatalf("replicaset %q, want web-%s", rs.Name, hash)
	}
	if rs.Labels[api.LabelPodTemplateHash] != hash || rs.Spec.Selector.MatchLabels[api.LabelPodTemplateHash] != hash ||
		rs.Spec.Template.Labels[api.LabelPodTemplateHash] != hash || rs.Spec.Selector.MatchLabels["app"] != "web" {
		t.Fatalf("hash not in labels, selector and template: %+v %+v", rs.Labels, rs.Spec.Selector)
	}
	if !isControlledBy(rs, d.UID) {
		t.Fatal("the replicaset is not controlled by the deployment")
	}
	if rs.Annotations[api.AnnotationRevision] != "1" || rs.Annotations[api.AnnotationDesiredReplicas] != "3" ||
		rs.Annotations[api.AnnotationMaxReplicas] != "4" {
		t.Fatalf("annotations %v", rs.Annotations)
	}
	for _, p := range listPods(t, store, nil) {
		if p.Labels[api.LabelPodTemplateHash] != hash || !isControlledBy(p, rs.UID) {
			t.Fatalf("pod %s: labels %v", p.Name, p.Labels)
		}
	}
	if c := api.FindCondition(d.Status.Conditions, api.DeploymentAvailable); c == nil ||
		c.Status != api.ConditionTrue || c.Reason != ReasonMinimumReplicasAvailable {
		t.Fatalf("Available condition %+v", c)
	}
}

func TestDeploymentScalingResizesTheCurrentReplicaSet(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, nil)
	mustCreate(t, store, newDeployment("web", 2))
	waitDone(t, store, "web")
	before := listReplicaSets(t, store)[0]

	updateDeployment(t, store, "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(5) })
	waitDone(t, store, "web")
	sets := listReplicaSets(t, store)
	if len(sets) != 1 || sets[0].UID != before.UID {
		t.Fatalf("scaling made a new replicaset: %d sets", len(sets))
	}
	if *sets[0].Spec.Replicas != 5 || sets[0].Annotations[api.AnnotationDesiredReplicas] != "5" {
		t.Fatalf("replicas %d annotations %v", *sets[0].Spec.Replicas, sets[0].Annotations)
	}
	updateDeployment(t, store, "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(1) })
	waitDone(t, store, "web")
	if sets := listReplicaSets(t, store); len(sets) != 1 || *sets[0].Spec.Replicas != 1 {
		t.Fatalf("after scaling down: %d sets", len(sets))
	}
	poll.True(t, 5*time.Second, "1 active pod", func() (bool, string) {
		return len(activePods(listPods(t, store, nil))) == 1, ""
	})
}

// boundsWatcher checks, on every pod event, that the active pods never
// exceed maxActive and, once the first rollout is complete, that the ready
// active pods never fall below minReady.
type boundsWatcher struct {
	mu         sync.Mutex
	violations []string
	peak       int
	low        int
}

func watchBounds(t *testing.T, store testStore, sel api.Selector, replicas, maxActive, minReady int) *boundsWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	w := &boundsWatcher{low: replicas}
	var wg sync.WaitGroup
	wg.Go(func() {
		pods := map[string]*api.Pod{}
		armed := false
		for ev := range ch {
			p := ev.Object.(*api.Pod)
			if ev.Type == api.Deleted {
				delete(pods, p.Name)
			} else {
				pods[p.Name] = p
			}
			active, ready := 0, 0
			for _, p := range pods {
				if isPodActive(p) {
					active++
					if api.IsPodReady(p) {
						ready++
					}
				}
			}
			armed = armed || ready >= replicas
			w.mu.Lock()
			w.peak = max(w.peak, active)
			if active > maxActive {
				var act []*api.Pod
				for _, p := range pods {
					if isPodActive(p) {
						act = append(act, p)
					}
				}
				slices.SortFunc(act, func(a, b *api.Pod) int { return strings.Compare(a.Name, b.Name) })
				w.violations = append(w.violations, fmt.Sprintf("%d active pods > %d: %s", active, maxActive, describePods(act)))
			}
			if armed {
				w.low = min(w.low, ready)
				if ready < minReady {
					w.violations = append(w.violations, fmt.Sprintf("%d ready pods < %d", ready, minReady))
				}
			}
			w.mu.Unlock()
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

func (w *boundsWatcher) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("bounds broken %d times, first: %s", len(w.violations), w.violations[0])
	}
	t.Logf("peak active %d, lowest ready %d", w.peak, w.low)
}

func TestDeploymentRollingUpdateStaysWithinSurgeAndUnavailable(t *testing.T) {
	pct := func(s string) *api.IntOrString { v := api.FromString(s); return &v }
	abs := func(n int32) *api.IntOrString { v := api.FromInt(n); return &v }
	cases := []struct {
		name              string
		replicas          int32
		surge, unavail    *api.IntOrString
		maxActive, minRdy int
	}{
		{"defaults 25% of 4", 4, nil, nil, 5, 3},
		{"percent of 10", 10, pct("30%"), pct("20%"), 13, 8},
		{"no surge", 4, abs(0), abs(1), 4, 3},
		{"no unavailability", 3, abs(1), abs(0), 4, 3},
		{"big steps", 6, abs(3), abs(2), 9, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newTestStore(t)
			sel := api.SelectorFromSet(map[string]string{"app": "web"})
			w := watchBounds(t, store, sel, int(tc.replicas), tc.maxActive, tc.minRdy)
			startManager(t, store, fastOptions())
			startFakeNode(t, store, 30*time.Millisecond, 30*time.Millisecond, nil)
			d := newDeployment("web", tc.replicas)
			if tc.surge != nil {
				d.Spec.Strategy = api.DeploymentStrategy{Type: api.RollingUpdateStrategy,
					RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: tc.surge, MaxUnavailable: tc.unavail}}
			}
			mustCreate(t, store, d)
			waitDone(t, store, "web")

			updateDeployment(t, store, "web", setImage("img:v2"))
			waitDone(t, store, "web")
			w.check(t)

			sets := listReplicaSets(t, store)
			if len(sets) != 2 || sets[0].Annotations[api.AnnotationRevision] != "1" || sets[1].Annotations[api.AnnotationRevision] != "2" {
				t.Fatalf("want revisions 1 and 2, got %d sets", len(sets))
			}
			if *sets[0].Spec.Replicas != 0 || *sets[1].Spec.Replicas != tc.replicas {
				t.Fatalf("old at %d, new at %d", *sets[0].Spec.Replicas, *sets[1].Spec.Replicas)
			}
			poll.True(t, 5*time.Second, "only new pods left", func() (bool, string) {
				pods := listPods(t, store, sel)
				for _, p := range pods {
					if podImage(p) != "img:v2" {
						return false, describePods(pods)
					}
				}
				return len(pods) == int(tc.replicas), describePods(pods)
			})
		})
	}
}

func TestDeploymentRecreateStopsOldPodsFirst(t *testing.T) {
	store := newTestStore(t)
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := store.Watch(ctx, api.KindPod, "default", api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var overlap string
	var wg sync.WaitGroup
	wg.Go(func() {
		pods := map[string]string{} // name -> image, while in the store
		for ev := range ch {
			p := ev.Object.(*api.Pod)
			if ev.Type == api.Deleted {
				delete(pods, p.Name)
				continue
			}
			pods[p.Name] = podImage(p)
			images := map[string]bool{}
			for _, img := range pods {
				images[img] = true
			}
			if len(images) > 1 {
				mu.Lock()
				overlap = fmt.Sprint(pods)
				mu.Unlock()
			}
		}
	})
	defer wg.Wait()
	defer cancel()

	startManager(t, store, fastOptions())
	startFakeNode(t, store, 20*time.Millisecond, 100*time.Millisecond, nil)
	d := newDeployment("web", 3)
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateStrategy}
	mustCreate(t, store, d)
	waitDone(t, store, "web")
	updateDeployment(t, store, "web", setImage("img:v2"))
	waitDone(t, store, "web")
	mu.Lock()
	defer mu.Unlock()
	if overlap != "" {
		t.Fatalf("old and new pods existed together: %s", overlap)
	}
	if sets := listReplicaSets(t, store); len(sets) != 2 || *sets[0].Spec.Replicas != 0 || *sets[1].Spec.Replicas != 3 {
		t.Fatalf("replicasets after Recreate: %d", len(sets))
	}
}

func TestDeploymentPauseStopsRolloutButNotScaling(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, nil)
	mustCreate(t, store, newDeployment("web", 2))
	waitDone(t, store, "web")

	updateDeployment(t, store, "web", func(d *api.Deployment) { d.Spec.Paused = true })
	updateDeployment(t, store, "web", setImage("img:v2"))
	observed := func(reason string) func() (bool, string) {
		return func() (bool, string) {
			d := getDeployment(t, store, "web")
			c := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing)
			return d.Status.ObservedGeneration == d.Generation && c != nil && c.Reason == reason, fmt.Sprintf("%+v", d.Status)
		}
	}
	poll.True(t, 5*time.Second, "the paused template change observed", observed(ReasonDeploymentPaused))
	if sets := listReplicaSets(t, store); len(sets) != 1 {
		t.Fatalf("a paused deployment made a new replicaset (%d sets)", len(sets))
	}

	updateDeployment(t, store, "web", func(d *api.Deployment) { d.Spec.Replicas = api.Int32(4) })
	poll.True(t, 5*time.Second, "scaled while paused", func() (bool, string) {
		sets := listReplicaSets(t, store)
		pods := activePods(listPods(t, store, nil))
		return len(sets) == 1 && *sets[0].Spec.Replicas == 4 && len(pods) == 4, describePods(pods)
	})
	for _, p := range listPods(t, store, nil) {
		if podImage(p) != "img:v1" {
			t.Fatalf("pod %s runs %s while paused", p.Name, podImage(p))
		}
	}

	updateDeployment(t, store, "web", func(d *api.Deployment) { d.Spec.Paused = false })
	waitDone(t, store, "web")
	sets := listReplicaSets(t, store)
	if len(sets) != 2 || *sets[1].Spec.Replicas != 4 || sets[1].Spec.Template.Spec.Containers[0].Image != "img:v2" {
		t.Fatalf("resume did not roll out: %d sets", len(sets))
	}
}

func TestDeploymentRevisionHistoryLimit(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, nil)
	d := newDeployment("web", 1)
	d.Spec.RevisionHistoryLimit = api.Int32(1)
	mustCreate(t, store, d)
	waitDone(t, store, "web")
	for _, img := range []string{"img:v2", "img:v3", "img:v4"} {
		updateDeployment(t, store, "web", setImage(img))
		waitDone(t, store, "web")
	}
	poll.True(t, 5*time.Second, "old revisions cleaned up", func() (bool, string) {
		sets := listReplicaSets(t, store)
		var revs []string
		for _, rs := range sets {
			revs = append(revs, rs.Annotations[api.AnnotationRevision])
		}
		return strings.Join(revs, ",") == "3,4", strings.Join(revs, ",")
	})
}

func TestDeploymentRollbackReusesTheOldReplicaSet(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, nil)
	mustCreate(t, store, newDeployment("web", 2))
	waitDone(t, store, "web")
	first := listReplicaSets(t, store)[0]
	updateDeployment(t, store, "web", setImage("img:v2"))
	waitDone(t, store, "web")
	// rollout undo: the CLI copies the old template back.
	updateDeployment(t, store, "web", func(d *api.Deployment) {
		tmpl := first.Spec.Template
		delete(tmpl.Labels, api.LabelPodTemplateHash)
		d.Spec.Template = tmpl
	})
	waitDone(t, store, "web")
	poll.True(t, 5*time.Second, "the first replicaset back at revision 3", func() (bool, string) {
		sets := listReplicaSets(t, store)
		if len(sets) != 2 {
			return false, fmt.Sprintf("%d sets", len(sets))
		}
		cur := sets[1]
		return cur.UID == first.UID && cur.Annotations[api.AnnotationRevision] == "3" &&
				cur.Annotations[AnnotationRevisionHistory] == "1" && *cur.Spec.Replicas == 2 && *sets[0].Spec.Replicas == 0,
			fmt.Sprintf("%s rev %s", cur.Name, cur.Annotations[api.AnnotationRevision])
	})
}

func TestDeploymentProgressDeadlineExceeded(t *testing.T) {
	store := newTestStore(t)
	rec := startManager(t, store, fastOptions())
	startFakeNode(t, store, 0, 0, func(*api.Pod) bool { return false }) // never ready
	d := newDeployment("web", 2)
	d.Spec.ProgressDeadlineSeconds = api.Int32(1)
	mustCreate(t, store, d)
	poll.True(t, 10*time.Second, "ProgressDeadlineExceeded", func() (bool, string) {
		d := getDeployment(t, store, "web")
		c := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonProgressDeadlineExceeded, fmt.Sprintf("%+v", c)
	})
	d = getDeployment(t, store, "web")
	if c := api.FindCondition(d.Status.Conditions, api.DeploymentAvailable); c == nil ||
		c.Status != api.ConditionFalse || c.Reason != ReasonMinimumReplicasUnavailable {
		t.Fatalf("Available condition %+v", c)
	}
	if d.Status.UnavailableReplicas != 2 {
		t.Fatalf("unavailableReplicas %d", d.Status.UnavailableReplicas)
	}
	if len(rec.Find(ReasonProgressDeadlineExceeded)) != 1 {
		t.Fatalf("events: %+v", rec.Events())
	}
}

func TestDeploymentRolloverMidRolloutStaysWithinBounds(t *testing.T) {
	store := newTestStore(t)
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	w := watchBounds(t, store, sel, 6, 8, 5) // 25% of 6: surge 2 (rounded up), unavailable 1 (down)
	startManager(t, store, fastOptions())
	startFakeNode(t, store, 50*time.Millisecond, 30*time.Millisecond, nil)
	mustCreate(t, store, newDeployment("web", 6))
	waitDone(t, store, "web")
	updateDeployment(t, store, "web", setImage("img:v2"))
	poll.True(t, 5*time.Second, "the v2 rollout under way", func() (bool, string) {
		for _, p := range listPods(t, store, sel) {
			if podImage(p) == "img:v2" && api.IsPodReady(p) {
				return true, ""
			}
		}
		return false, ""
	})
	updateDeployment(t, store, "web", setImage("img:v3"))
	waitDone(t, store, "web")
	w.check(t)
	sets := listReplicaSets(t, store)
	if len(sets) != 3 || *sets[2].Spec.Replicas != 6 || *sets[0].Spec.Replicas != 0 || *sets[1].Spec.Replicas != 0 {
		t.Fatalf("want v1 and v2 at 0 and v3 at 6, got %d sets", len(sets))
	}
	poll.True(t, 5*time.Second, "only v3 pods", func() (bool, string) {
		pods := listPods(t, store, sel)
		for _, p := range pods {
			if podImage(p) != "img:v3" {
				return false, describePods(pods)
			}
		}
		return len(pods) == 6, describePods(pods)
	})
}
