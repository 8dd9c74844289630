package runtime

import "fmt"

// A pod's uid and a volume's name become parts of host paths under the data
// dir. They come from the replicated store (and, for orphans, from container
// labels), so they are checked before use: a uid "../../x" must never make
// the runner create or remove anything outside the data dir.

// maxPathToken bounds a uid or name used as one path component.
const maxPathToken = 64

// checkPathToken accepts a plain token of [a-z0-9-], such as a pod uid (a
// UUID) or a volume name (a DNS label): no "/", no "..", nothing else.
func checkPathToken(what, s string) error {
	if s == "" || len(s) > maxPathToken {
		return fmt.Errorf("%s %q: must be 1 to %d characters", what, s, maxPathToken)
	}
	if s[0] == '-' {
		return fmt.Errorf("%s %q: must not start with '-'", what, s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%s %q: may hold only lower case letters, digits and '-'", what, s)
		}
	}
	return nil
}

// escapeError is a path that leads out of its root.
type escapeError struct{ rel, why string }

func (e *escapeError) Error() string { return fmt.Sprintf("%q escapes its volume: %s", e.rel, e.why) }
