package ingress

import (
	"github.com/shoal-dev/shoal/api"
)

// kinds are what the routing table and the certificates are built from.
var kinds = []*api.Kind{api.KindIngress, api.KindService, api.KindEndpoints, api.KindSecret}

// update is one change from a kind's list or watch.
type update struct {
	kind *api.Kind
	full bool         // list replaces every object of the kind
	list []api.Object // with full
	ev   api.WatchEvent
}

// state is Run's own copy of the objects, keyed "namespace/name". Only the
// goroutine that builds tables touches it.
type state struct {
	ingresses map[string]*api.Ingress
	services  map[string]*api.Service
	endpoints map[string]*api.Endpoints
	secrets   map[string]tlsSecret // type, and the key pair of kubernetes.io/tls ones
	listed    map[*api.Kind]bool
	refs      map[string]bool // Services some Ingress names
	tlsRefs   map[string]bool // Secrets some Ingress's spec.tls names
	// certsDirty: an Ingress or a Secret it names changed since the
	// certificates were last built.
	certsDirty bool
}

func newState() *state {
	return &state{
		ingresses: map[string]*api.Ingress{},
		services:  map[string]*api.Service{},
		endpoints: map[string]*api.Endpoints{},
		secrets:   map[string]tlsSecret{},
		listed:    map[*api.Kind]bool{},
		refs:      map[string]bool{},
		tlsRefs:   map[string]bool{},
	}
}

// apply records the update and reports whether it can change the table: a
// Service or Endpoints no Ingress names cannot, and endpoints churn all over
// a cluster.
func (s *state) apply(u update) bool {
	if u.full {
		s.listed[u.kind] = true
	}
	switch u.kind {
	case api.KindIngress:
		applyTo(s.ingresses, u)
		s.refs = referenced(s.ingresses)
		s.tlsRefs = tlsReferenced(s.ingresses)
		s.certsDirty = true
		return true
	case api.KindSecret:
		key := applySecret(s.secrets, u)
		changed := u.full || s.tlsRefs[key]
		s.certsDirty = s.certsDirty || changed
		return changed
	case api.KindService:
		key := applyTo(s.services, u)
		return u.full || s.refs[key]
	case api.KindEndpoints:
		key := applyTo(s.endpoints, u)
		return u.full || s.refs[key]
	}
	return false
}

func (s *state) synced() bool { return len(s.listed) == len(kinds) }

func (s *state) ingressList() []*api.Ingress {
	out := make([]*api.Ingress, 0, len(s.ingresses))
	for _, ing := range s.ingresses {
		out = append(out, ing)
	}
	return out
}

// applyTo puts a list or an event into m and returns the key an event
// touched ("" for lists and objects of another type).
func applyTo[T api.Object](m map[string]T, u update) string {
	if u.full {
		clear(m)
		for _, o := range u.list {
			if t, ok := o.(T); ok {
				m[keyOf(t)] = t
			}
		}
		return ""
	}
	t, ok := u.ev.Object.(T)
	if !ok {
		return ""
	}
	key := keyOf(t)
	if u.ev.Type == api.Deleted {
		delete(m, key)
	} else {
		m[key] = t
	}
	return key
}

// applySecret is applyTo for Secrets, which are kept reduced.
func applySecret(m map[string]tlsSecret, u update) string {
	if u.full {
		clear(m)
		for _, o := range u.list {
			if s, ok := o.(*api.Secret); ok {
				m[keyOf(s)] = reduceSecret(s)
			}
		}
		return ""
	}
	s, ok := u.ev.Object.(*api.Secret)
	if !ok {
		return ""
	}
	key := keyOf(s)
	if u.ev.Type == api.Deleted {
		delete(m, key)
	} else {
		m[key] = reduceSecret(s)
	}
	return key
}

// tlsReferenced are the Secrets the Ingresses' spec.tls name.
func tlsReferenced(ings map[string]*api.Ingress) map[string]bool {
	refs := map[string]bool{}
	for _, ing := range ings {
		for _, t := range ing.Spec.TLS {
			if t.SecretName != "" {
				refs[ing.Namespace+"/"+t.SecretName] = true
			}
		}
	}
	return refs
}

func keyOf(o api.Object) string {
	m := o.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

func referenced(ings map[string]*api.Ingress) map[string]bool {
	refs := map[string]bool{}
	add := func(ns string, b *api.IngressBackend) {
		if b != nil && b.Service != nil {
			refs[ns+"/"+b.Service.Name] = true
		}
	}
	for _, ing := range ings {
		add(ing.Namespace, ing.Spec.DefaultBackend)
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for i := range r.HTTP.Paths {
				add(ing.Namespace, &r.HTTP.Paths[i].Backend)
			}
		}
	}
	return refs
}
