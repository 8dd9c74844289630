package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/shoal-dev/shoal/api"
)

// Backup writes a backup of the cluster's state to w: the agent takes a
// snapshot of its store and seals the Secrets and tokens in it with the
// passphrase. It returns how many bytes were written.
func (c *Client) Backup(ctx context.Context, passphrase string, w io.Writer) (int64, error) {
	h := http.Header{}
	h.Set(api.BackupPassphraseHeader, passphrase)
	resp, err := c.send(ctx, request{method: http.MethodGet, path: api.BackupPath, header: h})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("receiving the backup: %w", err)
	}
	return n, nil
}

// Restore seeds the cluster from a backup file.
func (c *Client) Restore(ctx context.Context, passphrase string, file io.Reader) (*api.RestoreResult, error) {
	h := http.Header{}
	h.Set(api.BackupPassphraseHeader, passphrase)
	var res api.RestoreResult
	err := c.do(ctx, request{method: http.MethodPost, path: api.RestorePath, bodyReader: file,
		contentType: api.BackupContentType, header: h}, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}
