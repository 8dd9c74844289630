package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// The attacks a review carried out, each replayed against a real
// in-process cluster whose members validate records as the agent does.

const attackWait = 10 * time.Second

// objectValidators is what the agent passes as ClusterConfig.Validate.
var objectValidators = registry.New(nil).RecordValidators().Validate

const uid = "0b8e5c9a-3f6d-4e2b-9a1c-7d5e3f2a1b0c"

// userMsg is memberlist's message type for user data (its wire protocol).
const userMsg = 8

func podValue(t *testing.T, name, ns, podUID string) []byte {
	t.Helper()
	v, err := json.Marshal(&api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, UID: podUID},
		Spec:       api.PodSpec{NodeName: "m1", Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sendGossip sends user messages to a member in one UDP packet each, as
// anyone who reaches the gossip port can.
func sendGossip(t *testing.T, to *gossiptest.Member, msgs ...[]byte) {
	t.Helper()
	conn, err := net.Dial("udp", to.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, m := range msgs {
		pkt, err := memberlist.AddLabelHeaderToPacket(append([]byte{userMsg}, m...), "shoal")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
}

func waitStat(t *testing.T, m *gossiptest.Member, what string, get func(gossip.Stats) int64, atLeast int64) {
	t.Helper()
	poll.Until(t, attackWait, "condition", func() error {
		if n := get(m.Cluster().Stats()); n < atLeast {
			return fmt.Errorf("%s: %s = %d, want at least %d", m.Name, what, n, atLeast)
		}
		return nil
	})
}

func refused(s gossip.Stats) int64        { return s.Refused }
func unknownSenders(s gossip.Stats) int64 { return s.UnknownSenders }

// assertStillReplicating writes on m0 and waits for target to get it: the
// attack left the member working.
func assertStillReplicating(t *testing.T, c *gossiptest.Cluster, target *gossiptest.Member) {
	t.Helper()
	objs := registry.New(c.Member(0).Store)
	name := fmt.Sprintf("after-%d", time.Now().UnixNano())
	if _, err := objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, attackWait, "condition", func() error {
		if r := target.Store.Get("o/configmaps/default/" + name); r == nil {
			return fmt.Errorf("%s stopped replicating", target.Name)
		}
		return nil
	})
}

func objectCluster(t *testing.T, n int, opts gossiptest.Options) *gossiptest.Cluster {
	t.Helper()
	opts.Validate = objectValidators
	c := gossiptest.New(t, n, opts)
	if _, err := registry.New(c.Member(0).Store).Create(context.Background(),
		&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged(t, attackWait)
	return c
}

// One UDP packet carried a pod named ../../x, and another a pod whose uid
// is ../../victimdir (which the runner used as a directory name): neither
// is stored, both are counted.
func TestGossipedRecordsAreValidated(t *testing.T) {
	c := objectCluster(t, 2, gossiptest.Options{})
	target := c.Member(1)
	now := gossip.Pack(time.Now().UnixMilli())
	v := gossip.Version{Time: now, Node: "m0"}
	attacks := map[string]*gossip.Record{
		"o/pods/default/../../x":        {Key: "o/pods/default/../../x", Version: v, Value: podValue(t, "../../x", "default", uid)},
		"o/pods/default/x (../../x)":    {Key: "o/pods/default/x", Version: v, Value: podValue(t, "../../x", "default", uid)},
		"o/pods/default/victim":         {Key: "o/pods/default/victim", Version: v, Value: podValue(t, "victim", "default", "../../victimdir")},
		"s/pods/default/victim":         {Key: "s/pods/default/victim", Version: v, Value: []byte(`{"uid":"../../victimdir","status":{}}`)},
		"writer not a node name":        {Key: "o/pods/default/w", Version: gossip.Version{Time: now, Node: "../evil"}, Value: podValue(t, "w", "default", uid)},
		"tombstone with a value":        {Key: "o/pods/default/t", Version: v, Deleted: true, Value: []byte("x")},
		"unregistered system prefix":    {Key: "x/tokens/admin", Version: v, Value: []byte(`{"token":"t"}`)},
		"namespace that is not a label": {Key: "o/namespaces//Evil_NS", Version: v, Value: []byte(`{}`)},
	}
	for _, r := range attacks {
		sendGossip(t, target, gossip.EncodeRecordMessage(r))
	}
	waitStat(t, target, "refused", refused, int64(len(attacks)))
	for name, r := range attacks {
		if target.Store.Get(r.Key) != nil {
			t.Errorf("%s: stored", name)
		}
	}
	// A valid record in the same way is stored: the check refuses what is
	// wrong, not gossip.
	ok := &gossip.Record{Key: "o/pods/default/fine", Version: v, Value: podValue(t, "fine", "default", uid)}
	sendGossip(t, target, gossip.EncodeRecordMessage(ok))
	poll.Until(t, attackWait, "condition", func() error {
		if target.Store.Get(ok.Key) == nil {
			return errors.New("a valid gossiped record was not stored")
		}
		return nil
	})
	assertStillReplicating(t, c, target)
}

// A record stamped 2^64-1 could never be overwritten or deleted, and one
// from a clock an hour ahead would drag every clock forward: both are
// refused, and the clock does not move.
func TestFutureRecordsAreRefused(t *testing.T) {
	c := objectCluster(t, 2, gossiptest.Options{})
	target := c.Member(1)
	before := target.Store.Clock().Last()
	hourAhead := gossip.Pack(time.Now().Add(time.Hour).UnixMilli())
	for _, ts := range []uint64{math.MaxUint64, hourAhead} {
		r := &gossip.Record{Key: "o/pods/default/forever", Version: gossip.Version{Time: ts, Node: "m0"},
			Value: podValue(t, "forever", "default", uid)}
		sendGossip(t, target, gossip.EncodeRecordMessage(r))
	}
	waitStat(t, target, "refused", refused, 2)
	if target.Store.Get("o/pods/default/forever") != nil {
		t.Fatal("a record from the future was stored")
	}
	if last := target.Store.Clock().Last(); last > target.Store.Clock().Bound() || last >= hourAhead {
		t.Fatalf("the clock moved from %d to %d", before, last)
	}
	assertStillReplicating(t, c, target)
}

// recordingFetcher remembers every pull a member makes, and can replace
// the answers of a member that lies.
type recordingFetcher struct {
	inner gossip.Fetcher
	mu    sync.Mutex
	pulls []string // "records:<peer>:<keys>" or "digest:<peer>"
	lie   func(p gossip.Peer) ([]gossip.DigestEntry, bool)
}

func (f *recordingFetcher) PullRecords(ctx context.Context, p gossip.Peer, keys []string) ([]*gossip.Record, error) {
	f.mu.Lock()
	f.pulls = append(f.pulls, "records:"+p.Name+":"+strings.Join(keys, ","))
	f.mu.Unlock()
	return f.inner.PullRecords(ctx, p, keys)
}

func (f *recordingFetcher) PullDigest(ctx context.Context, p gossip.Peer, buckets int, which []int) ([]gossip.DigestEntry, error) {
	f.mu.Lock()
	f.pulls = append(f.pulls, "digest:"+p.Name)
	lie := f.lie
	f.mu.Unlock()
	if lie != nil {
		if es, ok := lie(p); ok {
			return es, nil
		}
	}
	return f.inner.PullDigest(ctx, p, buckets, which)
}

func (f *recordingFetcher) pulled(substr string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.pulls {
		if strings.Contains(p, substr) {
			out = append(out, p)
		}
	}
	return out
}

// An announce names a member, never an address: one naming a URL (the
// attacker's server) or a node that is no member is dropped and counted,
// and nothing is pulled.
func TestAnnouncesNamingNoMemberPullNothing(t *testing.T) {
	var attackerHit atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { attackerHit.Add(1) }))
	defer attacker.Close()
	fetchers := map[string]*recordingFetcher{}
	var mu sync.Mutex
	c := objectCluster(t, 2, gossiptest.Options{Fetcher: func(member string, inner gossip.Fetcher) gossip.Fetcher {
		f := &recordingFetcher{inner: inner}
		mu.Lock()
		fetchers[member] = f
		mu.Unlock()
		return f
	}})
	target := c.Member(1)
	v := gossip.Version{Time: gossip.Pack(time.Now().UnixMilli()), Node: "m0"}
	sendGossip(t, target,
		gossip.EncodeAnnounce("o/secrets/default/db", v, 0, attacker.URL),
		gossip.EncodeAnnounce("o/secrets/default/db", v, 0, "ghost"),
		gossip.EncodeAnnounce("o/secrets/default/db", v, 0, "0-attacker"))
	waitStat(t, target, "unknown senders", unknownSenders, 3)
	time.Sleep(200 * time.Millisecond) // a pull, if any, would be under way
	mu.Lock()
	f := fetchers["m1"]
	mu.Unlock()
	if got := f.pulled("o/secrets/default/db"); len(got) > 0 {
		t.Fatalf("pulled after announces naming no member: %v", got)
	}
	if attackerHit.Load() != 0 {
		t.Fatal("the agent contacted the URL an announce named")
	}
	// An announce naming a live member is pulled from that member, by name.
	big := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "big", Namespace: "default"},
		Data: map[string]string{"f": strings.Repeat("x", 5000)}}
	if _, err := registry.New(c.Member(0).Store).Create(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, attackWait, "condition", func() error {
		if target.Store.Get("o/configmaps/default/big") == nil {
			return errors.New("the announced record was not pulled")
		}
		return nil
	})
	if got := f.pulled("records:m0:"); len(got) == 0 {
		t.Fatalf("m1 pulled the announced record from %v, want m0", f.pulls)
	}
}

