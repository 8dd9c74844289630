package imagemove

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// cluster is a few fake peers, each an engine behind the save endpoint,
// and the local engine a Fetcher fills.
type cluster struct {
	t       *testing.T
	local   *fakeEngine
	peers   map[string]*fakeEngine
	servers map[string]*httptest.Server
	// requests counts save requests per peer.
	requests sync.Map // node -> *atomic.Int32
	// ready is false for nodes reported not Ready.
	notReady map[string]bool
}

func newCluster(t *testing.T, peers ...string) *cluster {
	c := &cluster{t: t, local: newFakeEngine(), peers: map[string]*fakeEngine{}, servers: map[string]*httptest.Server{}, notReady: map[string]bool{}}
	for _, p := range peers {
		c.addPeer(p, nil)
	}
	return c
}

// addPeer starts a peer; serve, when given, replaces the real handler.
func (c *cluster) addPeer(name string, serve http.Handler) *fakeEngine {
	eng := newFakeEngine()
	var h http.Handler = startServer(c.t, eng)
	if serve != nil {
		h = serve
	}
	n := &atomic.Int32{}
	c.requests.Store(name, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != SavePath {
			http.NotFound(w, r)
			return
		}
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	c.t.Cleanup(srv.Close)
	c.peers[name], c.servers[name] = eng, srv
	return eng
}

func (c *cluster) requestsTo(name string) int {
	n, _ := c.requests.Load(name)
	return int(n.(*atomic.Int32).Load())
}

func (c *cluster) nodes(ctx context.Context) ([]*api.Node, error) {
	var out []*api.Node
	for name, eng := range c.peers {
		list, _ := eng.ListImages(ctx)
		status := "True"
		if c.notReady[name] {
			status = "False"
		}
		out = append(out, &api.Node{ObjectMeta: api.ObjectMeta{Name: name}, Status: api.NodeStatus{
			Images:     Inventory(list, api.MaxNodeImages),
			Conditions: []api.Condition{{Type: api.NodeReady, Status: status}},
		}})
	}
	return out, nil
}

func (c *cluster) fetcher(cfg Config) *Fetcher {
	cfg.Self = "here"
	cfg.Nodes = c.nodes
	cfg.Dial = func(node string) (http.RoundTripper, *url.URL, error) {
		srv, ok := c.servers[node]
		if !ok {
			return nil, nil, fmt.Errorf("no node %s", node)
		}
		u, _ := url.Parse(srv.URL)
		return srv.Client().Transport, u, nil
	}
	cfg.RetryDelay = 10 * time.Millisecond
	return NewFetcher(c.local, cfg)
}

// startServer runs a save server over eng until the test ends.
func startServer(t *testing.T, eng Engine) *Server {
	s := NewServer(eng, t.TempDir(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-s.Started()
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFetchCopiesTheImageFromAPeerAndTagsIt(t *testing.T) {
	c := newCluster(t, "h1")
	img := newTestImage(t, "a", "app:1")
	c.peers["h1"].hold(t, img, "app:1")
	loaded := 0
	f := c.fetcher(Config{Loaded: func() { loaded++ }})
	res, err := f.Fetch(ctxT(t), "app:1")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.Source != "h1" || res.ImageID != img.id || res.Bytes == 0 {
		t.Errorf("result = %+v, want from h1, id %s, some bytes", res, img.id)
	}
	if got := c.local.has("app:1"); got != img.id {
		t.Errorf("app:1 here is %q, want %s", got, img.id)
	}
	if c.local.has("evil:latest") != "" {
		t.Error("a tag of the peer's choosing was applied")
	}
	if loaded != 1 {
		t.Errorf("Loaded called %d times, want 1", loaded)
	}
}

func TestFetchOfAnImageAlreadyHereTransfersNothing(t *testing.T) {
	c := newCluster(t, "h1")
	img := newTestImage(t, "a")
	c.peers["h1"].hold(t, img, "app:1")
	c.local.hold(t, img, "app:1")
	res, err := c.fetcher(Config{}).Fetch(ctxT(t), "app:1")
	if err != nil || res.Source != SourcePresent {
		t.Fatalf("fetch = %+v, %v; want present", res, err)
	}
	if n := c.requestsTo("h1"); n != 0 {
		t.Errorf("%d save requests, want none", n)
	}
}

func TestFetchNormalisesNamesAsTheEngineListsThem(t *testing.T) {
	c := newCluster(t, "h1")
	img := newTestImage(t, "a")
	c.peers["h1"].hold(t, img, "busybox:latest")
	if _, err := c.fetcher(Config{}).Fetch(ctxT(t), "docker.io/library/busybox"); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if c.local.has("busybox:latest") != img.id {
		t.Error("busybox:latest is not here")
	}
}

func TestFetchByImageID(t *testing.T) {
	c := newCluster(t, "h1")
	img := newTestImage(t, "a")
	c.peers["h1"].hold(t, img, "app:1")
	if _, err := c.fetcher(Config{}).Fetch(ctxT(t), img.id); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if c.local.has(img.id) != img.id || c.local.has("app:1") != "" {
		t.Error("want the image here by ID and untagged")
	}
}

func TestFetchWithoutAHolderSaysSo(t *testing.T) {
	c := newCluster(t, "h1", "h2")
	c.notReady["h2"] = true
	c.peers["h2"].hold(t, newTestImage(t, "a"), "app:1") // not ready: not asked
	_, err := c.fetcher(Config{}).Fetch(ctxT(t), "app:1")
	if !errors.Is(err, ErrNoPeer) {
		t.Fatalf("fetch = %v, want ErrNoPeer", err)
	}
	if c.requestsTo("h2") != 0 {
		t.Error("a node that is not ready was asked")
	}
}

func TestFetchOfADigestReferenceIsLeftToTheRegistry(t *testing.T) {
	c := newCluster(t)
	_, err := c.fetcher(Config{}).Fetch(ctxT(t), "busybox@sha256:"+fmt.Sprintf("%064x", 1))
	if !errors.Is(err, ErrNotMovable) {
		t.Fatalf("fetch = %v, want ErrNotMovable", err)
	}
	if _, err := c.fetcher(Config{}).Fetch(ctxT(t), "UPPER CASE"); err == nil {
		t.Fatal("a malformed reference was accepted")
	}
}

func TestFetchRefusesAPeerThatSendsAnotherImageAndTriesTheNext(t *testing.T) {
	img := newTestImage(t, "good")
	bad := newTestImage(t, "bad")
	c := newCluster(t, "good")
	c.peers["good"].hold(t, img, "app:1")
	// The liar announces the right image but sends another.
	liar := c.addPeer("liar", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderImageID, r.URL.Query().Get("id"))
		_, _ = w.Write(bad.archive(t))
	}))
	liar.hold(t, img, "app:1")
	// The order of peers is random: fetch until the liar was asked first
	// (each time with even odds).
	for i := 0; i < 64 && c.requestsTo("liar") == 0; i++ {
		c.local = newFakeEngine()
		res, err := c.fetcher(Config{}).Fetch(ctxT(t), "app:1")
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if res.Source != "good" || c.local.has("app:1") != img.id {
			t.Fatalf("result %+v, app:1 = %q: want the good peer's image", res, c.local.has("app:1"))
		}
		if c.local.has(bad.id) != "" {
			t.Fatal("the liar's image was loaded")
		}
	}
	if c.requestsTo("liar") == 0 {
		t.Error("the liar was never asked; the test proves nothing")
	}
}

func TestFetchTriesAgainAfterAFailedRound(t *testing.T) {
	img := newTestImage(t, "a")
	c := newCluster(t)
	var calls atomic.Int32
	real := startServer(t, c.addPeer("h1", nil))
	c.peers["h1"].hold(t, img, "app:1")
	c.addPeer("flaky", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		real.ServeHTTP(w, r)
	}))
	c.peers["flaky"] = c.peers["h1"]
	delete(c.peers, "h1")
	res, err := c.fetcher(Config{}).Fetch(ctxT(t), "app:1")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.Source != "flaky" || calls.Load() != 2 {
		t.Errorf("result %+v after %d calls, want the second round to succeed", res, calls.Load())
	}
	// Every round failing is an error that names the peer.
	c2 := newCluster(t)
	c2.addPeer("down", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})).hold(t, img, "app:1")
	_, err = c2.fetcher(Config{Attempts: 3}).Fetch(ctxT(t), "app:1")
	if err == nil || c2.requestsTo("down") != 3 {
		t.Fatalf("fetch = %v after %d requests, want an error after 3", err, c2.requestsTo("down"))
	}
}

