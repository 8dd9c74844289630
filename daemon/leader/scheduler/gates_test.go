package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// A gated pod stays Pending and unbound with PodScheduled False
// (SchedulingGated) until its last gate is removed; then it is bound.
func TestSchedulerHonoursSchedulingGates(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, nil)
	create(t, store, testPod("gated", "", "", func(p *api.Pod) {
		p.Spec.SchedulingGates = []api.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/b"}}
	}))
	create(t, store, testPod("free", "", ""))
	startScheduler(t, store)
	waitBound(t, store, "free")
	poll.True(t, 5*time.Second, "PodScheduled=False SchedulingGated", func() (bool, string) {
		p := getPod(t, store, "gated")
		c := api.FindCondition(p.Status.Conditions, api.PodScheduled)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonSchedulingGated && p.Status.Phase == api.PodPending,
			fmt.Sprintf("%+v", p.Status)
	})
	ungate := func(keep ...api.PodSchedulingGate) {
		t.Helper()
		p := getPod(t, store, "gated")
		p.Spec.SchedulingGates = keep
		if _, err := store.Update(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	ungate(api.PodSchedulingGate{Name: "example.com/b"})
	time.Sleep(200 * time.Millisecond) // several scheduling rounds
	if p := getPod(t, store, "gated"); p.Spec.NodeName != "" {
		t.Fatalf("a pod with a gate left was bound to %s", p.Spec.NodeName)
	}
	ungate()
	waitBound(t, store, "gated")
	if c := api.FindCondition(getPod(t, store, "gated").Status.Conditions, api.PodScheduled); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("PodScheduled after binding: %+v", c)
	}
}

// Gates follow Kubernetes' rules: qualified names, each once, only removed
// after creation, and a gated pod cannot be bound.
func TestSchedulingGatesValidation(t *testing.T) {
	store := newTestStore(t)
	ctx := context.Background()
	bad := []struct {
		gates []api.PodSchedulingGate
		node  string
		want  string
	}{
		{[]api.PodSchedulingGate{{Name: "not a name"}}, "", "spec.schedulingGates[0].name"},
		{[]api.PodSchedulingGate{{Name: "a"}, {Name: "a"}}, "", "spec.schedulingGates[1].name"},
		{[]api.PodSchedulingGate{{Name: ""}}, "", "spec.schedulingGates[0].name"},
		{[]api.PodSchedulingGate{{Name: "a"}}, "n1", "spec.nodeName"},
	}
	for i, c := range bad {
		p := testPod(fmt.Sprintf("bad-%d", i), "", "", func(p *api.Pod) { p.Spec.SchedulingGates, p.Spec.NodeName = c.gates, c.node })
		_, err := store.Create(ctx, p)
		if err == nil || !api.IsInvalid(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("gates %v node %q: err %v, want a 422 naming %s", c.gates, c.node, err, c.want)
		}
	}
	create(t, store, testPod("p", "", "", func(p *api.Pod) { p.Spec.SchedulingGates = []api.PodSchedulingGate{{Name: "a"}} }))
	p := getPod(t, store, "p")
	p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, api.PodSchedulingGate{Name: "b"})
	if _, err := store.Update(ctx, p); err == nil || !strings.Contains(err.Error(), "only deletion is allowed") {
		t.Fatalf("adding a gate after creation: %v", err)
	}
	_, err := store.Bind(ctx, "default", "p", &api.Binding{ObjectMeta: api.ObjectMeta{Name: "p"}, Target: api.ObjectReference{Kind: "Node", Name: "a"}})
	if !api.IsConflict(err) {
		t.Fatalf("binding a gated pod: %v, want a conflict", err)
	}
}
