package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func budgetPod(name string, ready bool, owner string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}}}
	p.Status = runningStatus(api.PodRunning, ready, 0, time.Now())
	if owner != "" {
		yes := true
		p.OwnerReferences = []api.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: owner, Controller: &yes}}
	}
	return p
}

func TestBudgetStatusCountsAsKubernetesDoes(t *testing.T) {
	now := time.Now()
	pods := []*api.Pod{budgetPod("a", true, "rs"), budgetPod("b", true, "rs"), budgetPod("c", false, "rs")}
	scale := func(*api.Pod) (string, int32, bool) { return "Deployment/web", 4, true }
	sel := &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	pct := api.FromString("50%")
	two, one := api.FromInt(2), api.FromInt(1)
	for _, tc := range []struct {
		name                              string
		spec                              api.PodDisruptionBudgetSpec
		disrupted                         map[string]api.Time
		healthy, desired, expected, allow int32
	}{
		// A number: the pods present are expected.
		{"minAvailable 1", api.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: sel}, nil, 2, 1, 3, 1},
		{"minAvailable 2", api.PodDisruptionBudgetSpec{MinAvailable: &two, Selector: sel}, nil, 2, 2, 3, 0},
		// A percentage or maxUnavailable: the controller's replicas are.
		{"minAvailable 50%", api.PodDisruptionBudgetSpec{MinAvailable: &pct, Selector: sel}, nil, 2, 2, 4, 0},
		{"maxUnavailable 1", api.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: sel}, nil, 2, 3, 4, 0},
		// A pod being evicted is not healthy.
		{"evicting", api.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: sel},
			map[string]api.Time{"a": {Time: now.Add(-time.Second)}}, 1, 1, 3, 0},
		// ... until the eviction is two minutes old.
		{"evicted long ago", api.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: sel},
			map[string]api.Time{"a": {Time: now.Add(-3 * time.Minute)}}, 2, 1, 3, 1},
	} {
		pdb := &api.PodDisruptionBudget{Spec: tc.spec, Status: api.PodDisruptionBudgetStatus{DisruptedPods: tc.disrupted}}
		st := BudgetStatus(pdb, pods, scale, now)
		if st.CurrentHealthy != tc.healthy || st.DesiredHealthy != tc.desired || st.ExpectedPods != tc.expected || st.DisruptionsAllowed != tc.allow {
			t.Errorf("%s: healthy %d desired %d expected %d allowed %d, want %d %d %d %d", tc.name,
				st.CurrentHealthy, st.DesiredHealthy, st.ExpectedPods, st.DisruptionsAllowed, tc.healthy, tc.desired, tc.expected, tc.allow)
		}
		want := api.ConditionTrue
		if tc.allow == 0 {
			want = api.ConditionFalse
		}
		if c := api.FindCondition(st.Conditions, api.ConditionDisruptionAllowed); c == nil || c.Status != want {
			t.Errorf("%s: condition %+v", tc.name, st.Conditions)
		}
	}
}

func TestDisruptionControllerWritesTheBudgetsStatus(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	ctx := context.Background()
	one := api.FromInt(1)
	if _, err := store.Create(ctx, &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		p := budgetPod(name, false, "")
		p.Spec.Containers = []api.Container{{Name: "app", Image: "img"}}
		created, err := store.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		cp := created.(*api.Pod)
		cp.Status = runningStatus(api.PodRunning, true, 0, time.Now())
		if _, err := store.UpdateStatus(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "the budget allows one disruption", func() error {
		o, _ := store.Get(ctx, api.KindPodDisruptionBudget, "default", "web")
		st := o.(*api.PodDisruptionBudget).Status
		if st.CurrentHealthy != 2 || st.DesiredHealthy != 1 || st.DisruptionsAllowed != 1 || st.ObservedGeneration != o.GetObjectMeta().Generation {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}
