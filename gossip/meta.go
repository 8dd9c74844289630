package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/memberlist"
)

// NodeMeta is what an agent tells the others about itself in every alive
// message. It must encode within memberlist's 512 bytes: keep labels few.
type NodeMeta struct {
	// APIAddr is the URL of the agent's API (records are pulled from it).
	APIAddr string
	// Version is the agent's version.
	Version string
	// Labels are a few node labels.
	Labels map[string]string
	// Keys are short fingerprints of the gossip keys the agent has
	// installed, the one it encrypts with first: a key rotation proceeds
	// only once every member has the next key.
	Keys []string
	// CA is the short fingerprint of the CA that issued the agent's
	// certificate: a CA rotation completes once every member has moved.
	CA string
}

// ErrMetaTooLarge is returned by NewCluster for metadata that does not fit
// in an alive message.
var ErrMetaTooLarge = errors.New("gossip: node metadata too large")

const metaFormat = 2

// metaLeaving is set by Leave, so that peers report the member as left
// rather than dead once it is gone (memberlist does not tell them).
const metaLeaving = 1

// encodeMeta writes format, flags, API address, version, then the labels
// sorted by key.
func encodeMeta(m NodeMeta, leaving bool) ([]byte, error) {
	var flags byte
	if leaving {
		flags |= metaLeaving
	}
	b := []byte{metaFormat, flags}
	b = appendString(b, m.APIAddr)
	b = appendString(b, m.Version)
	b = binary.AppendUvarint(b, uint64(len(m.Labels)))
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		b = appendString(b, k)
		b = appendString(b, m.Labels[k])
	}
	b = binary.AppendUvarint(b, uint64(len(m.Keys)))
	for _, k := range m.Keys {
		b = appendString(b, k)
	}
	b = appendString(b, m.CA)
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, at most %d", ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func decodeMeta(buf []byte) (m NodeMeta, leaving bool, err error) {
	if len(buf) < 2 || buf[0] != metaFormat {
		return m, false, fmt.Errorf("%w: unknown metadata format", ErrMalformed)
	}
	leaving = buf[1]&metaLeaving != 0
	rd := reader{b: buf[2:]}
	m.APIAddr = rd.str()
	m.Version = rd.str()
	if n := rd.count(2); n > 0 {
		m.Labels = make(map[string]string, n)
		for range n {
			k := rd.str()
			m.Labels[k] = rd.str()
		}
	}
	if n := rd.count(1); n > 0 {
		m.Keys = make([]string, n)
		for i := range m.Keys {
			m.Keys[i] = rd.str()
		}
	}
	m.CA = rd.str()
	return m, leaving, rd.end()
}
