package ingress

import (
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

const (
	exact    = api.PathTypeExact
	prefix   = api.PathTypePrefix
	implSpec = api.PathTypeImplementationSpecific
)

// routingIngresses exercise every matching rule; each path names its own
// Service so that a lookup's answer tells which path matched.
func routingIngresses() []*api.Ingress {
	return []*api.Ingress{
		ingressOf("default", "a", 0, api.IngressSpec{Rules: []api.IngressRule{
			rule("foo.example.com",
				httpPath(prefix, "/", "foo-root"),
				httpPath(prefix, "/api", "foo-api"),
				httpPath(exact, "/api", "foo-api-exact"),
				httpPath(prefix, "/api/v2/", "foo-api-v2"),
				httpPath(implSpec, "/static", "foo-static"),
				httpPath("", "/assets", "foo-assets"),
				httpPath(exact, "/exact/", "foo-exact-slash"),
			),
			rule("*.example.com", httpPath(prefix, "/", "wild")),
			rule("", httpPath(prefix, "/shared", "any-shared"), httpPath(exact, "/ping", "any-ping")),
			rule("bar.example.com", httpPath(prefix, "/only", "bar-only")),
		}}),
		// Newer: loses the conflict on foo.example.com /api, adds a host and
		// has the defaultBackend the older Ingresses lack.
		ingressOf("default", "b", time.Hour, api.IngressSpec{
			DefaultBackend: to("b-default"),
			Rules: []api.IngressRule{
				rule("foo.example.com", httpPath(prefix, "/api/", "b-api")),
				rule("baz.example.com", httpPath(prefix, "/", "b-baz")),
				rule("tie.example.com", httpPath(prefix, "/", "b-tie")),
			},
		}),
		ingressOf("default", "c", 2*time.Hour, api.IngressSpec{DefaultBackend: to("c-default")}),
		// As old as b: the namespace decides, and "a-team" < "default".
		ingressOf("a-team", "d", time.Hour, api.IngressSpec{Rules: []api.IngressRule{
			rule("tie.example.com", httpPath(prefix, "/", "d-tie")),
		}}),
		// Hosts no request can match are ignored.
		ingressOf("default", "e", 0, api.IngressSpec{Rules: []api.IngressRule{
			rule("a.*.example.com", httpPath(prefix, "/", "never")),
			{Host: "nohttp.example.com"},
		}}),
	}
}

func TestTableLookup(t *testing.T) {
	cases := []struct {
		name, host, path string
		want             string // Service of the matching path; "" for none (404)
	}{
		{"precise host, root prefix", "foo.example.com", "/", "foo-root"},
		{"host is case-insensitive, port ignored", "FOO.Example.COM:8080", "/x", "foo-root"},
		{"trailing dot of the host ignored", "foo.example.com.", "/x", "foo-root"},
		{"exact beats prefix of the same path", "foo.example.com", "/api", "foo-api-exact"},
		{"exact does not match with a trailing slash", "foo.example.com", "/api/", "foo-api"},
		{"prefix matches below it", "foo.example.com", "/api/users", "foo-api"},
		{"prefix matches whole elements only", "foo.example.com", "/apix", "foo-root"},
		{"trailing slash of a rule ignored", "foo.example.com", "/api/v2", "foo-api-v2"},
		{"longest prefix wins", "foo.example.com", "/api/v2/items", "foo-api-v2"},
		{"longer prefix still element-wise", "foo.example.com", "/api/v2x", "foo-api"},
		{"ImplementationSpecific is Prefix", "foo.example.com", "/static/app.js", "foo-static"},
		{"ImplementationSpecific is not a string prefix", "foo.example.com", "/staticx", "foo-root"},
		{"no pathType is Prefix", "foo.example.com", "/assets/a.png", "foo-assets"},
		{"exact with trailing slash", "foo.example.com", "/exact/", "foo-exact-slash"},
		{"exact with trailing slash, request without", "foo.example.com", "/exact", "foo-root"},
		{"dot segments resolved before matching", "foo.example.com", "/static/../api", "foo-api-exact"},
		{"repeated slashes folded", "foo.example.com", "//api", "foo-api-exact"},
		{"empty path is root", "foo.example.com", "", "foo-root"},
		{"wildcard matches one label", "other.example.com", "/x", "wild"},
		{"wildcard does not match two labels", "a.b.example.com", "/x", "b-default"},
		{"wildcard does not match the bare domain", "example.com", "/x", "b-default"},
		{"hostless rule matches any host", "a.b.example.com", "/shared/x", "any-shared"},
		{"hostless rule matches without Host", "", "/shared", "any-shared"},
		{"hostless exact", "unknown.org", "/ping", "any-ping"},
		{"hostless exact, not a prefix", "unknown.org", "/ping/", "b-default"},
		{"precise host falls through to wildcard", "bar.example.com", "/other", "wild"},
		{"precise host path", "bar.example.com", "/only/x", "bar-only"},
		{"wildcard before hostless", "bar.example.com", "/shared", "wild"},
		{"precise host beats hostless", "foo.example.com", "/shared", "foo-root"},
		{"rules of several ingresses merge", "baz.example.com", "/", "b-baz"},
		{"conflict: the oldest ingress wins", "foo.example.com", "/api/x", "foo-api"},
		{"conflict at the same age: namespace/name", "tie.example.com", "/", "d-tie"},
		{"defaultBackend of the oldest ingress", "nomatch.org", "/x", "b-default"},
		{"host rule without http adds nothing", "nohttp.example.com", "/", "wild"},
		{"IP host", "10.0.0.1:80", "/x", "b-default"},
		{"IPv6 host", "[::1]:8080", "/shared", "any-shared"},
		{"asterisk-form only reaches the default", "foo.example.com", "*", "b-default"},
	}
	ings := routingIngresses()
	orders := map[string][]*api.Ingress{"given": ings, "reversed": reversed(ings)}
	for order, list := range orders {
		tbl := buildTable(list, nil, nil)
		for _, c := range cases {
			t.Run(order+"/"+c.name, func(t *testing.T) {
				if got := routeService(tbl.lookup(c.host, c.path)); got != c.want {
					t.Errorf("lookup(%q, %q) = %q, want %q", c.host, c.path, got, c.want)
				}
			})
		}
	}
}

func TestTableWithoutDefaultBackend(t *testing.T) {
	ings := routingIngresses()[:1]
	tbl := buildTable(ings, nil, nil)
	for _, c := range []struct{ host, path string }{
		{"nomatch.org", "/x"},
		{"a.b.example.com", "/x"},
		{"unknown.org", "/ping/"},
	} {
		if r := tbl.lookup(c.host, c.path); r != nil {
			t.Errorf("lookup(%q, %q) = %q, want no route", c.host, c.path, routeService(r))
		}
	}
	if r := buildTable(nil, nil, nil).lookup("any.org", "/"); r != nil {
		t.Errorf("empty table matched %q", routeService(r))
	}
}

func TestTableSharesBackends(t *testing.T) {
	ing := ingressOf("default", "a", 0, api.IngressSpec{Rules: []api.IngressRule{
		rule("a.org", httpPath(prefix, "/x", "web")),
		rule("b.org", httpPath(prefix, "/y", "web")),
	}})
	tbl := buildTable([]*api.Ingress{ing}, nil, nil)
	a, b := tbl.lookup("a.org", "/x"), tbl.lookup("b.org", "/y")
	if a == nil || b == nil {
		t.Fatalf("routes missing: %v %v", a, b)
	}
	if a.backend != b.backend {
		t.Error("two routes to the same Service port got separate backends; round robin would not span them")
	}
	if tbl.routes != 2 {
		t.Errorf("routes = %d, want 2", tbl.routes)
	}
}

func TestPrefixMatch(t *testing.T) {
	cases := []struct {
		rule, path string
		want       bool
	}{
		{"/", "/", true},
		{"/", "/anything", true},
		{"/foo", "/foo", true},
		{"/foo", "/foo/", true},
		{"/foo", "/foo/bar", true},
		{"/foo", "/foobar", false},
		{"/foo/", "/foo", true},
		{"/foo/bar", "/foo", false},
		{"/foo/bar", "/foo/bar/baz", true},
		{"/foo/bar", "/foo/barbaz", false},
	}
	for _, c := range cases {
		if got := prefixMatch(prefixKey(c.rule), cleanPath(c.path)); got != c.want {
			t.Errorf("prefix %q on %q = %v, want %v", c.rule, c.path, got, c.want)
		}
	}
}

func routeService(r *route) string {
	if r == nil {
		return ""
	}
	return r.backend.service
}

func reversed(in []*api.Ingress) []*api.Ingress {
	out := slices.Clone(in)
	slices.Reverse(out)
	return out
}