func TestConcurrentFetchesOfOneImageShareOneTransfer(t *testing.T) {
	c := newCluster(t, "h1")
	img := newTestImage(t, "a")
	c.peers["h1"].hold(t, img, "app:1")
	c.local.loadStarted, c.local.release = make(chan struct{}), make(chan struct{})
	f := c.fetcher(Config{})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	wg.Go(func() { _, err := f.Fetch(ctx, "app:1"); errs <- err })
	<-c.local.loadStarted
	for range 4 {
		wg.Go(func() { _, err := f.Fetch(ctx, "app:1"); errs <- err })
	}
	// Those that start before the load ends join it; any later finds
	// the image here: either way, one transfer.
	close(c.local.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := c.requestsTo("h1"); n != 1 {
		t.Errorf("%d transfers, want 1", n)
	}
}

func TestSaveEndpointChecksItsInput(t *testing.T) {
	eng := newFakeEngine()
	img := newTestImage(t, "a")
	eng.hold(t, img, "app:1")
	h := startServer(t, eng)
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"id=app:1", http.StatusBadRequest},
		{"id=../etc", http.StatusBadRequest},
		{"", http.StatusBadRequest},
		{"id=sha256:" + fmt.Sprintf("%064x", 7), http.StatusNotFound},
		{"id=" + img.id, http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, SavePath+"?"+tc.query, nil))
		if rec.Code != tc.code {
			t.Errorf("%s: %d, want %d (%s)", tc.query, rec.Code, tc.code, rec.Body)
		}
		if tc.code == http.StatusOK && rec.Header().Get(HeaderImageID) != img.id {
			t.Errorf("the save does not announce its image")
		}
	}
}
