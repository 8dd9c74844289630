package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// keyFor is the queue key of a namespaced object.
func keyFor(ns, name string) string { return ns + "/" + name }

// keyOf is the queue key of obj.
func keyOf(obj api.Object) string {
	m := obj.GetObjectMeta()
	return keyFor(m.Namespace, m.Name)
}

// splitKey undoes keyFor.
func splitKey(key string) (ns, name string) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return "", key
	}
	return ns, name
}

// deepCopy copies v through JSON, the one representation every api type
// round-trips through exactly.
func deepCopy[T any](v T) (T, error) {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, fmt.Errorf("copy %T: %w", v, err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("copy %T: %w", v, err)
	}
	return out, nil
}

// jsonEqual compares two values as they would be stored.
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// isControlledBy reports whether obj's controller reference points at the
// owner with this uid.
func isControlledBy(obj api.Object, uid string) bool {
	ref := obj.GetObjectMeta().ControllerRef()
	return ref != nil && ref.UID == uid
}

// replicasOf reads a defaulted replica count.
func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}
