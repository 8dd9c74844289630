package clienttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/shoal-dev/shoal/api"
)

func toMap(o any) (map[string]any, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func fromMap(m map[string]any, out any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// copyField sets the top-level JSON field of dst to that of src.
func copyField(dst, src api.Object, field string) error {
	d, err := toMap(dst)
	if err != nil {
		return err
	}
	s, err := toMap(src)
	if err != nil {
		return err
	}
	if v, ok := s[field]; ok {
		d[field] = v
	} else {
		delete(d, field)
	}
	return fromMap(d, dst)
}

func clone(k *api.Kind, o api.Object) (api.Object, error) {
	m, err := toMap(o)
	if err != nil {
		return nil, err
	}
	out := k.New()
	if err := fromMap(m, out); err != nil {
		return nil, err
	}
	return out, nil
}

// mergePatch applies an RFC 7386 JSON merge patch to o.
func mergePatch(o any, patch []byte) ([]byte, error) {
	doc, err := toMap(o)
	if err != nil {
		return nil, err
	}
	var p any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("the merge patch is not JSON: %v", err)
	}
	pm, ok := p.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the merge patch must be a JSON object")
	}
	return json.Marshal(merge(doc, pm))
}

func merge(doc, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(doc, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			dm, _ := doc[k].(map[string]any)
			doc[k] = merge(dm, pm)
			continue
		}
		doc[k] = v
	}
	return doc
}

// firstGeneration is 1 for kinds with a spec and 0 for the others, as the
// agent's store sets metadata.generation at creation.
func firstGeneration(o api.Object) int64 {
	if _, ok := reflect.ValueOf(o).Elem().Type().FieldByName("Spec"); ok {
		return 1
	}
	return 0
}

// nextGeneration is cur's generation, plus one when obj's spec differs from
// cur's: rollout status relies on it to know a change was observed.
func nextGeneration(cur, obj api.Object) int64 {
	g := cur.GetObjectMeta().Generation
	a, errA := toMap(cur)
	b, errB := toMap(obj)
	if errA != nil || errB != nil {
		return g
	}
	ja, _ := json.Marshal(a["spec"])
	jb, _ := json.Marshal(b["spec"])
	if !bytes.Equal(ja, jb) {
		g++
	}
	return g
}
