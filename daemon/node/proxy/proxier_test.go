package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// runProxier runs p until the test ends, and checks that Run returns nil.
func runProxier(t *testing.T, p *Proxier, src Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, src) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func testConfig(k Kernel) Config {
	return Config{Rules: testRulesConfig, Kernel: k, MinSyncInterval: 20 * time.Millisecond,
		RetryInterval: 10 * time.Millisecond}
}

func hasRule(rules []string, part string) bool {
	return slices.ContainsFunc(rules, func(r string) bool { return strings.Contains(r, part) })
}

func TestProxierAppliesChangesOnly(t *testing.T) {
	k := newFakeKernel()
	web := svc("default", "web", "10.96.0.10", port("", "TCP", 80))
	webEps := eps("default", "web", []string{"10.244.1.5", "10.244.2.7"}, epPort("", "TCP", 8080))
	src := newFakeSource(web, webEps, svc("default", "idle", "10.96.0.11", port("", "UDP", 53)))
	var results []SyncResult
	var mu sync.Mutex
	cfg := testConfig(k)
	cfg.OnSync = func(r SyncResult) { mu.Lock(); results = append(results, r); mu.Unlock() }
	p := New(cfg, nil)
	runProxier(t, p, src)

	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	if got := k.restoreCalls(); len(got) != 2 || !strings.HasPrefix(got[0], "*filter") || !strings.HasPrefix(got[1], "*nat") {
		t.Fatalf("first sync: want one restore of filter, then of nat; got %d", len(got))
	}
	if !hasRule(k.rules(TableFilter, chainServices), "default/idle has no endpoints") {
		t.Error("service without endpoints is not rejected")
	}
	if !hasRule(k.rules(TableNAT, "PREROUTING"), "-j "+chainServices) || !hasRule(k.rules(TableFilter, "FORWARD"), "-j "+chainForward) {
		t.Error("jumps not installed")
	}
	st := p.Stats()
	if st.ServicePorts != 2 || st.Rules == 0 || st.LastSync.IsZero() {
		t.Errorf("stats after the first sync: %+v", st)
	}

	// The same object again: a sync that finds nothing to write.
	src.Set(webEps)
	poll.Cond(t, 10*time.Second, "a second sync", func() bool { return p.Stats().Syncs >= 2 })
	if n := len(k.restoreCalls()); n != 2 {
		t.Fatalf("unchanged state restored again (%d restores)", n)
	}

	// One endpoint replaced: only nat, only the chains that changed.
	webEps2 := eps("default", "web", []string{"10.244.1.5", "10.244.3.3"}, epPort("", "TCP", 8080))
	src.Set(webEps2)
	poll.Cond(t, 10*time.Second, "the change", func() bool { return len(k.restoreCalls()) == 3 })
	diff := k.restoreCalls()[2]
	if !strings.HasPrefix(diff, "*nat") || strings.Count(diff, "\n:") != 3 || strings.Count(diff, "\n-X ") != 1 {
		t.Errorf("partial restore should rewrite the service's chain, add one endpoint chain and delete one:\n%s", diff)
	}
	sps := servicePorts([]*api.Service{web}, []*api.Endpoints{webEps2})
	want := []string{chainMarkMasq, chainNodePorts, chainMasq, chainServices, svcChain(&sps[0]),
		sepChain(&sps[0], sps[0].endpoints[0]), sepChain(&sps[0], sps[0].endpoints[1])}
	slices.Sort(want)
	if got := k.shoalChains(TableNAT); !slices.Equal(got, want) {
		t.Errorf("nat chains %v, want %v", got, want)
	}
	mu.Lock()
	last := results[len(results)-1]
	mu.Unlock()
	if last.Err != nil || last.Latency <= 0 || last.Latency > time.Second || last.Full || !slices.Equal(last.Tables, []string{TableNAT}) {
		t.Errorf("last sync result %+v", last)
	}

	// The service goes: its chains go, the filter table is untouched.
	src.Delete(web)
	poll.Cond(t, 10*time.Second, "the deletion", func() bool { return len(k.shoalChains(TableNAT)) == 4 })
	if n := len(k.iptablesCalls()); n != 2*len(jumps) { // -C and -I for each, once
		t.Errorf("%d iptables calls, want %d", n, 2*len(jumps))
	}
}

