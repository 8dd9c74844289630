package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testStore is an in-memory object store, as the agent's.
func testStore(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return registry.New(st)
}

// addNode creates a Node with a claim ("" for none) and an InternalIP.
func addNode(t *testing.T, store *registry.Registry, name, cidr, ip string) {
	t.Helper()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	created, err := store.Create(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if ip != "" {
		n = created.(*api.Node)
		n.Status.Addresses = []api.NodeAddress{{Type: api.NodeInternalIP, Address: ip}, {Type: api.NodeHostName, Address: name}}
		if _, err := store.UpdateStatus(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
}

func getNode(t *testing.T, store *registry.Registry, name string) *api.Node {
	t.Helper()
	obj, err := store.Get(context.Background(), api.KindNode, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.Node)
}

type recordedEvent struct{ object, typ, reason, message string }

type fakeRecorder struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (r *fakeRecorder) Eventf(obj api.Object, typ, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recordedEvent{obj.GetObjectMeta().Name, typ, reason, fmt.Sprintf(format, args...)})
}

func (r *fakeRecorder) reasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.reason)
	}
	return out
}

type claimFixture struct {
	store   *registry.Registry
	dir     string
	events  *fakeRecorder
	pods    atomic.Bool
	moves   chan *net.IPNet
	moveErr atomic.Pointer[error]
}

func newClaimFixture(t *testing.T) *claimFixture {
	return &claimFixture{store: testStore(t), dir: t.TempDir(), events: &fakeRecorder{}, moves: make(chan *net.IPNet, 10)}
}

