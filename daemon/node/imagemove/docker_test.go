package imagemove

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

// realPeer serves the real engine's saves, and lists it as node "peer"
// holding image id under the given names.
func realPeer(t *testing.T, d *engine.Docker, h http.Handler, id string, names ...string) Config {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return Config{Self: "here", RetryDelay: 10 * time.Millisecond, Attempts: 1,
		Nodes: func(context.Context) ([]*api.Node, error) {
			return []*api.Node{{ObjectMeta: api.ObjectMeta{Name: "peer"}, Status: api.NodeStatus{
				Conditions: []api.Condition{{Type: api.NodeReady, Status: api.ConditionTrue}},
				Images:     []api.ContainerImage{{Names: append([]string{id}, names...)}},
			}}}, nil
		},
		Dial: func(string) (http.RoundTripper, *url.URL, error) { return srv.Client().Transport, u, nil }}
}

// The real engine's save passes the checks and its load takes what the
// relay writes: the image arrives under the asked tag with its ID. (One
// engine plays both hosts: the new tag is what is absent.)
func TestRealEngineSaveAndLoadThroughTheRelay(t *testing.T) {
	d := enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := enginetest.ImportBusybox(t, d)
	info, err := d.InspectImage(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	moved := enginetest.UniqueName("shoal-test-moved:")
	t.Cleanup(func() { _ = d.RemoveImage(context.Background(), moved) })
	f := NewFetcher(d, realPeer(t, d, startServer(t, d), info.ID, moved))
	res, err := f.Fetch(ctx, moved)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	got, err := d.InspectImage(ctx, moved)
	if err != nil || got.ID != info.ID || res.Source != "peer" || res.Bytes == 0 {
		t.Fatalf("after the fetch %s is %+v (%v), result %+v; want id %s from peer", moved, got, err, res, info.ID)
	}

	// A peer that sends the real save of another image than announced:
	// nothing is loaded under the asked name.
	other := enginetest.ImportBusybox(t, d)
	otherInfo, err := d.InspectImage(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	liar := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := d.SaveImage(r.Context(), otherInfo.ID)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rc.Close()
		w.Header().Set(HeaderImageID, r.URL.Query().Get("id"))
		_, _ = io.Copy(w, rc)
	})
	wanted := enginetest.UniqueName("shoal-test-refused:")
	t.Cleanup(func() { _ = d.RemoveImage(context.Background(), wanted) })
	_, err = NewFetcher(d, realPeer(t, d, liar, info.ID, wanted)).Fetch(ctx, wanted)
	if err == nil {
		t.Fatal("the other image was accepted")
	}
	if ok, _ := d.ImageExists(ctx, wanted); ok {
		t.Fatalf("%s exists after a refused transfer", wanted)
	}
}