func TestProxierWaitsForBothKinds(t *testing.T) {
	k := newFakeKernel()
	src := newFakeSource(svc("default", "web", "10.96.0.10", port("", "TCP", 80)),
		eps("default", "web", []string{"10.244.1.5"}, epPort("", "TCP", 8080)))
	src.ListErrs["Endpoints"] = 2
	p := New(testConfig(k), nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	if src.Lists("Endpoints") < 3 {
		t.Errorf("endpoints listed %d times, want 3", src.Lists("Endpoints"))
	}
	for _, r := range k.restoreCalls() {
		if strings.Contains(r, "REJECT") {
			t.Fatalf("a service was rejected before its endpoints were read:\n%s", r)
		}
	}
}

func TestProxierBatchesBursts(t *testing.T) {
	k := newFakeKernel()
	src := newFakeSource()
	cfg := testConfig(k)
	cfg.MinSyncInterval = 100 * time.Millisecond
	p := New(cfg, nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	ss, es := manyServices(300, 2)
	start := time.Now()
	for i := range ss {
		src.Set(ss[i])
		src.Set(es[i])
	}
	poll.Cond(t, 5*time.Second, "all services", func() bool { return p.Stats().ServicePorts == 300 })
	syncs := p.Stats().Syncs - 1
	// 600 changes in a few milliseconds: one sync at once, then one per
	// interval at most.
	if maxSyncs := uint64(time.Since(start)/cfg.MinSyncInterval) + 2; syncs > maxSyncs {
		t.Errorf("%d syncs for a burst of 600 changes in %v, want at most %d", syncs, time.Since(start), maxSyncs)
	}
	if st := p.Stats(); st.MaxLatency > time.Second {
		t.Errorf("a change took %v to reach the kernel", st.MaxLatency)
	}
}

// Changes that trickle in while syncs are slow (thousands of rules) gather
// into few syncs; they must not each wait for a sync of their own.
func TestProxierGathersChangesDuringSlowSyncs(t *testing.T) {
	k := newFakeKernel()
	k.RestoreFn = func([]byte) error { time.Sleep(40 * time.Millisecond); return nil }
	src := newFakeSource()
	cfg := testConfig(k)
	p := New(cfg, nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	ss, es := manyServices(100, 1)
	for i := range ss {
		src.Set(ss[i])
	}
	poll.Cond(t, 5*time.Second, "the services", func() bool { return p.Stats().Syncs >= 2 })
	before := p.Stats().Syncs
	start := time.Now()
	for _, e := range es { // an Endpoints object every 5 ms, as a controller writes them
		src.Set(e)
		time.Sleep(5 * time.Millisecond)
	}
	trickle := time.Since(start)
	poll.Cond(t, 5*time.Second, "every endpoint", func() bool {
		return p.Stats().ServicePorts == 100 && hasRule(k.rules(TableNAT, "SHOAL-SERVICES"), "10.96.0.100/32")
	})
	// A sync takes 40 ms and the interval is 20 ms: about one sync per
	// 60 ms of trickle, where one sync per change would make 100.
	if syncs := p.Stats().Syncs - before; syncs > uint64(trickle/(40*time.Millisecond))+3 {
		t.Errorf("%d syncs for 100 changes over %v", syncs, trickle)
	}
}

func TestProxierRetriesFailedRestore(t *testing.T) {
	k := newFakeKernel()
	var fail atomic.Int32
	fail.Store(2)
	k.RestoreFn = func([]byte) error {
		if fail.Add(-1) >= 0 {
			return &CommandError{Args: []string{"iptables-restore"}, ExitCode: 2, Err: errors.New("exit status 2")}
		}
		return nil
	}
	src := newFakeSource(svc("default", "web", "10.96.0.10", port("", "TCP", 80)),
		eps("default", "web", []string{"10.244.1.5"}, epPort("", "TCP", 8080)))
	var fullAfterFailure atomic.Bool
	cfg := testConfig(k)
	var failed atomic.Bool
	cfg.OnSync = func(r SyncResult) {
		var ce *CommandError
		if r.Err != nil && errors.As(r.Err, &ce) {
			failed.Store(true)
		} else if failed.Load() && r.Full {
			fullAfterFailure.Store(true)
		}
	}
	p := New(cfg, nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "a successful sync", func() bool { return p.Stats().Syncs >= 1 })
	if st := p.Stats(); st.Failures != 2 {
		t.Errorf("failures %d, want 2", st.Failures)
	}
	if !fullAfterFailure.Load() {
		t.Error("the sync after a failure did not rewrite everything")
	}
	if len(k.shoalChains(TableNAT)) != 6 {
		t.Errorf("nat chains after the retry: %v", k.shoalChains(TableNAT))
	}
}

func TestProxierRelistsWhenWatchEnds(t *testing.T) {
	k := newFakeKernel()
	web := svc("default", "web", "10.96.0.10", port("", "TCP", 80))
	gone := svc("default", "gone", "10.96.0.11", port("", "TCP", 80))
	src := newFakeSource(web, gone, eps("default", "web", []string{"10.244.1.5"}, epPort("", "TCP", 8080)))
	p := New(testConfig(k), nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	if !hasRule(k.rules(TableFilter, chainServices), "default/gone") {
		t.Fatal("service without endpoints not rejected")
	}
	// A feed opens its watch after handing over its list: close the
	// watches only once both are open.
	poll.Cond(t, 10*time.Second, "both watches open", func() bool { return src.Watching() == len(feedKinds) })
	// Deleted while the watch was down: only a new list can tell.
	src.DeleteQuietly(gone)
	src.CloseWatches()
	poll.Cond(t, 10*time.Second, "the service gone after a relist", func() bool {
		return !hasRule(k.rules(TableFilter, chainServices), "default/gone")
	})
	if src.Lists("Service") < 2 {
		t.Error("services not listed again")
	}
}

func TestProxierFlushesStaleUDPFlows(t *testing.T) {
	k := newFakeKernel()
	dns := svc("kube-system", "dns", "10.96.0.53", port("dns", "UDP", 53))
	src := newFakeSource(dns, eps("kube-system", "dns", []string{"10.244.1.5", "10.244.2.7"}, epPort("dns", "UDP", 5353)))
	p := New(testConfig(k), nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	if n := len(k.conntrackCalls()); n != 0 {
		t.Fatalf("first sync flushed %d times; flows from before the proxier must stay", n)
	}
	src.Set(eps("kube-system", "dns", []string{"10.244.1.5"}, epPort("dns", "UDP", 5353)))
	poll.Cond(t, 10*time.Second, "the flush", func() bool { return len(k.conntrackCalls()) == 1 })
	want := []string{"-D", "-p", "udp", "--orig-dst", "10.96.0.53", "--dst-nat", "10.244.2.7"}
	if got := k.conntrackCalls()[0]; !slices.Equal(got, want) {
		t.Errorf("conntrack %v, want %v", got, want)
	}
}

func TestProxierWithoutConntrackLogsOnce(t *testing.T) {
	k := newFakeKernel()
	k.NoConntrack = true
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), nil))
	dns := svc("kube-system", "dns", "10.96.0.53", port("dns", "UDP", 53))
	src := newFakeSource(dns, eps("kube-system", "dns", []string{"10.244.1.5", "10.244.2.7", "10.244.3.9"}, epPort("dns", "UDP", 5353)))
	p := New(testConfig(k), log)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	src.Set(eps("kube-system", "dns", []string{"10.244.1.5", "10.244.2.7"}, epPort("dns", "UDP", 5353)))
	poll.Cond(t, 10*time.Second, "a sync", func() bool { return p.Stats().Syncs >= 2 })
	src.Set(eps("kube-system", "dns", []string{"10.244.1.5"}, epPort("dns", "UDP", 5353)))
	poll.Cond(t, 10*time.Second, "a sync", func() bool { return p.Stats().Syncs >= 3 })
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "conntrack tool not found"); n != 1 {
		t.Errorf("missing conntrack logged %d times, want once:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestProxierResyncRepairs(t *testing.T) {
	k := newFakeKernel()
	src := newFakeSource(svc("default", "web", "10.96.0.10", port("", "TCP", 80)),
		eps("default", "web", []string{"10.244.1.5"}, epPort("", "TCP", 8080)))
	cfg := testConfig(k)
	cfg.ResyncInterval = 50 * time.Millisecond
	p := New(cfg, nil)
	runProxier(t, p, src)
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	// Someone removes a jump and flushes a chain behind the proxier's back.
	k.mu.Lock()
	k.tables[TableNAT]["PREROUTING"] = nil
	k.tables[TableNAT][chainServices] = []string{}
	k.mu.Unlock()
	poll.Cond(t, 10*time.Second, "the repair", func() bool {
		return hasRule(k.rules(TableNAT, "PREROUTING"), chainServices) && hasRule(k.rules(TableNAT, chainServices), "10.96.0.10")
	})
}

func TestProxierRunTwice(t *testing.T) {
	p := New(testConfig(newFakeKernel()), nil)
	runProxier(t, p, newFakeSource())
	poll.Cond(t, time.Second, "running", func() bool { return p.running.Load() })
	if err := p.Run(context.Background(), newFakeSource()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run: %v, want ErrAlreadyRunning", err)
	}
	if err := p.Cleanup(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("Cleanup while running: %v, want ErrAlreadyRunning", err)
	}
}

func TestCleanup(t *testing.T) {
	k := newFakeKernel()
	// Docker's rules and pod networking's SHOAL-* chains are not the
	// proxier's: neither its syncs nor Cleanup may touch them.
	k.tables[TableNAT]["POSTROUTING"] = []string{`-m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`,
		"-s 172.30.1.0/24 ! -o docker0 -j MASQUERADE"}
	k.tables[TableNAT]["SHOAL-POSTROUTING"] = []string{"-s 10.244.0.0/16 -d 10.244.0.0/16 ! -o shoal0 -j ACCEPT"}
	k.tables[TableNAT]["DOCKER"] = []string{}
	k.tables[TableFilter]["FORWARD"] = []string{"-j SHOAL-FORWARD"}
	k.tables[TableFilter]["SHOAL-FORWARD"] = []string{"-s 10.244.0.0/16 -j ACCEPT"}
	// others prints the rules that are not the proxier's.
	others := func() string {
		var b strings.Builder
		for _, tc := range [][2]string{{TableNAT, "POSTROUTING"}, {TableNAT, "SHOAL-POSTROUTING"}, {TableNAT, "DOCKER"},
			{TableFilter, "FORWARD"}, {TableFilter, "SHOAL-FORWARD"}} {
			rules := slices.DeleteFunc(k.rules(tc[0], tc[1]), func(r string) bool { return OwnsChain(target(r)) })
			fmt.Fprintln(&b, tc, rules)
		}
		return b.String()
	}
	wantOthers := others()
	ss, es := manyServices(5, 2)
	src := newFakeSource()
	for i := range ss {
		src.Set(ss[i])
		src.Set(es[i])
	}
	src.Set(svc("default", "idle", "10.96.9.9", port("", "TCP", 80)))
	p := New(testConfig(k), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx, src) }()
	poll.Cond(t, 10*time.Second, "the first sync", func() bool { return p.Stats().Syncs >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := others(); got != wantOthers {
		t.Errorf("the first sync changed rules not its own:\n%s\nwant\n%s", got, wantOthers)
	}
	if err := p.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{TableNAT, TableFilter} {
		if c := k.shoalChains(table); len(c) != 0 {
			t.Errorf("%s: chains left: %v", table, c)
		}
		saved, _ := k.Save(context.Background(), table)
		if strings.Contains(string(saved), chainServices) || strings.Contains(string(saved), svcChainPrefix) {
			t.Errorf("%s: shoal rules left:\n%s", table, saved)
		}
	}
	if got := others(); got != wantOthers {
		t.Errorf("Cleanup changed rules not its own:\n%s\nwant\n%s", got, wantOthers)
	}
	if n := len(k.rules(TableFilter, "FORWARD")) + len(k.rules(TableNAT, "POSTROUTING")); n != 3 {
		t.Errorf("jumps left after Cleanup: %d rules in FORWARD and POSTROUTING, want 3", n)
	}
	// Nothing left: nothing to restore.
	n := len(k.restoreCalls())
	if err := Cleanup(context.Background(), k); err != nil || len(k.restoreCalls()) != n {
		t.Errorf("second Cleanup: err %v, %d restores", err, len(k.restoreCalls())-n)
	}
}

func TestStaleUDPFlows(t *testing.T) {
	sp := func(name string, vip string, np int32, ips ...string) servicePort {
		s := svc("ns", name, vip, port("", "UDP", 53))
		if np != 0 {
			s.Spec.Type, s.Spec.Ports[0].NodePort = api.ServiceTypeNodePort, np
		}
		return servicePorts([]*api.Service{s}, []*api.Endpoints{eps("ns", name, ips, epPort("", "UDP", 53))})[0]
	}
	tcp := servicePorts([]*api.Service{svc("ns", "t", "10.96.0.9", port("", "TCP", 53))},
		[]*api.Endpoints{eps("ns", "t", []string{"10.244.0.9"}, epPort("", "TCP", 53))})[0]
	cases := []struct {
		name     string
		old, cur []servicePort
		want     []string
	}{
		{"unchanged", []servicePort{sp("a", "10.96.0.1", 0, "10.244.0.1")}, []servicePort{sp("a", "10.96.0.1", 0, "10.244.0.1")}, nil},
		{"endpoint gone", []servicePort{sp("a", "10.96.0.1", 30053, "10.244.0.1", "10.244.0.2")}, []servicePort{sp("a", "10.96.0.1", 30053, "10.244.0.1")},
			[]string{"-D -p udp --orig-dst 10.96.0.1 --dst-nat 10.244.0.2", "-D -p udp --orig-port-dst 30053 --dst-nat 10.244.0.2"}},
		{"service gone", []servicePort{sp("a", "10.96.0.1", 0, "10.244.0.1")}, nil,
			[]string{"-D -p udp --orig-dst 10.96.0.1 --dst-nat 10.244.0.1"}},
		{"first endpoint", []servicePort{sp("a", "10.96.0.1", 30053)}, []servicePort{sp("a", "10.96.0.1", 30053, "10.244.0.1")},
			[]string{"-D -p udp --orig-dst 10.96.0.1 --orig-port-dst 53", "-D -p udp --orig-port-dst 30053"}},
		{"new service", nil, []servicePort{sp("a", "10.96.0.1", 0, "10.244.0.1")}, nil},
		{"tcp ignored", []servicePort{tcp}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, args := range staleUDPFlows(tc.old, tc.cur) {
				got = append(got, strings.Join(args, " "))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCommandError(t *testing.T) {
	err := fmt.Errorf("sync: %w", &CommandError{Args: []string{"iptables", "-C"}, ExitCode: 1, Stderr: "Bad rule\n", Err: errors.New("exit status 1")})
	if exitCode(err) != 1 || exitCode(errors.New("x")) != -1 {
		t.Error("exitCode does not see through wrapping")
	}
	if !strings.Contains(err.Error(), "iptables -C: exit status 1: Bad rule") {
		t.Errorf("message %q", err)
	}
}

// The agent hands the replicated store to Run.
var _ Source = (*registry.Registry)(nil)
