package ipalloc

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func newObjects(t *testing.T, cidr string) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := registry.New(st)
	_, n, _ := net.ParseCIDR(cidr)
	o.AddAdmission(NewAllocator(n).Admit)
	if _, err := o.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return o
}

func svc(name, typ string, clusterIP string, nodePort int32) *api.Service {
	return &api.Service{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.ServiceSpec{Type: typ, ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []api.ServicePort{{Name: "http", Port: 80, NodePort: nodePort}}}}
}

func TestClusterIPsAreUniqueAndInRange(t *testing.T) {
	ctx := context.Background()
	o := newObjects(t, "10.96.0.0/29") // 8 addresses, 5 usable
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		obj, err := o.Create(ctx, svc("s"+string(rune('a'+i)), "", "", 0))
		if err != nil {
			t.Fatal(err)
		}
		ip := obj.(*api.Service).Spec.ClusterIP
		if seen[ip] || !strings.HasPrefix(ip, "10.96.0.") || ip == "10.96.0.0" || ip == "10.96.0.1" || ip == "10.96.0.7" {
			t.Fatalf("allocated %s (seen %v)", ip, seen)
		}
		seen[ip] = true
	}
	if _, err := o.Create(ctx, svc("full", "", "", 0)); !api.IsInvalid(err) {
		t.Fatalf("a full range: want 422, got %v", err)
	}
}

func TestRequestedAddressesAndPortsAreChecked(t *testing.T) {
	ctx := context.Background()
	o := newObjects(t, "10.96.0.0/16")
	if _, err := o.Create(ctx, svc("a", "", "10.96.5.5", 0)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s     *api.Service
		field string
	}{
		{svc("b", "", "10.96.5.5", 0), "spec.clusterIP"},
		{svc("c", "", "10.1.0.1", 0), "spec.clusterIP"},
	} {
		if _, err := o.Create(ctx, c.s); !api.IsInvalid(err) || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("%s: %v", c.s.Name, err)
		}
	}
	np, err := o.Create(ctx, svc("np", api.ServiceTypeNodePort, "", 30080))
	if err != nil || np.(*api.Service).Spec.Ports[0].NodePort != 30080 {
		t.Fatalf("%v %v", np, err)
	}
	if _, err := o.Create(ctx, svc("np2", api.ServiceTypeNodePort, "", 30080)); !api.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("a taken node port: %v", err)
	}
	auto, err := o.Create(ctx, svc("np3", api.ServiceTypeNodePort, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	p := auto.(*api.Service).Spec.Ports[0].NodePort
	if p < api.NodePortMin || p > api.NodePortMax || p == 30080 {
		t.Fatalf("allocated node port %d", p)
	}
	// An update without addresses keeps them; changing the cluster IP is refused.
	again := svc("np3", api.ServiceTypeNodePort, "", 0)
	upd, err := o.Update(ctx, again)
	if err != nil || upd.(*api.Service).Spec.Ports[0].NodePort != p || upd.(*api.Service).Spec.ClusterIP != auto.(*api.Service).Spec.ClusterIP {
		t.Fatalf("update lost the allocation: %+v %v", upd, err)
	}
	moved := svc("np3", api.ServiceTypeNodePort, "10.96.9.9", 0)
	if _, err := o.Update(ctx, moved); !api.IsInvalid(err) || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("changing the cluster IP: %v", err)
	}
}

func TestRepairReallocatesTheYounger(t *testing.T) {
	ctx := context.Background()
	o := newObjects(t, "10.96.0.0/16")
	a, _ := o.Create(ctx, svc("a", "", "", 0))
	time.Sleep(1100 * time.Millisecond) // creation timestamps have second precision
	b, _ := o.Create(ctx, svc("b", "", "", 0))
	// Simulate the merge of two agents' writes: b ends up with a's address,
	// as if both had been allocated it while apart (written straight to the
	// store, past the allocator's checks).
	bs := b.(*api.Service)
	bs.Spec.ClusterIP = a.(*api.Service).Spec.ClusterIP
	bs.Spec.ClusterIPs = []string{bs.Spec.ClusterIP}
	raw := registry.New(o.Store())
	if _, err := raw.Update(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if err := repairOnce(ctx, o, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	ga, _ := o.Get(ctx, api.KindService, "default", "a")
	gb, _ := o.Get(ctx, api.KindService, "default", "b")
	ipA, ipB := ga.(*api.Service).Spec.ClusterIP, gb.(*api.Service).Spec.ClusterIP
	if ipA != a.(*api.Service).Spec.ClusterIP || ipA == ipB || ipB == "" {
		t.Fatalf("after repair a=%s b=%s", ipA, ipB)
	}
	if _, ok := gb.GetObjectMeta().Annotations[AnnotationReallocate]; ok {
		t.Fatal("the reallocation request stayed on the object")
	}
}
