package ingress

import (
	"cmp"
	"slices"

	"github.com/shoal-dev/shoal/api"
)

// buildTable merges every Ingress into one routing table, resolving each
// backend to the ready endpoints of its Service. It is a pure function of its
// inputs, which it does not modify.
func buildTable(ings []*api.Ingress, svcs map[string]*api.Service, eps map[string]*api.Endpoints) *table {
	b := &builder{
		t:        &table{hosts: map[string]*pathSet{}, wildcards: map[string]*pathSet{}},
		svcs:     svcs,
		eps:      eps,
		backends: map[backendKey]*backend{},
	}
	// Earlier Ingresses win conflicts, so they are added first and later
	// duplicates are dropped.
	ordered := slices.Clone(ings)
	slices.SortFunc(ordered, byPrecedence)
	for _, ing := range ordered {
		b.addIngress(ing)
	}
	for _, ps := range b.sets {
		// Stable: among equal prefixes the older Ingress stays first.
		slices.SortStableFunc(ps.prefix, func(a, b *route) int { return len(b.prefix) - len(a.prefix) })
	}
	return b.t
}

// byPrecedence orders Ingresses oldest first, then by namespace and name.
func byPrecedence(a, b *api.Ingress) int {
	return cmp.Or(
		a.CreationTimestamp.Compare(b.CreationTimestamp.Time),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}

type builder struct {
	t        *table
	svcs     map[string]*api.Service
	eps      map[string]*api.Endpoints
	backends map[backendKey]*backend // shared so that round robin spans routes
	sets     []*pathSet
}

func (b *builder) addIngress(ing *api.Ingress) {
	id := ing.Namespace + "/" + ing.Name
	if db := ing.Spec.DefaultBackend; db != nil && db.Service != nil && b.t.fallback == nil {
		b.t.fallback = &route{ingress: id, pathType: api.PathTypePrefix, backend: b.backend(ing.Namespace, db.Service)}
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		ps := b.pathSet(rule.Host)
		if ps == nil {
			continue
		}
		for _, hp := range rule.HTTP.Paths {
			if hp.Backend.Service == nil {
				continue // resource backends are not supported
			}
			r := &route{ingress: id, path: hp.Path, pathType: api.PathTypePrefix,
				backend: b.backend(ing.Namespace, hp.Backend.Service)}
			if hp.PathType == api.PathTypeExact {
				r.pathType = api.PathTypeExact
			}
			b.add(ps, r)
		}
	}
}

// add keeps the first route for a path and type: the one of the older Ingress.
func (b *builder) add(ps *pathSet, r *route) {
	if r.pathType == api.PathTypeExact {
		p := cleanPath(r.path)
		if _, taken := ps.exact[p]; !taken {
			ps.exact[p] = r
			b.t.routes++
		}
		return
	}
	r.prefix = prefixKey(r.path)
	for _, o := range ps.prefix {
		if o.prefix == r.prefix {
			return
		}
	}
	ps.prefix = append(ps.prefix, r)
	b.t.routes++
}

// pathSet returns the set of a rule host, creating it; nil for a host no
// request can match.
func (b *builder) pathSet(host string) *pathSet {
	precise, wildcard, ok := ruleHost(host)
	switch {
	case !ok:
		return nil
	case wildcard != "":
		return b.setIn(b.t.wildcards, wildcard)
	case precise != "":
		return b.setIn(b.t.hosts, precise)
	}
	if b.t.anyHost == nil {
		b.t.anyHost = b.newSet()
	}
	return b.t.anyHost
}

func (b *builder) setIn(m map[string]*pathSet, key string) *pathSet {
	ps := m[key]
	if ps == nil {
		ps = b.newSet()
		m[key] = ps
	}
	return ps
}

func (b *builder) newSet() *pathSet {
	ps := &pathSet{exact: map[string]*route{}}
	b.sets = append(b.sets, ps)
	return ps
}
