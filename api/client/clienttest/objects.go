package clienttest

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/shoal-dev/shoal/api"
)

// Add stores objects as a controller or another agent would have written
// them: through the registry (defaulting, validation, admission), with the
// status they carry, and created at their creationTimestamp when they have
// one, so that ages print as the test means (the registry's clock reads
// that time while Add runs: seed before the requests under test, not while
// they run). The namespaces they need are
// made; an object that exists is replaced; a pod with a deletionTimestamp
// is then deleted gracefully (bound to a node, it stays Terminating for
// PodTermination). What the server sets (uid, resourceVersion, generation)
// is filled into the objects given, so a test can refer to an owner's uid.
func (s *Server) Add(objs ...api.Object) {
	s.tb.Helper()
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	for _, o := range objs {
		if err := s.add(o); err != nil {
			s.tb.Errorf("clienttest: adding %s %q: %v", api.KindOf(o).Kind, o.GetObjectMeta().Name, err)
		}
	}
}

func (s *Server) add(obj api.Object) error {
	k := api.KindOf(obj)
	m := obj.GetObjectMeta()
	if !k.Namespaced {
		m.Namespace = ""
	} else if m.Namespace == "" {
		m.Namespace = "default"
	}
	if k.Namespaced {
		if err := s.ensureNamespace(m.Namespace); err != nil {
			return err
		}
	}
	given, err := clone(obj)
	if err != nil {
		return err
	}
	if t := m.CreationTimestamp; !t.IsZero() {
		s.seedAt.Store(&t.Time)
		defer s.seedAt.Store(nil)
	}
	out, err := s.reg.Create(s.ctx, obj)
	if api.IsAlreadyExists(err) {
		m.UID, m.ResourceVersion = "", ""
		out, err = s.reg.Update(s.ctx, obj)
	}
	if err != nil {
		return err
	}
	if k.HasStatus && !statusOf(given).IsZero() {
		st, err := clone(out)
		if err != nil {
			return err
		}
		statusOf(st).Set(statusOf(given))
		if out, err = s.reg.UpdateStatus(s.ctx, st); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	}
	if given.GetObjectMeta().DeletionTimestamp != nil {
		if _, err := s.reg.Delete(s.ctx, k, m.Namespace, m.Name, api.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		if out, err = s.reg.Get(s.ctx, k, m.Namespace, m.Name); api.IsNotFound(err) {
			return nil // not bound to a node: gone at once
		} else if err != nil {
			return err
		}
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(out).Elem())
	return nil
}

func (s *Server) ensureNamespace(name string) error {
	_, err := s.reg.Get(s.ctx, api.KindNamespace, "", name)
	if api.IsNotFound(err) {
		_, err = s.reg.Create(s.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}})
		if api.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	return nil
}

// Update changes a stored object as a controller or a node would (a
// status, say): mutate gets the current object, and what it changed is
// written, metadata and spec through the registry's update (which keeps
// metadata.generation its own: one more for each change of the spec), the
// status through the status subresource. It reports whether the object
// exists.
func (s *Server) Update(k *api.Kind, ns, name string, mutate func(api.Object)) bool {
	s.tb.Helper()
	for attempt := 0; ; attempt++ {
		cur, err := s.reg.Get(s.ctx, k, ns, name)
		if api.IsNotFound(err) {
			return false
		}
		if err == nil {
			mutate(cur)
			var st api.Object
			if st, err = clone(cur); err == nil {
				_, err = s.reg.Update(s.ctx, cur)
			}
			if api.IsConflict(err) && attempt < 10 {
				continue // a request changed it meanwhile: mutate the new state
			}
			if err == nil && k.HasStatus {
				_, err = s.reg.UpdateStatus(s.ctx, st)
			}
		}
		if err != nil {
			s.tb.Errorf("clienttest: updating %s %s/%s: %v", k.Kind, ns, name, err)
		}
		return true
	}
}

// Remove deletes an object at once, as a grace period of 0 does.
func (s *Server) Remove(k *api.Kind, ns, name string) {
	s.tb.Helper()
	_, err := s.reg.Delete(s.ctx, k, ns, name, api.DeleteOptions{GracePeriodSeconds: api.Int64(0)})
	if err != nil && !api.IsNotFound(err) {
		s.tb.Errorf("clienttest: removing %s %s/%s: %v", k.Kind, ns, name, err)
	}
}

// Object returns a stored object, or nil.
func (s *Server) Object(k *api.Kind, ns, name string) api.Object {
	o, err := s.reg.Get(s.ctx, k, ns, name)
	if err != nil {
		return nil
	}
	return o
}

// clone copies an object through JSON, as a store would.
func clone(o api.Object) (api.Object, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	out := api.KindOf(o).NewObject()
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// statusOf is the Status field of an object of a kind with a status.
func statusOf(o api.Object) reflect.Value { return reflect.ValueOf(o).Elem().FieldByName("Status") }
