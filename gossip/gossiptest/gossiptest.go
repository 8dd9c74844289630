package gossiptest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
)

// Options shape a test cluster.
type Options struct {
	// LAN uses the timings of real hosts (gossip.ProfileLAN) instead of
	// the fast local ones.
	LAN bool
	// Fanout is passed to every member (0: the profile's).
	Fanout int
	// Log receives every member's logs; default: discarded, or stderr at
	// debug level with SHOAL_TEST_LOG=1.
	Log *slog.Logger
	// NoDataDir runs members without a DataDir (no peers file).
	NoDataDir bool
	// Compression is every member's ClusterConfig.Compression.
	Compression bool
	// Validate is every member's ClusterConfig.Validate; default: any key
	// and value (gossip's own structural checks still apply).
	Validate func(*gossip.Record) error
	// Retention is every member's tombstone retention (default gossip's).
	Retention time.Duration
	// Fetcher, if set, wraps each member's fetcher (to watch or forge
	// what pulls see).
	Fetcher func(member string, inner gossip.Fetcher) gossip.Fetcher
	// Now, if set, gives each member's wall clock (nil for the system's):
	// tests of clock skew.
	Now func(member string) func() time.Time
}

// AcceptAll is the default Validate: any key, any value.
func AcceptAll(*gossip.Record) error { return nil }

func (o Options) profile() gossip.Profile {
	if o.LAN {
		return gossip.ProfileLAN
	}
	return gossip.ProfileLocal
}

// Cluster is a set of in-process members.
type Cluster struct {
	tb   testing.TB
	opts Options
	net  *network
	dir  string

	mu      sync.Mutex
	members []*Member
}

// Member is one in-process agent.
type Member struct {
	Name    string
	Store   *gossip.Store
	DataDir string
	APIAddr string

	c       *Cluster
	server  *httptest.Server
	handler atomic.Pointer[http.Handler]
	addr    atomic.Pointer[string] // gossip address, kept across restarts

	mu      sync.Mutex
	cluster *gossip.Cluster
}

// New starts n members named m0, m1, ..., every one joining m0, and waits
// until each sees all the others alive. Everything stops when the test ends.
func New(tb testing.TB, n int, opts Options) *Cluster {
	tb.Helper()
	c := Empty(tb, opts)
	for i := range n {
		var join []string
		if i > 0 {
			join = []string{c.Member(0).Addr()}
		}
		if _, err := c.Add("m"+strconv.Itoa(i), join...); err != nil {
			tb.Fatalf("start member m%d: %v", i, err)
		}
	}
	c.WaitMembers(tb, 30*time.Second)
	return c
}

