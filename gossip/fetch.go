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

// Fetcher pulls from another agent's API (apiAddr is its Meta.APIAddr).
type Fetcher interface {
	// PullRecords returns the records (tombstones too) of those keys the
	// agent has.
	PullRecords(ctx context.Context, apiAddr string, keys []string) ([]*Record, error)
	// PullDigest returns the version of every record in the given buckets,
	// the key space being split in buckets (see summary.go).
	PullDigest(ctx context.Context, apiAddr string, buckets int, which []int) ([]DigestEntry, error)
}

// ErrPeerStatus is returned when an agent answers a pull with an error.
var ErrPeerStatus = errors.New("gossip: peer refused the pull")

// maxAnswer bounds an answer read from a peer.
const maxAnswer = 256 << 20

// NewHTTPFetcher returns the Fetcher that POSTs to PullPath and DigestPath.
func NewHTTPFetcher(client *http.Client) Fetcher { return &httpFetcher{client: client} }

type httpFetcher struct{ client *http.Client }

func (f *httpFetcher) PullRecords(ctx context.Context, apiAddr string, keys []string) ([]*Record, error) {
	body, err := f.post(ctx, apiAddr, PullPath, encodeKeys(keys))
	if err != nil {
		return nil, err
	}
	return decodeRecords(body)
}

func (f *httpFetcher) PullDigest(ctx context.Context, apiAddr string, buckets int, which []int) ([]DigestEntry, error) {
	body, err := f.post(ctx, apiAddr, DigestPath, encodeDigestQuery(buckets, which))
	if err != nil {
		return nil, err
	}
	return decodeEntries(body)
}

func (f *httpFetcher) post(ctx context.Context, apiAddr, path string, body []byte) ([]byte, error) {
	url := strings.TrimSuffix(apiAddr, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w: %s answered %s: %s", ErrPeerStatus, url, resp.Status, bytes.TrimSpace(msg))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("pull from %s: %w", url, err)
	}
	return data, nil
}
