package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry"
)

func readyPod(t *testing.T, objs *registry.Registry, name string, labels map[string]string) *api.Pod {
	t.Helper()
	ctx := context.Background()
	o, err := objs.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img"}}}})
	if err != nil {
		t.Fatal(err)
	}
	p := o.(*api.Pod)
	p.Status = api.PodStatus{Phase: api.PodRunning, Conditions: []api.Condition{{Type: api.PodReady, Status: api.ConditionTrue}}}
	if _, err := objs.UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func evict(t *testing.T, url, name, body string) (int, api.Status) {
	t.Helper()
	resp, b := do(t, "POST", url+"/api/v1/namespaces/default/pods/"+name+"/eviction", "application/json", body)
	return resp.StatusCode, status(t, b)
}

func TestEvictionHonoursTheDisruptionBudget(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	a := readyPod(t, objs, "a", web)
	readyPod(t, objs, "b", web)
	readyPod(t, objs, "loner", map[string]string{"app": "other"})
	one := api.FromInt(1)
	created, err := objs.Create(ctx, &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &api.LabelSelector{MatchLabels: web}}})
	if err != nil {
		t.Fatal(err)
	}
	// As the disruption controller would count: 2 healthy, 1 needed.
	pdb := created.(*api.PodDisruptionBudget)
	pdb.Status = api.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2, DisruptionsAllowed: 1}
	if _, err := objs.UpdateStatus(ctx, pdb); err != nil {
		t.Fatal(err)
	}

	// A uid that is not the pod's is refused, and spends nothing.
	if code, st := evict(t, ts.URL, "a", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"a"},"deleteOptions":{"preconditions":{"uid":"other"}}}`); code != 409 || !strings.Contains(st.Message, "Precondition failed") {
		t.Fatalf("wrong uid: %d %+v", code, st)
	}
	if code, st := evict(t, ts.URL, "a", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"a"},"deleteOptions":{"preconditions":{"uid":"`+a.UID+`"}}}`); code != 201 || st.Status != "Success" {
		t.Fatalf("first eviction: %d %+v", code, st)
	}
	o, err := objs.Get(ctx, api.KindPod, "default", "a")
	if err == nil && o.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatal("the evicted pod is not being deleted")
	}
	o, _ = objs.Get(ctx, api.KindPodDisruptionBudget, "default", "web")
	if st := o.(*api.PodDisruptionBudget).Status; st.DisruptionsAllowed != 0 || st.DisruptedPods["a"].IsZero() {
		t.Fatalf("the budget was not spent: %+v", st)
	}
	// The budget is spent: the next eviction waits (429, as drain expects).
	code, st := evict(t, ts.URL, "b", `{"metadata":{"name":"b"}}`)
	if code != 429 || st.Message != "Cannot evict pod as it would violate the pod's disruption budget." ||
		st.Details == nil || len(st.Details.Causes) != 1 || !strings.Contains(st.Details.Causes[0].Message, "needs 1 healthy pods and has 2 currently") {
		t.Fatalf("second eviction: %d %+v", code, st)
	}
	if o, err := objs.Get(ctx, api.KindPod, "default", "b"); err != nil || o.GetObjectMeta().DeletionTimestamp != nil {
		t.Fatalf("a refused eviction deleted the pod: %v", err)
	}
	// A pod no budget covers goes at once; a name that is not the path's is refused.
	if code, st := evict(t, ts.URL, "loner", `{"metadata":{"name":"loner"},"deleteOptions":{"gracePeriodSeconds":0}}`); code != 201 {
		t.Fatalf("uncovered pod: %d %+v", code, st)
	}
	if code, st := evict(t, ts.URL, "b", `{"metadata":{"name":"a"}}`); code != 400 || !strings.Contains(st.Message, "metadata.name") {
		t.Fatalf("mismatched name: %d %+v", code, st)
	}
	// Two budgets over one pod: Kubernetes' refusal.
	if _, err := objs.Create(ctx, &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web2", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &api.LabelSelector{MatchLabels: web}}}); err != nil {
		t.Fatal(err)
	}
	if code, st := evict(t, ts.URL, "b", `{}`); code != 500 || !strings.Contains(st.Message, "more than one PodDisruptionBudget") {
		t.Fatalf("two budgets: %d %+v", code, st)
	}
}