// One forged push/pull state with Horizon=2^64-1 and an empty digest made
// an agent forget every object. The state is refused (its horizon is
// beyond now - retention + max offset) and nothing is forgotten, even when
// the member it names answers with an empty digest.
func TestForgedHorizonForgetsNothing(t *testing.T) {
	fetchers := map[string]*recordingFetcher{}
	var mu sync.Mutex
	const retention = time.Hour
	c := objectCluster(t, 2, gossiptest.Options{Retention: retention, Fetcher: func(member string, inner gossip.Fetcher) gossip.Fetcher {
		f := &recordingFetcher{inner: inner}
		mu.Lock()
		fetchers[member] = f
		mu.Unlock()
		return f
	}})
	objs := registry.New(c.Member(0).Store)
	for i := range 6 {
		if _, err := objs.Create(context.Background(), &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: "default"}}); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(t, attackWait)
	target := c.Member(1)
	count := func() int {
		n := 0
		target.Store.Scan("o/", func(*gossip.Record) { n++ })
		return n
	}
	if n := count(); n != 7 {
		t.Fatalf("%d objects before the attack, want 7", n)
	}
	// m0 turns liar: its digest is empty from now on.
	mu.Lock()
	fetchers["m1"].lie = func(p gossip.Peer) ([]gossip.DigestEntry, bool) { return nil, p.Name == "m0" }
	mu.Unlock()
	cl := target.Cluster()
	justBeyond := gossip.Pack(time.Now().Add(-retention + 2*time.Second).UnixMilli())
	for _, horizon := range []uint64{math.MaxUint64, justBeyond} {
		before := cl.Stats()
		cl.MergeRemoteState(gossip.EncodeState("m0", horizon, 0, []uint64{0}))
		if got := cl.Stats().Refused - before.Refused; got != 1 {
			t.Errorf("horizon %d: refused %d states, want 1", horizon, got)
		}
		time.Sleep(500 * time.Millisecond) // anti-entropy would act by now
		if n := count(); n != 7 || cl.Stats().Forgotten != 0 {
			t.Fatalf("%d objects after a forged state with horizon %d (forgotten %d), want 7", n, horizon, cl.Stats().Forgotten)
		}
	}
	// A state naming no member is not acted on either.
	before := cl.Stats()
	cl.MergeRemoteState(gossip.EncodeState("0-attacker", 0, 0, []uint64{0}))
	if got := cl.Stats().UnknownSenders - before.UnknownSenders; got != 1 {
		t.Fatalf("unknown senders %d, want 1", got)
	}
	time.Sleep(200 * time.Millisecond)
	for _, p := range fetchers["m1"].pulled("digest:0-attacker") {
		t.Fatalf("pulled from a node that is no member: %s", p)
	}
	// A state within the bounds is acted on (the liar's empty digest with
	// horizon 0 makes nothing forgotten): the check refuses what is
	// beyond, not states.
	rounds := cl.Stats().SyncRounds
	cl.MergeRemoteState(gossip.EncodeState("m0", 0, 0, []uint64{0}))
	poll.Until(t, attackWait, "condition", func() error {
		if cl.Stats().SyncRounds == rounds {
			return errors.New("the valid state was not acted on")
		}
		return nil
	})
	if n := count(); n != 7 {
		t.Fatalf("%d objects, want 7", n)
	}
}

