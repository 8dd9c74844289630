package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type recordedCall struct {
	op     string
	failed bool
}

type callRecorder struct {
	mu    sync.Mutex
	calls []recordedCall
}

func (r *callRecorder) ObserveEngineCall(op string, took time.Duration, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recordedCall{op, failed})
}

// An engine that answers a ping, knows no container and fails info: each
// call is reported under its operation, a missing object as no failure.
func TestDockerReportsEveryCallToItsObserver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/info"):
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"engine broke"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such container: x"}`))
		}
	}))
	defer srv.Close()
	d, err := NewDocker("tcp://"+strings.TrimPrefix(srv.URL, "http://"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec := &callRecorder{}
	d.SetObserver(rec)
	ctx := context.Background()
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := d.InspectContainer(ctx, "x"); err == nil {
		t.Fatal("inspect of a missing container succeeded")
	}
	if _, err := d.Info(ctx); err == nil {
		t.Fatal("info succeeded")
	}
	want := []recordedCall{{"ping", false}, {"container_inspect", false}, {"info", true}}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) != len(want) {
		t.Fatalf("calls %+v, want %+v", rec.calls, want)
	}
	for i := range want {
		if rec.calls[i] != want[i] {
			t.Fatalf("calls %+v, want %+v", rec.calls, want)
		}
	}
}
