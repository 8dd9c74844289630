package auth

import (
	"context"
	"fmt"
	"reflect"

	"github.com/shoal-dev/shoal/api"
)

// Store is the part of the object store EnsureBuiltins writes through.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
}

// EnsureBuiltins creates the built-in roles and bindings that are missing,
// and brings back to their definition those that carry the bootstrapping
// label but were changed (as Kubernetes reconciles its default roles).
func EnsureBuiltins(ctx context.Context, st Store) error {
	for _, r := range BuiltinClusterRoles() {
		if err := ensure(ctx, st, r, func(cur api.Object) bool {
			c := cur.(*api.ClusterRole)
			if reflect.DeepEqual(c.Rules, r.Rules) {
				return false
			}
			c.Rules = r.Rules
			return true
		}); err != nil {
			return err
		}
	}
	for _, b := range BuiltinClusterRoleBindings() {
		if err := ensure(ctx, st, b, func(cur api.Object) bool {
			c := cur.(*api.ClusterRoleBinding)
			if reflect.DeepEqual(c.Subjects, b.Subjects) && c.RoleRef == b.RoleRef {
				return false
			}
			c.Subjects, c.RoleRef = b.Subjects, b.RoleRef
			return true
		}); err != nil {
			return err
		}
	}
	return nil
}

// ensure creates obj if absent; if present and still labelled as built in,
// reconcile changes it back (reporting whether it did).
func ensure(ctx context.Context, st Store, obj api.Object, reconcile func(cur api.Object) bool) error {
	k := api.KindOf(obj)
	m := obj.GetObjectMeta()
	cur, err := st.Get(ctx, k, m.Namespace, m.Name)
	switch {
	case api.IsNotFound(err):
		if _, err := st.Create(ctx, obj); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("built-in %s %s: %w", k.Kind, m.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("built-in %s %s: %w", k.Kind, m.Name, err)
	}
	if cur.GetObjectMeta().Labels[LabelBootstrap] == "" || !reconcile(cur) {
		return nil
	}
	if _, err := st.Update(ctx, cur); err != nil && !api.IsConflict(err) {
		return fmt.Errorf("built-in %s %s: %w", k.Kind, m.Name, err)
	}
	return nil
}