// A peer answering a pull with 256 MiB is refused after at most the bound
// was read.
func TestHugeAnswerIsRefusedWithoutReadingItAll(t *testing.T) {
	for _, announceLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", announceLength), func(t *testing.T) {
			var written atomic.Int64
			huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if announceLength {
					w.Header().Set("Content-Length", fmt.Sprint(256<<20))
				}
				chunk := make([]byte, 64<<10)
				chunk[0] = 1 // the wire format byte
				for written.Load() < 256<<20 {
					n, err := w.Write(chunk)
					written.Add(int64(n))
					if err != nil {
						return
					}
				}
			}))
			defer huge.Close()
			f := gossip.NewHTTPFetcher(http.DefaultClient)
			_, err := f.PullRecords(context.Background(), gossip.Peer{Name: "m9", APIAddr: huge.URL}, []string{"o/configmaps/default/a"})
			if !errors.Is(err, gossip.ErrAnswerTooLarge) {
				t.Fatalf("a 256 MiB answer: %v, want ErrAnswerTooLarge", err)
			}
			huge.CloseClientConnections()
			time.Sleep(100 * time.Millisecond)
			if n := written.Load(); n > 64<<20 {
				t.Fatalf("the server got %d MiB out before the answer was refused", n>>20)
			}
			t.Logf("the server wrote %d KiB before the answer was refused", written.Load()>>10)
		})
	}
}

