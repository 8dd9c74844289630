package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// BenchmarkReplicationSecurity measures what encrypted gossip and mutual
// TLS cost replication: three agents' gossip on loopback, a write on the
// first, and the time until the two others have it, for a small object
// (sent whole by gossip) and a large one (announced, then pulled over the
// agent-to-agent endpoints). "plain" is the same without a keyring and
// with pulls over plain HTTP; both validate what they receive. Run with
//
//	go test ./daemon -run '^$' -bench ReplicationSecurity -benchtime 200x
//
// and compare the p50/p99 metrics of the two.
func BenchmarkReplicationSecurity(b *testing.B) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "encrypted+mtls"
		}
		b.Run(name, func(b *testing.B) {
			trio := newReplicationTrio(b, secure)
			for _, size := range []int{100, 4000} {
				b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						lat = append(lat, trio.writeAndWait(b, size))
					}
					b.StopTimer()
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				})
			}
		})
	}
}

type replicationTrio struct {
	objs []*registry.Registry
	n    int
}

func newReplicationTrio(b *testing.B, secure bool) *replicationTrio {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	var found *identity.Founding
	var ca *identity.Parsed
	var keyring *memberlist.Keyring
	if secure {
		var err error
		if found, err = identity.Found("n1", []net.IP{net.IPv4(127, 0, 0, 1)}, 0, time.Now()); err != nil {
			b.Fatal(err)
		}
		if ca, err = found.CA.Parse(); err != nil {
			b.Fatal(err)
		}
		if keyring, err = memberlistKeyring(found.Keyring); err != nil {
			b.Fatal(err)
		}
	}
	trio := &replicationTrio{}
	var first string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("n%d", i)
		st, err := gossip.Open("", name, log)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		objs := registry.New(st)
		cfg := gossip.ClusterConfig{NodeName: name, BindAddr: "127.0.0.1:0", Profile: gossip.ProfileLocal,
			Validate: recordValidators(objs).Validate}
		var live *identity.Live
		var plainHandler http.Handler // set once the cluster exists, before any peer calls
		if secure {
			node := found.Node
			if i > 1 {
				if node, err = identity.IssueSelf(ca.CA, nil, name, []net.IP{net.IPv4(127, 0, 0, 1)}, 0, time.Now()); err != nil {
					b.Fatal(err)
				}
				node.Trust = []*x509.Certificate{ca.CA.Cert}
			}
			live = identity.NewLive(node)
			cfg.Keyring, cfg.Fetcher = keyring, peerFetcher(live)
			cfg.Meta = gossip.NodeMeta{APIAddr: "https://unused"}
		} else {
			plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHandler.ServeHTTP(w, r) }))
			b.Cleanup(plain.Close)
			cfg.Meta = gossip.NodeMeta{APIAddr: plain.URL}
			cfg.Fetcher = gossip.NewHTTPFetcher(&http.Client{Timeout: 10 * time.Second})
		}
		cl, err := gossip.NewCluster(cfg, st, log)
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cl.Shutdown() })
		if secure {
			l, err := cl.TLSListener()
			if err != nil {
				b.Fatal(err)
			}
			h := internalHandler(name, authority{st: st, members: cl.Members}, cl, http.NotFoundHandler(), http.NotFound, http.NotFound, log)
			go func() { _ = serveInternal(ctx, l, live, h, log) }()
		} else {
			plainHandler = cl.Handler()
		}
		if i == 1 {
			if err := ensureNamespaces(ctx, objs); err != nil {
				b.Fatal(err)
			}
			first = cl.Addr()
		} else if _, err := cl.Join(first); err != nil {
			b.Fatal(err)
		}
		trio.objs = append(trio.objs, objs)
	}
	// Every agent sees the other two before measuring.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if trio.converged(b) {
			return trio
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("the three agents did not form a cluster")
	return nil
}

// converged writes a probe on the first agent and reports whether the
// others have it.
func (t *replicationTrio) converged(b *testing.B) bool {
	d := t.writeAndWaitFor(b, 10, 500*time.Millisecond)
	return d >= 0
}

func (t *replicationTrio) writeAndWait(b *testing.B, size int) time.Duration {
	d := t.writeAndWaitFor(b, size, 30*time.Second)
	if d < 0 {
		b.Fatal("a write did not reach every agent within 30 s")
	}
	return d
}

// writeAndWaitFor creates a ConfigMap of about size bytes on the first
// agent and returns how long until both others have it (-1 after limit).
func (t *replicationTrio) writeAndWaitFor(b *testing.B, size int, limit time.Duration) time.Duration {
	t.n++
	name := fmt.Sprintf("cm-%d", t.n)
	ctx := context.Background()
	start := time.Now()
	if _, err := t.objs[0].Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Data: map[string]string{"v": strings.Repeat("x", size)}}); err != nil {
		b.Fatal(err)
	}
	for _, o := range t.objs[1:] {
		for {
			if _, err := o.Get(ctx, api.KindConfigMap, "default", name); err == nil {
				break
			}
			if time.Since(start) > limit {
				return -1
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return time.Since(start)
}
