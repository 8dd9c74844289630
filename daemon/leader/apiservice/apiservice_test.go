package apiservice

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/registry/admission/ipalloc"
)

func newStore(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := registry.New(st)
	_, cidr, _ := net.ParseCIDR("10.96.0.0/16")
	o.AddAdmission(ipalloc.NewAllocator(cidr).Admit)
	if _, err := o.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestClusterIPIsTheFirstAddressOfTheRange(t *testing.T) {
	for cidr, want := range map[string]string{"10.96.0.0/16": "10.96.0.1", "10.43.7.0/24": "10.43.7.1", "172.20.0.5/12": "172.16.0.1"} {
		got, err := ClusterIP(netip.MustParsePrefix(cidr))
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %s", cidr, got, err, want)
		}
	}
	if _, err := ClusterIP(netip.MustParsePrefix("fd00::/64")); err == nil {
		t.Error("an IPv6 range was taken")
	}
}

func TestSubsetsListLiveReachableAgentsByPort(t *testing.T) {
	got := Subsets([]Member{
		{Name: "h2", APIURL: "https://10.0.0.12:7480", Alive: true},
		{Name: "h1", APIURL: "https://10.0.0.11:7480", Alive: true},
		{Name: "h3", APIURL: "https://10.0.0.13:7480", Alive: false},    // dead
		{Name: "h4", APIURL: "https://127.0.0.1:7480", Alive: true},     // loopback: no pod reaches it
		{Name: "h5", APIURL: "https://10.0.0.15:9443", Alive: true},     // another port
		{Name: "h6", APIURL: "https://agent.example:7480", Alive: true}, // not an address
	})
	if len(got) != 2 {
		t.Fatalf("subsets %+v", got)
	}
	a := got[0]
	if a.Ports[0].Port != 7480 || a.Ports[0].Name != PortName || len(a.Addresses) != 2 ||
		a.Addresses[0].IP != "10.0.0.11" || *a.Addresses[0].NodeName != "h1" || a.Addresses[1].IP != "10.0.0.12" {
		t.Errorf("first subset %+v", a)
	}
	if b := got[1]; b.Ports[0].Port != 9443 || len(b.Addresses) != 1 || b.Addresses[0].IP != "10.0.0.15" {
		t.Errorf("second subset %+v", b)
	}
}

func TestReconcileCreatesAndRestoresTheServiceAndEndpoints(t *testing.T) {
	store := newStore(t)
	members := []Member{{Name: "h1", APIURL: "https://10.0.0.11:7480", Alive: true}}
	r := New(Config{Store: store, Members: func() []Member { return members }, ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16")})
	ctx := t.Context()
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	obj, err := store.Get(ctx, api.KindService, "default", "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	svc := obj.(*api.Service)
	if svc.Spec.ClusterIP != "10.96.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Labels["component"] != "apiserver" {
		t.Fatalf("service %+v", svc.Spec)
	}
	ep := getEndpoints(t, store)
	if len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "10.0.0.11" || ep.Subsets[0].Ports[0].Port != 7480 {
		t.Fatalf("endpoints %+v", ep.Subsets)
	}
	rv := ep.ResourceVersion
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if getEndpoints(t, store).ResourceVersion != rv {
		t.Error("an unchanged membership rewrote the endpoints")
	}

	// A second agent joins; a user's change of the ports is put back.
	members = append(members, Member{Name: "h2", APIURL: "https://10.0.0.12:7480", Alive: true})
	svc.Spec.Ports[0].Port = 8443
	if _, err := store.Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if ep := getEndpoints(t, store); len(ep.Subsets[0].Addresses) != 2 {
		t.Errorf("endpoints after a join %+v", ep.Subsets)
	}
	obj, _ = store.Get(ctx, api.KindService, "default", "kubernetes")
	if p := obj.(*api.Service).Spec.Ports[0].Port; p != 443 {
		t.Errorf("port %d not put back", p)
	}

	// Deleted, both come back.
	if _, err := store.Delete(ctx, api.KindService, "default", "kubernetes", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, api.KindService, "default", "kubernetes"); err != nil {
		t.Errorf("service not re-created: %v", err)
	}
}

func getEndpoints(t *testing.T, store *registry.Registry) *api.Endpoints {
	t.Helper()
	obj, err := store.Get(t.Context(), api.KindEndpoints, "default", "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.Endpoints)
}
