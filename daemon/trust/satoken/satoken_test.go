package satoken

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

type pods map[string]*api.Pod

func (p pods) Get(_ context.Context, _ *api.Kind, ns, name string) (api.Object, error) {
	if pod, ok := p[ns+"/"+name]; ok {
		return pod, nil
	}
	return nil, api.NewNotFound(api.KindPod, name)
}

func TestTokensAreBoundToTheirPodNodeAndTime(t *testing.T) {
	now := time.Now()
	f, err := identity.Found("h1", nil, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.Found("h1", nil, 0, now) // another cluster, same node name
	if err != nil {
		t.Fatal(err)
	}
	h2, err := identity.IssueSelf(mustCA(t, f), nil, "h2", nil, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "shop", UID: "11111111-2222-3333-4444-555555555555"},
		Spec: api.PodSpec{NodeName: "h1", ServiceAccountName: "builder"}}
	store := pods{"shop/web": pod}
	clock := now
	v := &Verifier{Roots: func() *x509.CertPool { return f.Node.Pool() }, Pods: store, Now: func() time.Time { return clock }}

	tok, exp, err := Issue(f.Node, pod, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, Prefix) || exp.Sub(now) != time.Hour {
		t.Fatalf("token %q expiring %s", tok[:20], exp)
	}
	c, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if u := c.User(); u.Username != "system:serviceaccount:shop:builder" || u.Groups[1] != "system:serviceaccounts:shop" {
		t.Errorf("user %+v", u)
	}

	bad := map[string]string{}
	// Another cluster's node, a tampered claim, another node speaking for h1's pod.
	bad["another cluster"], _, _ = Issue(other.Node, pod, now, time.Hour)
	parts := strings.Split(strings.TrimPrefix(tok, Prefix), ".")
	bad["tampered"] = Prefix + b64([]byte(`{"ns":"kube-system","sa":"admin","pod":"web","uid":"x","node":"h1","iat":1,"exp":9999999999}`)) + "." + parts[1] + "." + parts[2]
	h2.Trust = f.Node.Trust
	bad["node speaking for another's pod"], _, _ = Issue(h2, pod, now, time.Hour)
	bad["user token"] = "alice.s3cret"
	for name, tok := range bad {
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Expired; then the pod re-created (new uid) or gone.
	clock = now.Add(time.Hour + time.Second)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired: %v", err)
	}
	clock = now
	store["shop/web"] = &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "shop", UID: "another"}, Spec: pod.Spec}
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("re-created pod: %v", err)
	}
	delete(store, "shop/web")
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("deleted pod: %v", err)
	}
}

func mustCA(t *testing.T, f *identity.Founding) *identity.CA {
	t.Helper()
	p, err := f.CA.Parse()
	if err != nil {
		t.Fatal(err)
	}
	return p.CA
}
