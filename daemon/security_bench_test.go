package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/trust/auth"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

// BenchmarkAPISecurity measures what security costs a request: the same
// API server over plain HTTP without credentials, and over HTTPS with a
// bearer token checked against the RBAC policy (the agent's set-up), for a
// GET of one object and a create. Connections are reused, as a client that
// makes several requests does. Run with
//
//	go test ./daemon -run '^$' -bench APISecurity -benchtime 3000x
//
// and compare the p50/p99 metrics of the two sub-benchmarks.
func BenchmarkAPISecurity(b *testing.B) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "https+token+rbac"
		}
		b.Run(name, func(b *testing.B) {
			env := newAPIBench(b, secure)
			for _, op := range []string{"get", "create"} {
				b.Run(op, func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						start := time.Now()
						env.do(b, op, i)
						lat = append(lat, time.Since(start))
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

type apiBench struct {
	url    string
	client *http.Client
	token  string
	run    string
	n      int // objects created so far (names must not repeat across runs)
}

func newAPIBench(b *testing.B, secure bool) *apiBench {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	st, err := gossip.Open("", "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	objs := registry.New(st)
	if err := ensureNamespaces(ctx, objs); err != nil {
		b.Fatal(err)
	}
	if _, err := objs.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "probe", Namespace: "default"},
		Data: map[string]string{"k": "v"}}); err != nil {
		b.Fatal(err)
	}
	cfg := server.Config{Store: objs, Log: slog.New(slog.DiscardHandler), Version: "bench"}
	env := &apiBench{run: fmt.Sprint(time.Now().UnixNano())}
	if !secure {
		srv := httptest.NewServer(server.New(cfg))
		b.Cleanup(srv.Close)
		env.url, env.client = srv.URL, srv.Client()
		return env
	}
	if err := auth.EnsureBuiltins(ctx, objs); err != nil {
		b.Fatal(err)
	}
	token, hash, err := api.NewBearerToken("admin")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := objs.Create(ctx, &api.Token{ObjectMeta: api.ObjectMeta{Name: "admin"}, Spec: api.TokenSpec{Hash: hash}}); err != nil {
		b.Fatal(err)
	}
	if _, err := objs.Create(ctx, auth.AdminBinding()); err != nil {
		b.Fatal(err)
	}
	cache, err := auth.NewCache(ctx, objs, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	go cache.Run(ctx)
	cfg.Authenticator, cfg.Authorizer = auth.NewAuthenticator(cache), auth.NewAuthorizer(cache)
	f, err := identity.Found("bench", nil, 0, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(server.New(cfg))
	srv.TLS = identity.NewLive(f.Node).APIServerConfig(nil)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(f.Node.Trust[0])
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	env.url, env.client, env.token = srv.URL, &http.Client{Transport: tr}, token
	return env
}

func (e *apiBench) do(b *testing.B, op string, i int) {
	var req *http.Request
	switch op {
	case "get":
		req, _ = http.NewRequest(http.MethodGet, e.url+"/api/v1/namespaces/default/configmaps/probe", nil)
	case "create":
		e.n++
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c-%s-%d"},"data":{"k":"v"}}`, e.run, e.n)
		req, _ = http.NewRequest(http.MethodPost, e.url+"/api/v1/namespaces/default/configmaps", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		b.Fatalf("%s: %s", op, resp.Status)
	}
}
