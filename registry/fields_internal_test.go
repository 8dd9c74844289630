package registry

import (
	"encoding/json"
	"testing"
)

// canonical's fast paths write what json.Marshal writes.
func TestCanonicalIsJSONMarshal(t *testing.T) {
	for _, v := range []any{nil, true, false, json.Number("12"), json.Number("-1.5e3"), "", "plain text", "a<b", "q\"uote", "back\\slash",
		"tab\there", "é", "\u2028", "&amp;", map[string]any{"b": "1", "a": []any{"x", json.Number("2")}}, []any{}} {
		want, _ := json.Marshal(v)
		if got := canonical(v); string(got) != string(want) {
			t.Errorf("canonical(%#v) = %s; json.Marshal writes %s", v, got, want)
		}
	}
}
