package client

import "testing"

func TestParseWarning(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{in: `299 - "unknown field \"spec.foo\""`, want: `unknown field "spec.foo"`, ok: true},
		{in: `299 shoal "deprecated" "Wed, 21 Oct 2015 07:28:00 GMT"`, want: "deprecated", ok: true},
		{in: `299 - "back\\slash"`, want: `back\slash`, ok: true},
		{in: `299 - unquoted`, ok: false},
		{in: `299 - "unterminated`, ok: false},
		{in: `garbage`, ok: false},
	} {
		got, ok := parseWarning(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseWarning(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
