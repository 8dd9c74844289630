package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is returned for a gossip message, state or request body that
// cannot be decoded. Such input is dropped and counted, never fatal.
var ErrMalformed = errors.New("gossip: malformed message")

// Message types: the first byte of every user message and push/pull state.
// Values are part of the protocol: only append.
const (
	msgRecord byte = 1 // a whole record, small enough for one packet
	// 2 and 3 were the announce and the state naming an address to pull
	// from; their receivers now refuse them as malformed.
	// 4 was the announce without the content's sum.
	msgState    byte = 5 // anti-entropy summary exchanged by push/pull
	msgAnnounce byte = 6 // key, version and content sum of a record to pull from the member that has it
)

// wireFormat versions the HTTP bodies of pulls and digests (2: digest
// entries carry the content sum).
const wireFormat = 2

// maxInline is the largest encoded record message sent whole. A gossip
// packet is 1400 bytes (memberlist's UDPBufferSize) and membership messages
// share it; larger records are announced and pulled over HTTP.
const maxInline = 1000

// announce tells that the member named From holds Key at Version, with
// the content whose Record.Sum is Sum. It names a member, never an
// address: the puller resolves the name through membership and pulls only
// from a live member.
type announce struct {
	Key     string
	Version Version
	Sum     uint64
	From    string
}

// message is one decoded user message: a record or an announce.
type message struct {
	rec *Record
	ann *announce
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeRecordMsg(r *Record) []byte {
	body, _ := r.MarshalBinary() // never fails
	return append([]byte{msgRecord}, body...)
}

func encodeAnnounce(a announce) []byte {
	b := []byte{msgAnnounce}
	b = binary.AppendUvarint(b, a.Version.Time)
	b = appendString(b, a.Version.Node)
	b = binary.LittleEndian.AppendUint64(b, a.Sum)
	b = appendString(b, a.Key)
	return appendString(b, a.From)
}

// decodeMessage decodes a user message; the result shares no memory with
// buf, which memberlist reuses after the delegate returns.
func decodeMessage(buf []byte) (message, error) {
	if len(buf) == 0 {
		return message{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	switch buf[0] {
	case msgRecord:
		r := &Record{}
		if err := r.UnmarshalBinary(buf[1:]); err != nil {
			return message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return message{rec: r}, nil
	case msgAnnounce:
		rd := reader{b: buf[1:]}
		a := &announce{}
		a.Version.Time = rd.uvarint()
		a.Version.Node = rd.str()
		a.Sum = rd.uint64()
		a.Key = rd.str()
		a.From = rd.str()
		if err := rd.end(); err != nil {
			return message{}, err
		}
		return message{ann: a}, nil
	}
	return message{}, fmt.Errorf("%w: unknown type %d", ErrMalformed, buf[0])
}

// reader decodes untrusted bytes; the first error sticks and later reads
// return zero values, so decoders check once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", ErrMalformed, what)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of items that each take at least min bytes, so a
// forged count cannot make the caller allocate more than the input allows.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail("count")
		return 0
	}
	return int(n)
}

func (r *reader) raw(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail("length")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.raw(r.uvarint())) }

func (r *reader) byte() byte {
	v := r.raw(1)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func (r *reader) uint64() uint64 {
	v := r.raw(8)
	if len(v) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}

// end reports the first error, or trailing bytes.
func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: trailing bytes", ErrMalformed)
	}
	return r.err
}