// In a cluster: a member whose pull answers are oversized gets its records
// refused and counted, and nothing is stored.
func TestOversizedPullAnswerIsRefusedAndCounted(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		chunk := make([]byte, 1<<20)
		chunk[0] = 1
		for range 20 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	c := objectCluster(t, 2, gossiptest.Options{Fetcher: func(member string, inner gossip.Fetcher) gossip.Fetcher {
		if member != "m1" {
			return inner
		}
		return redirectFetcher{to: huge.URL}
	}})
	big := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "big", Namespace: "default"},
		Data: map[string]string{"f": strings.Repeat("x", 5000)}}
	if _, err := registry.New(c.Member(0).Store).Create(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	target := c.Member(1)
	waitStat(t, target, "refused", refused, 1)
	if target.Store.Get("o/configmaps/default/big") != nil {
		t.Fatal("a record from an oversized answer was stored")
	}
	if target.Cluster().Stats().PullErrors == 0 {
		t.Fatal("the refused answer is not counted as a failed pull")
	}
}

// redirectFetcher sends every pull to one server (a member gone rogue).
type redirectFetcher struct{ to string }

func (r redirectFetcher) PullRecords(ctx context.Context, p gossip.Peer, keys []string) ([]*gossip.Record, error) {
	p.APIAddr = r.to
	return gossip.NewHTTPFetcher(http.DefaultClient).PullRecords(ctx, p, keys)
}

func (r redirectFetcher) PullDigest(ctx context.Context, p gossip.Peer, buckets int, which []int) ([]gossip.DigestEntry, error) {
	p.APIAddr = r.to
	return gossip.NewHTTPFetcher(http.DefaultClient).PullDigest(ctx, p, buckets, which)
}

// A state from a member this agent saw die (a restart, a partition) waits
// for it to be alive again rather than being dropped; a state from a node
// that never was a member is dropped at once.
func TestStateFromARecoveringMemberWaits(t *testing.T) {
	c := gossiptest.New(t, 2, gossiptest.Options{})
	m0, m1 := c.Member(0), c.Member(1)
	c.Partition([]*gossiptest.Member{m0}, []*gossiptest.Member{m1})
	poll.Until(t, attackWait, "condition", func() error {
		for _, m := range m1.Cluster().Members() {
			if m.Name == "m0" && m.State != gossip.StateAlive {
				return nil
			}
		}
		return errors.New("m1 still sees m0 alive")
	})
	m0.Put("written-apart", "1")
	cl := m1.Cluster()
	rounds := cl.Stats().SyncRounds
	cl.MergeRemoteState(gossip.EncodeState("m0", 0, 1, []uint64{0}))
	c.Heal()
	poll.Until(t, attackWait, "condition", func() error {
		if r := m1.Store.Get("written-apart"); r == nil {
			return errors.New("m1 lacks what m0 wrote apart")
		}
		if cl.Stats().SyncRounds == rounds {
			return errors.New("no exchange completed")
		}
		return nil
	})
	if n := cl.Stats().UnknownSenders; n != 0 {
		t.Fatalf("the state of a member coming back was dropped (%d unknown senders)", n)
	}
}