func (f *claimFixture) claimer(t *testing.T, node, cluster string) *Claimer {
	t.Helper()
	_, cidr, err := net.ParseCIDR(cluster)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClaimer(ClaimConfig{Store: f.store, Node: node, ClusterCIDR: cidr, DataDir: f.dir,
		RunsPods: func(context.Context) (bool, error) { return f.pods.Load(), nil },
		Move: func(_ context.Context, subnet *net.IPNet) error {
			if p := f.moveErr.Load(); p != nil {
				return *p
			}
			f.moves <- subnet
			return nil
		},
		Events: f.events, Log: testLog(t), Resync: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *claimFixture) saved(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, ClaimFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestClaim(t *testing.T) {
	for _, tc := range []struct {
		name     string
		others   map[string]string // node -> its claim
		selfSpec string            // the Node's spec.podCIDR at start
		file     string            // the claim file at start ("-" for none)
		pods     bool
		want     string
		conflict bool // PodCIDRConflict True afterwards
	}{
		{name: "first start takes the lowest free", others: map[string]string{"a": "10.244.0.0/24", "c": "10.244.2.0/24"},
			file: "-", want: "10.244.1.0/24"},
		{name: "first node of a cluster", file: "-", want: "10.244.0.0/24"},
		{name: "a node without a claim yet claims nothing", others: map[string]string{"a": ""}, file: "-", want: "10.244.0.0/24"},
		{name: "the saved claim is reused", others: map[string]string{"a": "10.244.0.0/24"},
			selfSpec: "10.244.5.0/24", file: "10.244.5.0/24", want: "10.244.5.0/24"},
		{name: "the file outlives a lost store", file: "10.244.5.0/24", want: "10.244.5.0/24"},
		{name: "the Node's claim outlives a lost file", selfSpec: "10.244.6.0/24", file: "-", want: "10.244.6.0/24"},
		{name: "the file wins over the Node", selfSpec: "10.244.6.0/24", file: "10.244.5.0/24", want: "10.244.5.0/24"},
		{name: "a garbled file is ignored", others: map[string]string{"a": "10.244.0.0/24"}, file: "junk", want: "10.244.1.0/24"},
		{name: "a claim outside a changed cluster CIDR is dropped", others: map[string]string{"a": "10.244.0.0/24"},
			selfSpec: "10.99.0.0/24", file: "10.99.0.0/24", want: "10.244.1.0/24"},
		{name: "conflict, lower name elsewhere, no pods: move", others: map[string]string{"a": "10.244.0.0/24", "c": "10.244.1.0/24"},
			selfSpec: "10.244.0.0/24", file: "10.244.0.0/24", want: "10.244.229.0/24"}, // b's search starts at 229
		{name: "conflict, lower name elsewhere, pods: keep and report", others: map[string]string{"a": "10.244.0.0/24"},
			selfSpec: "10.244.0.0/24", file: "10.244.0.0/24", pods: true, want: "10.244.0.0/24", conflict: true},
		{name: "conflict, higher name elsewhere: keep", others: map[string]string{"c": "10.244.0.0/24"},
			selfSpec: "10.244.0.0/24", file: "10.244.0.0/24", want: "10.244.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newClaimFixture(t)
			f.pods.Store(tc.pods)
			for name, cidr := range tc.others {
				addNode(t, f.store, name, cidr, "")
			}
			addNode(t, f.store, "b", tc.selfSpec, "10.98.0.2")
			if tc.file != "-" {
				if err := os.WriteFile(filepath.Join(f.dir, ClaimFile), []byte(tc.file+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := f.claimer(t, "b", "10.244.0.0/16")
			got, err := c.Claim(testContext(t))
			if err != nil || got.String() != tc.want {
				t.Fatalf("Claim = %v, %v; want %s", got, err, tc.want)
			}
			if c.Subnet().String() != tc.want {
				t.Errorf("Subnet = %v", c.Subnet())
			}
			n := getNode(t, f.store, "b")
			if n.Spec.PodCIDR != tc.want || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != tc.want {
				t.Errorf("published podCIDR %q, podCIDRs %v; want %s", n.Spec.PodCIDR, n.Spec.PodCIDRs, tc.want)
			}
			if saved := f.saved(t); saved != tc.want {
				t.Errorf("saved claim %q, want %s", saved, tc.want)
			}
			cond := api.FindCondition(n.Status.Conditions, ConditionPodCIDRConflict)
			if tc.conflict != (cond != nil && cond.Status == api.ConditionTrue) {
				t.Errorf("conflict condition %+v, want conflict=%v", cond, tc.conflict)
			}
			if tc.conflict && (!strings.Contains(cond.Message, "node a") || !strings.Contains(cond.Message, "move the pods off node b")) {
				t.Errorf("condition message does not say who and how to fix: %q", cond.Message)
			}
			if tc.conflict != strings.Contains(strings.Join(f.events.reasons(), " "), ReasonPodCIDRConflict) {
				t.Errorf("events %v, conflict=%v", f.events.reasons(), tc.conflict)
			}
			select {
			case m := <-f.moves:
				t.Errorf("Move(%v) called at start: the bridge is made after Claim", m)
			default:
			}
		})
	}
}

func TestClaimIsStableAcrossRestarts(t *testing.T) {
	f := newClaimFixture(t)
	addNode(t, f.store, "a", "10.244.0.0/24", "")
	addNode(t, f.store, "b", "", "")
	first, err := f.claimer(t, "b", "10.244.0.0/16").Claim(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	// A lower subnet is freed meanwhile: the claim stays.
	if _, err := f.store.Delete(testContext(t), api.KindNode, "", "a", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := f.claimer(t, "b", "10.244.0.0/16").Claim(testContext(t))
	if err != nil || again.String() != first.String() {
		t.Fatalf("second Claim = %v, %v; want %v", again, err, first)
	}
}

func TestClaimErrors(t *testing.T) {
	f := newClaimFixture(t)
	for _, cidr := range []*net.IPNet{nil, {IP: net.ParseIP("fd00::"), Mask: net.CIDRMask(64, 128)},
		{IP: net.IPv4(10, 0, 0, 0).To4(), Mask: net.CIDRMask(26, 32)}} {
		if _, err := NewClaimer(ClaimConfig{Store: f.store, Node: "b", ClusterCIDR: cidr, DataDir: f.dir}); !errors.Is(err, ErrInvalidCIDR) {
			t.Errorf("NewClaimer(%v) = %v, want ErrInvalidCIDR", cidr, err)
		}
	}
	if _, err := f.claimer(t, "b", "10.244.0.0/16").Claim(testContext(t)); !errors.Is(err, ErrNodeNotRegistered) {
		t.Errorf("Claim before the Node exists: %v, want ErrNodeNotRegistered", err)
	}
	addNode(t, f.store, "a", "10.1.0.0/24", "")
	addNode(t, f.store, "b", "", "")
	if _, err := f.claimer(t, "b", "10.1.0.0/24").Claim(testContext(t)); !errors.Is(err, ErrNoSubnet) {
		t.Errorf("Claim in a full cluster: %v, want ErrNoSubnet", err)
	}
}

func conflictStatus(t *testing.T, store *registry.Registry, node string) string {
	cond := api.FindCondition(getNode(t, store, node).Status.Conditions, ConditionPodCIDRConflict)
	if cond == nil {
		return ""
	}
	return cond.Status
}

// TestClaimerRunSettlesLateConflicts: a conflict that shows up after the
// start (a partition heals) is kept while the node runs pods, and settled
// by moving once they are gone.
func TestClaimerRunSettlesLateConflicts(t *testing.T) {
	f := newClaimFixture(t)
	f.pods.Store(true)
	addNode(t, f.store, "b", "", "")
	c := f.claimer(t, "b", "10.244.0.0/16")
	ctx := testContext(t)
	if got, err := c.Claim(ctx); err != nil || got.String() != "10.244.0.0/24" {
		t.Fatalf("Claim = %v, %v", got, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// Node a, which keeps the subnet, appears; b runs pods, so it keeps it
	// too and says so.
	addNode(t, f.store, "a", "10.244.0.0/24", "")
	poll.Cond(t, 10*time.Second, "the conflict condition", func() bool { return conflictStatus(t, f.store, "b") == api.ConditionTrue })
	if c.Subnet().String() != "10.244.0.0/24" {
		t.Fatalf("subnet moved to %v while pods run", c.Subnet())
	}

	// A failing move keeps the subnet and the report.
	failure := errors.New("network in use")
	f.moveErr.Store(&failure)
	f.pods.Store(false)
	time.Sleep(200 * time.Millisecond) // a few resyncs
	if c.Subnet().String() != "10.244.0.0/24" || conflictStatus(t, f.store, "b") != api.ConditionTrue {
		t.Fatalf("after a failed move: subnet %v, conflict %q", c.Subnet(), conflictStatus(t, f.store, "b"))
	}

	// The pods are gone and moving works: b moves on the next resync.
	f.moveErr.Store(nil)
	var moved *net.IPNet
	select {
	case moved = <-f.moves:
	case <-time.After(10 * time.Second):
		t.Fatal("no move")
	}
	if moved.String() != "10.244.229.0/24" { // b's search starts at 229
		t.Fatalf("moved to %v, want 10.244.229.0/24", moved)
	}
	poll.Cond(t, 10*time.Second, "the new claim published", func() bool { return getNode(t, f.store, "b").Spec.PodCIDR == "10.244.229.0/24" })
	poll.Cond(t, 10*time.Second, "the conflict condition cleared", func() bool { return conflictStatus(t, f.store, "b") == api.ConditionFalse })
	if saved := f.saved(t); saved != "10.244.229.0/24" {
		t.Errorf("saved claim %q", saved)
	}
	reasons := strings.Join(f.events.reasons(), " ")
	for _, want := range []string{ReasonPodCIDRConflict, ReasonPodCIDRMoved, ReasonPodCIDRResolved} {
		if !strings.Contains(reasons, want) {
			t.Errorf("events %s lack %s", reasons, want)
		}
	}
}

func TestClaimerRunNeedsClaim(t *testing.T) {
	f := newClaimFixture(t)
	if err := f.claimer(t, "b", "10.244.0.0/16").Run(testContext(t)); err == nil {
		t.Fatal("Run before Claim succeeded")
	}
}
