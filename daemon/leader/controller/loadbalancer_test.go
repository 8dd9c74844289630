package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func addNode(t *testing.T, store testStore, name, ip string, ready bool) {
	t.Helper()
	n := mustCreate(t, store, &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}).(*api.Node)
	st := api.ConditionTrue
	if !ready {
		st = api.ConditionFalse
	}
	n.Status.Conditions = []api.Condition{{Type: api.NodeReady, Status: st}}
	n.Status.Addresses = []api.NodeAddress{{Type: api.NodeInternalIP, Address: ip}}
	if _, err := store.UpdateStatus(t.Context(), n); err != nil {
		t.Fatal(err)
	}
}

func lbService(name string, port int32) *api.Service {
	return &api.Service{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.ServiceSpec{Type: api.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []api.ServicePort{{Port: port, Protocol: "TCP", TargetPort: api.FromInt(8080)}}}}
}

func ingressOf(t *testing.T, store testStore, name string) string {
	t.Helper()
	o, err := store.Get(t.Context(), api.KindService, "default", name)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(o.(*api.Service).Status.LoadBalancer.Ingress)
}

// TestLoadBalancerStatusListsReadyNodes: a LoadBalancer Service gets the
// Ready nodes' addresses; a port an older one holds, or an agent's port,
// leaves it pending until freed; a type change clears the status.
func TestLoadBalancerStatusListsReadyNodes(t *testing.T) {
	store := newTestStore(t)
	opts := fastOptions()
	opts.ReservedPorts = func() []int32 { return []int32{7480} }
	rec := startManager(t, store, opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("events: %+v", rec.Events())
		}
	})
	addNode(t, store, "h2", "10.0.0.12", true)
	addNode(t, store, "h1", "10.0.0.11", true)
	addNode(t, store, "h3", "10.0.0.13", false)

	mustCreate(t, store, lbService("web", 80))
	const both = "[{10.0.0.11 } {10.0.0.12 }]"
	poll.True(t, 5*time.Second, "web published", func() (bool, string) {
		got := ingressOf(t, store, "web")
		return got == both, got
	})
	mustCreate(t, store, lbService("web2", 80))
	mustCreate(t, store, lbService("api", 7480))
	mustCreate(t, store, lbService("other", 81))
	poll.True(t, 5*time.Second, "other published", func() (bool, string) {
		got := ingressOf(t, store, "other")
		return got == both, got
	})
	for _, name := range []string{"web2", "api"} {
		if got := ingressOf(t, store, name); got != "[]" {
			t.Errorf("%s published despite its port: %s", name, got)
		}
	}
	if _, err := store.Delete(t.Context(), api.KindService, "default", "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "web2 takes the freed port", func() (bool, string) {
		got := ingressOf(t, store, "web2")
		return got == both, got
	})
	o, _ := store.Get(t.Context(), api.KindService, "default", "web2")
	svc := o.(*api.Service)
	svc.Spec.Type = api.ServiceTypeClusterIP
	if _, err := store.Update(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "a ClusterIP service's status cleared", func() (bool, string) {
		got := ingressOf(t, store, "web2")
		return got == "[]", got
	})
}