// Empty returns a cluster without members (see Add).
func Empty(tb testing.TB, opts Options) *Cluster {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
		if os.Getenv("SHOAL_TEST_LOG") == "1" {
			opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	// The directory is made before registering close, so that it is
	// removed after the members stop writing to it.
	c := &Cluster{tb: tb, opts: opts, net: newNetwork(), dir: tb.TempDir()}
	tb.Cleanup(c.close)
	return c
}

// Add creates and starts a member on a free port that joins the given
// addresses.
func (c *Cluster) Add(name string, join ...string) (*Member, error) {
	return c.AddAt(name, "", join...)
}

// AddAt is Add with the gossip address to bind ("" for a free port).
func (c *Cluster) AddAt(name, bind string, join ...string) (*Member, error) {
	var opts []gossip.Option
	if c.opts.Now != nil {
		if now := c.opts.Now(name); now != nil {
			opts = append(opts, gossip.WithNow(now))
		}
	}
	st, err := gossip.Open("", name, c.opts.Log.With("node", name), opts...)
	if err != nil {
		return nil, err
	}
	return c.add(name, bind, st, join)
}

// AddWithStore is Add with a store of the caller's (one on disk, say),
// which the cluster closes at the end.
func (c *Cluster) AddWithStore(name string, st *gossip.Store, join ...string) (*Member, error) {
	return c.add(name, "", st, join)
}

func (c *Cluster) add(name, bind string, st *gossip.Store, join []string) (*Member, error) {
	m := &Member{Name: name, Store: st, c: c}
	if bind != "" {
		m.addr.Store(&bind)
	}
	if !c.opts.NoDataDir {
		m.DataDir = filepath.Join(c.dir, name+"-"+strconv.Itoa(len(c.Members())))
	}
	m.server = httptest.NewServer(http.HandlerFunc(m.serve))
	m.APIAddr = m.server.URL
	c.net.name(m.APIAddr, name)
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m, m.start(join)
}

// serve passes pulls to the running cluster; a stopped member is down.
func (m *Member) serve(w http.ResponseWriter, r *http.Request) {
	h := m.handler.Load()
	if h == nil {
		http.Error(w, "member stopped", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func (m *Member) start(join []string) error {
	bind := "127.0.0.1:0"
	if a := m.addr.Load(); a != nil {
		bind = *a
	}
	validate := m.c.opts.Validate
	if validate == nil {
		validate = AcceptAll
	}
	var fetch gossip.Fetcher = &fetcher{inner: gossip.NewHTTPFetcher(http.DefaultClient), from: m.Name, net: m.c.net}
	if m.c.opts.Fetcher != nil {
		fetch = m.c.opts.Fetcher(m.Name, fetch)
	}
	cfg := gossip.ClusterConfig{
		NodeName: m.Name, BindAddr: bind, Join: join, DataDir: m.DataDir,
		Meta:    gossip.NodeMeta{APIAddr: m.APIAddr, Version: "test"},
		Profile: m.c.opts.profile(), Fanout: m.c.opts.Fanout, Compression: m.c.opts.Compression,
		Fetcher: fetch, Validate: validate, Retention: m.c.opts.Retention,
		Partition: func(peer string) bool {
			return m.c.net.blocked(m.Name, peer)
		},
	}
	cl, err := gossip.NewCluster(cfg, m.Store, m.c.opts.Log.With("node", m.Name))
	if err != nil {
		return err
	}
	if err := cl.Start(context.Background()); err != nil {
		return err
	}
	addr := cl.Addr()
	m.addr.Store(&addr)
	m.c.net.name(addr, m.Name)
	h := cl.Handler()
	m.handler.Store(&h)
	m.mu.Lock()
	m.cluster = cl
	m.mu.Unlock()
	return nil
}

// Cluster returns the member's running gossip.Cluster, or nil if stopped.
func (m *Member) Cluster() *gossip.Cluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cluster
}

// Addr returns the member's gossip address.
func (m *Member) Addr() string {
	if a := m.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Running reports whether the member is started.
func (m *Member) Running() bool { return m.Cluster() != nil }

// Stop shuts the member down without leaving (as a crash would, seen
// from the others); its store is kept.
func (m *Member) Stop() {
	m.mu.Lock()
	cl := m.cluster
	m.cluster = nil
	m.mu.Unlock()
	if cl == nil {
		return
	}
	m.handler.Store(nil)
	if err := cl.Shutdown(); err != nil {
		m.c.tb.Errorf("shutdown %s: %v", m.Name, err)
	}
}

// Leave leaves gracefully, then stops.
func (m *Member) Leave() {
	if cl := m.Cluster(); cl != nil {
		if err := cl.Leave(2 * time.Second); err != nil {
			m.c.tb.Errorf("leave %s: %v", m.Name, err)
		}
	}
	m.Stop()
}

// Restart starts a stopped member again, with its store, data directory,
// API and gossip address; it rejoins through its remembered peers and the
// given addresses.
func (m *Member) Restart(join ...string) error {
	if m.Running() {
		return fmt.Errorf("member %s is running", m.Name)
	}
	var err error
	for range 20 { // the old socket may take a moment to be free
		if err = m.start(join); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Put writes key=value on the member and returns the record written.
func (m *Member) Put(key, value string) *gossip.Record {
	return m.write(func(t *gossip.Txn) { t.Put(key, []byte(value)) })
}

// PutBytes writes a value of any size.
func (m *Member) PutBytes(key string, value []byte) *gossip.Record {
	return m.write(func(t *gossip.Txn) { t.Put(key, value) })
}

// Delete deletes key on the member.
func (m *Member) Delete(key string) *gossip.Record {
	return m.write(func(t *gossip.Txn) { t.Delete(key) })
}

func (m *Member) write(fn func(*gossip.Txn)) *gossip.Record {
	m.c.tb.Helper()
	recs, err := m.Store.Update(context.Background(), func(t *gossip.Txn) error { fn(t); return nil })
	if err != nil {
		m.c.tb.Fatalf("write on %s: %v", m.Name, err)
	}
	if len(recs) != 1 {
		m.c.tb.Fatalf("write on %s: %d records written", m.Name, len(recs))
	}
	return recs[0]
}

// Members returns every member, running or not, in the order added.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Member returns the i-th member added.
func (c *Cluster) Member(i int) *Member { return c.Members()[i] }

// Running returns the running members.
func (c *Cluster) Running() []*Member {
	var out []*Member
	for _, m := range c.Members() {
		if m.Running() {
			out = append(out, m)
		}
	}
	return out
}

func (c *Cluster) close() {
	var wg sync.WaitGroup
	for _, m := range c.Members() {
		wg.Go(func() {
			m.Stop()
			m.server.Close()
			m.Store.Close()
		})
	}
	wg.Wait()
}
