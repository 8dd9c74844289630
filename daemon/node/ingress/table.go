package ingress

import "strings"

// table is one immutable snapshot of the routing. Run builds a new one on
// every change that matters and swaps it in whole, so requests read it
// without a lock.
type table struct {
	hosts     map[string]*pathSet // precise host -> its paths
	wildcards map[string]*pathSet // ".example.com" for "*.example.com"
	anyHost   *pathSet            // rules without a host
	fallback  *route              // defaultBackend of the oldest Ingress having one
	routes    int                 // paths kept, for logs
}

// pathSet holds the paths of one host, merged over every Ingress.
type pathSet struct {
	exact  map[string]*route // cleaned path -> route
	prefix []*route          // longest first; equal prefixes: older Ingress first
}

// route is one path of one Ingress rule.
type route struct {
	ingress  string // namespace/name, for logs
	path     string // as written
	pathType string // PathTypeExact or PathTypePrefix
	prefix   string // prefixKey(path) for Prefix routes
	backend  *backend
}

// lookup finds the route of a request, or nil when none matches and there
// is no defaultBackend.
func (t *table) lookup(host, reqPath string) *route {
	h, p := requestHost(host), cleanPath(reqPath)
	if r := t.hosts[h].match(p); r != nil {
		return r
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		if r := t.wildcards[h[i:]].match(p); r != nil {
			return r
		}
	}
	if r := t.anyHost.match(p); r != nil {
		return r
	}
	return t.fallback
}

// match works on a nil set so that lookup needs no presence checks.
func (ps *pathSet) match(p string) *route {
	if ps == nil {
		return nil
	}
	if r := ps.exact[p]; r != nil {
		return r
	}
	for _, r := range ps.prefix {
		if prefixMatch(r.prefix, p) {
			return r
		}
	}
	return nil
}
