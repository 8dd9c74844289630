package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

func TestMembers(t *testing.T) {
	srv, c := setup(t)
	since := api.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	srv.SetMembers("h2", "h1",
		api.Member{Name: "h1", Address: "10.213.0.11:7481", APIAddress: "http://10.213.0.11:7480", State: api.MemberAlive,
			Since: since, Version: "v0.1.0"},
		api.Member{Name: "h3", Address: "10.213.0.13:7481", State: api.MemberDead})
	l, err := c.Members(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != "MemberList" || l.APIVersion != "shoal/v1" || l.Self != "h2" || l.Leader != "h1" || len(l.Items) != 2 {
		t.Fatalf("list = %+v", l)
	}
	h1 := l.Items[0]
	if h1.Name != "h1" || h1.APIAddress != "http://10.213.0.11:7480" || h1.State != api.MemberAlive ||
		!h1.Since.Equal(since.Time) || h1.Version != "v0.1.0" {
		t.Fatalf("h1 = %+v", h1)
	}
	if h3 := l.Items[1]; h3.State != api.MemberDead || !h3.Since.IsZero() {
		t.Fatalf("h3 = %+v", h3)
	}
	if q := lastRequest(t, srv); q.Method != "GET" || q.Path != "/shoal/v1/members" {
		t.Fatalf("sent %s %s", q.Method, q.Path)
	}
}

func TestMembersErrors(t *testing.T) {
	srv, c := setup(t)
	anon, _ := client.New(srv.URL, "")
	if _, err := anon.Members(ctxT(t)); api.ReasonOf(err) != api.ReasonUnauthorized {
		t.Fatalf("without the token: %v", err)
	}
	srv.Close()
	_, err := c.Members(ctxT(t))
	var ce *client.ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("agent gone: %T %v", err, err)
	}
}
