package ingress

import (
	"context"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// Source is what the proxy needs of the replicated object store;
// *registry.Registry satisfies it.
type Source interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
}

// maxBatch bounds the updates folded into one rebuild, so that a steady
// stream of changes still produces tables.
const maxBatch = 1024

// Run follows the Ingresses, Services and Endpoints of src and keeps the
// routing table current until ctx ends; then it waits for the goroutines it
// started and returns nil. The last table stays in place.
func (p *Proxy) Run(ctx context.Context, src Source) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer p.running.Store(false)
	updates := make(chan update)
	var wg sync.WaitGroup
	for _, k := range kinds {
		wg.Go(func() { p.follow(ctx, src, k, updates) })
	}
	p.rebuild(ctx, updates)
	wg.Wait()
	return nil
}

// rebuild owns the state: it applies updates and installs a new table after
// every batch that changed something, once every kind has been listed.
func (p *Proxy) rebuild(ctx context.Context, in <-chan update) {
	st := newState()
	certs := &certBuilder{cache: map[string]parsedCert{}}
	for {
		var changed bool
		select {
		case <-ctx.Done():
			return
		case u := <-in:
			changed = st.apply(u)
		}
		// Fold in what is already queued so that a burst costs one build.
	drain:
		for range maxBatch {
			select {
			case u := <-in:
				changed = st.apply(u) || changed
			default:
				break drain
			}
		}
		if changed && st.synced() {
			p.install(st)
			if st.certsDirty {
				p.installCerts(st, certs)
				st.certsDirty = false
			}
		}
	}
}

// certBuilder is what rebuild keeps between certificate builds: parsed
// key pairs, and the problems already reported.
type certBuilder struct {
	cache    map[string]parsedCert
	reported map[certProblem]bool
}

// installCerts builds the certificates of the Ingresses' spec.tls and
// swaps them in; a host left to the default certificate is logged once,
// with the Ingress, the Secret and why, never the Secret's data.
func (p *Proxy) installCerts(st *state, b *certBuilder) {
	t, problems := buildCerts(st.ingressList(), st.secrets, b.cache)
	p.certs.Store(t)
	now := make(map[certProblem]bool, len(problems))
	for _, pr := range problems {
		now[pr] = true
		if !b.reported[pr] {
			p.log.Warn("ingress host served with the default certificate", "ingress", pr.ingress,
				"secret", pr.secret, "host", pr.host, "reason", pr.reason)
		}
	}
	b.reported = now
	p.log.Debug("ingress certificates updated", "hosts", t.hosts(), "problems", len(problems))
}

func (p *Proxy) install(st *state) {
	t := buildTable(st.ingressList(), st.services, st.endpoints)
	if p.table.Swap(t) == nil {
		p.log.Info("ingress routes loaded", "ingresses", len(st.ingresses), "routes", t.routes)
		return
	}
	p.log.Debug("ingress routes updated", "ingresses", len(st.ingresses), "routes", t.routes)
}
