package gossip

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Nothing received is trusted. Every record that comes from elsewhere (a
// gossip message, a pull of an announced record, an anti-entropy pull, and
// the tombstones anti-entropy makes to forget) passes two checks before the
// store sees it:
//
//   - checkRecord, here: the structure every record has (a bounded key of
//     printable ASCII, a bounded value, no value in a tombstone, a writer
//     that is a node name, a version within the clock bound);
//   - ClusterConfig.Validate, the agent's: what the key and value mean (for
//     objects, Objects.ValidateRecord: the key's grammar, the kind, and the
//     same defaulting and validation an API write gets).
//
// A refused record is counted (Stats.Refused) and logged, rate-limited,
// with its writer and key, never its value.

// Bounds of one record. MaxValueSize holds the largest object the API
// accepts (1 MiB of ConfigMap or Secret data, 256 KiB of annotations and the
// rest of the object, base64 and JSON escaping included: about 1.7 MB, see
// TestLargestObjectsFitTheRecordBound); local writes are held to it too, so
// that every record written can be replicated.
const (
	MaxKeySize   = 1024
	MaxValueSize = 2 << 20
)

// maxNodeName is the longest DNS-1123 subdomain.
const maxNodeName = 253

// ErrInvalidRecord is wrapped by every refusal of a record's structure.
var ErrInvalidRecord = errors.New("gossip: invalid record")

// ErrFutureVersion is wrapped by the refusal of a version (or horizon)
// beyond this agent's clock plus the maximum offset.
var ErrFutureVersion = errors.New("gossip: version beyond this agent's clock plus the maximum offset")

// checkRecord checks the structure of a record received from elsewhere;
// bound is the newest version time accepted (Clock.Bound).
func checkRecord(r *Record, bound uint64) error {
	if err := checkKey(r.Key); err != nil {
		return err
	}
	switch {
	case len(r.Value) > MaxValueSize:
		return fmt.Errorf("%w: a value of %d bytes, at most %d", ErrInvalidRecord, len(r.Value), MaxValueSize)
	case r.Deleted && len(r.Value) > 0:
		return fmt.Errorf("%w: a tombstone with a value", ErrInvalidRecord)
	}
	return checkVersion(r.Version, bound)
}

// checkKey: non-empty, bounded, printable ASCII without spaces (keys are
// made of names), so that no key can garble a log line or a path.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: an empty key", ErrInvalidRecord)
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: a key of %d bytes, at most %d", ErrInvalidRecord, len(key), MaxKeySize)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: byte %#x at %d of the key is not printable ASCII", ErrInvalidRecord, c, i)
		}
	}
	return nil
}

// checkVersion: written by a node name, at a time that is set and not
// beyond bound.
func checkVersion(v Version, bound uint64) error {
	if err := checkNodeName(v.Node); err != nil {
		return fmt.Errorf("%w: writer: %w", ErrInvalidRecord, err)
	}
	if v.Time == 0 {
		return fmt.Errorf("%w: a version without a time", ErrInvalidRecord)
	}
	if v.Time > bound {
		return fmt.Errorf("%w: stamped %s, accepted up to %s", ErrFutureVersion, stampString(v.Time), stampString(bound))
	}
	return nil
}

func stampString(ts uint64) string { return TimeOf(ts).UTC().Format(time.RFC3339Nano) }

// checkNodeName checks a DNS-1123 subdomain (as api.IsDNS1123Subdomain,
// which gossip does not import): lower-case alphanumeric labels, '-'
// inside them, joined by '.', at most 253 characters.
func checkNodeName(s string) error {
	if s == "" || len(s) > maxNodeName {
		return fmt.Errorf("%d characters is not a node name (1 to %d)", len(s), maxNodeName)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a node name (a DNS-1123 subdomain)", s)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a node name (a DNS-1123 subdomain)", s)
			}
		}
	}
	return nil // s is at most 253 bytes: quoting it above is bounded
}

// RecordValidators checks records by the first segment of their key: the
// prefix up to and including the first '/' ("o/", "s/", "x/"). A key
// whose prefix has no validator is refused, so a new kind of record is
// never accepted from elsewhere before someone decided how to check it.
type RecordValidators map[string]func(*Record) error

// Validate is ClusterConfig.Validate for the registered prefixes.
func (v RecordValidators) Validate(r *Record) error {
	i := strings.IndexByte(r.Key, '/')
	if i < 0 {
		return fmt.Errorf("%w: the key has no prefix", ErrInvalidRecord)
	}
	fn, ok := v[r.Key[:i+1]]
	if !ok {
		return fmt.Errorf("%w: no record is accepted under the prefix %q", ErrInvalidRecord, r.Key[:i+1])
	}
	return fn(r)
}

// admit returns the records that pass both checks, counting and logging
// the others; via says where they came from (a member's name, "gossip").
func (c *Cluster) admit(recs []*Record, via string) []*Record {
	if len(recs) == 0 {
		return nil
	}
	bound := c.store.Clock().Bound()
	out := make([]*Record, 0, len(recs))
	for _, r := range recs {
		err := checkRecord(r, bound)
		if err == nil {
			err = validateSafely(c.cfg.Validate, r)
		}
		if err != nil {
			c.refuse("record", r.Version.Node, via, r.Key, err)
			continue
		}
		out = append(out, r)
	}
	return out
}

// validateSafely runs a validator on input from elsewhere; a panic (a bug
// the input found) refuses the record instead of stopping the agent.
func validateSafely(validate func(*Record) error, r *Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: the validator failed on it: %v", ErrInvalidRecord, p)
		}
	}()
	return validate(r)
}

// refuse counts and (rate-limited per writer or sender) logs what was
// refused: a record (by its writer and key, never its value), a state,
// an answer.
func (c *Cluster) refuse(what, writer, via, key string, err error) {
	c.stats.refused.Add(1)
	c.noteRefusal(writer, err)
	// Limited per source (a member, or gossip), never per writer: writers
	// are whatever the input claims, and each key costs the limiter memory.
	if ok, suppressed := c.limiter.allow("refused/" + via); ok {
		c.log.Warn("refused replicated input", "what", what, "writer", clip(writer), "via", via, "key", clip(key),
			"err", err, "suppressed", suppressed)
	}
}

// clip shortens what a log line quotes from untrusted input.
func clip(s string) string {
	const limit = 256
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// CheckRecord applies the structural checks every received record passes
// (key, size, writer, version within bound) to r.
func CheckRecord(r *Record, bound uint64) error { return checkRecord(r, bound) }
