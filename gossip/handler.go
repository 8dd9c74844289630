package gossip

import (
	"errors"
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
	recs := make([]*Record, 0, len(keys))
	for _, k := range keys {
		if rec := c.store.Get(k); rec != nil {
			recs = append(recs, rec)
		}
	}
	writeBinary(w, encodeRecords(recs))
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
	writeBinary(w, encodeEntries(inBuckets(c.store, buckets, which)))
}

func writeBinary(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}
