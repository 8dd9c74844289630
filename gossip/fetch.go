package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Paths of the internal API the agent mounts Handler on.
const (
	// PullPath answers a list of keys with their records.
	PullPath = "/shoal/v1/internal/records"
	// DigestPath answers bucket indexes with the versions of their keys.
	DigestPath = "/shoal/v1/internal/digest"
)

// Peer is the member a pull goes to, as membership knows it: pulls go
// only to live members, never to an address an announce or a push/pull
// state names.
type Peer struct {
	// Name is the member's node name.
	Name string
	// Addr is the member's gossip address (host:port) as memberlist knows it.
	Addr string
	// APIAddr is the URL of the member's API, from its metadata.
	APIAddr string
}

// Fetcher pulls from another member. Answers are bounded: MaxAnswer bytes
// for records, maxDigestAnswer bytes for a digest; a Fetcher refuses a
// larger answer without reading it all (ReadAnswer).
type Fetcher interface {
	// PullRecords returns the records (tombstones too) of those keys the
	// member has, in the order asked; it may stop early (MaxAnswer) and
	// is then asked again for the rest.
	PullRecords(ctx context.Context, p Peer, keys []string) ([]*Record, error)
	// PullDigest returns the version of every record in the given buckets,
	// the key space being split in buckets (see summary.go).
	PullDigest(ctx context.Context, p Peer, buckets int, which []int) ([]DigestEntry, error)
}

// ErrPeerStatus is returned when an agent answers a pull with an error.
var ErrPeerStatus = errors.New("gossip: peer refused the pull")

// ErrAnswerTooLarge is returned for an answer over its bound.
var ErrAnswerTooLarge = errors.New("gossip: answer over its size bound")

// MaxAnswer bounds a pull answer: pullBatch records of the largest size
// would not fit, so the answering agent stops before the bound and the
// puller asks again for the rest (servePull, pullAll).
const MaxAnswer = 16 << 20

// maxDigestAnswer and maxDigestEntries bound a digest answer; the puller
// asks for few enough buckets at a time (digestGroup).
const (
	maxDigestAnswer  = 16 << 20
	maxDigestEntries = 100_000
)

// ReadAnswer reads an answer of at most limit bytes; a larger one is
// refused (ErrAnswerTooLarge) after reading at most limit+1 bytes.
func ReadAnswer(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrAnswerTooLarge, limit)
	}
	return data, nil
}

// NewHTTPFetcher returns the Fetcher that POSTs to PullPath and DigestPath
// at the member's APIAddr.
func NewHTTPFetcher(client *http.Client) Fetcher {
	return NewFetcher(func(p Peer) string { return p.APIAddr }, func(Peer) *http.Client { return client })
}

// NewFetcher returns the Fetcher that POSTs to PullPath and DigestPath at
// the URL base returns for the member, with the client client returns for
// it (the agent: the member's gossip address, over mutual TLS that accepts
// only that member's certificate).
func NewFetcher(base func(Peer) string, client func(Peer) *http.Client) Fetcher {
	return &httpFetcher{base: base, client: client}
}

type httpFetcher struct {
	base   func(Peer) string
	client func(Peer) *http.Client
}

func (f *httpFetcher) PullRecords(ctx context.Context, p Peer, keys []string) ([]*Record, error) {
	body, err := f.post(ctx, p, PullPath, encodeKeys(keys), MaxAnswer)
	if err != nil {
		return nil, err
	}
	return decodeRecords(body, len(keys))
}

func (f *httpFetcher) PullDigest(ctx context.Context, p Peer, buckets int, which []int) ([]DigestEntry, error) {
	body, err := f.post(ctx, p, DigestPath, encodeDigestQuery(buckets, which), maxDigestAnswer)
	if err != nil {
		return nil, err
	}
	return decodeEntries(body, maxDigestEntries)
}

func (f *httpFetcher) post(ctx context.Context, p Peer, path string, body []byte, limit int64) ([]byte, error) {
	base := f.base(p)
	if base == "" {
		return nil, fmt.Errorf("pull from %s: the member has no address to pull from", p.Name)
	}
	url := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := f.client(p).Do(req)
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w: %s answered %s: %s", ErrPeerStatus, url, resp.Status, bytes.TrimSpace(msg))
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("pull from %s: %w: %d bytes announced, at most %d", url, ErrAnswerTooLarge, resp.ContentLength, limit)
	}
	data, err := ReadAnswer(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", url, err)
	}
	return data, nil
}
