package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxQuery bounds a pull or digest request body.
const maxQuery = 1 << 20

// Handler serves PullPath and DigestPath for the other agents' pulls. The
// agent mounts it on its API (both paths, or the /shoal/v1/internal/
// prefix). Bodies are binary (see httpwire.go).
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PullPath, c.servePull)
	mux.HandleFunc("POST "+DigestPath, c.serveDigest)
	return mux
}

func (c *Cluster) readQuery(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQuery))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}

func (c *Cluster) servePull(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readQuery(w, r)
	if !ok {
		return
	}
	keys, err := decodeKeys(body)
	if err != nil {
		c.malformed("pull request", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeBinary(w, c.answerPull(keys))
}

// answerPull encodes the records of keys it has, in the order asked, and
// stops before the answer would exceed MaxAnswer: the puller asks again
// for the keys after the last one answered (pullAll). A record over the
// size bound (persisted before the bound existed) is left out: no member
// would accept it.
func (c *Cluster) answerPull(keys []string) []byte {
	var body []byte
	n := 0
	for _, k := range keys {
		rec := c.store.Get(k)
		if rec == nil {
			continue
		}
		if len(rec.Value) > MaxValueSize || len(rec.Key) > MaxKeySize {
			c.log.Warn("not serving a record over the size bound", "key", clip(rec.Key), "bytes", len(rec.Value))
			continue
		}
		enc, _ := rec.MarshalBinary()
		if len(body)+len(enc)+2*binary.MaxVarintLen64+1 > MaxAnswer {
			break
		}
		body = binary.AppendUvarint(body, uint64(len(enc)))
		body = append(body, enc...)
		n++
	}
	out := binary.AppendUvarint([]byte{wireFormat}, uint64(n))
	return append(out, body...)
}

func (c *Cluster) serveDigest(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readQuery(w, r)
	if !ok {
		return
	}
	buckets, which, err := decodeDigestQuery(body)
	if err != nil {
		c.malformed("digest request", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	es := inBuckets(c.store, buckets, which)
	answer := encodeEntries(es)
	if len(es) > maxDigestEntries || len(answer) > maxDigestAnswer {
		// Never a truncated digest: the asker would take the keys left out
		// for keys this agent lacks.
		http.Error(w, fmt.Sprintf("a digest of %d entries (%d bytes) is over the bound (%d entries, %d bytes): ask for fewer buckets",
			len(es), len(answer), maxDigestEntries, maxDigestAnswer), http.StatusRequestEntityTooLarge)
		return
	}
	writeBinary(w, answer)
}

func writeBinary(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}
