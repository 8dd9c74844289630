package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Every failure of the store to make a write durable is answered with a
// status that says nothing was written; a full disk is 507 and says what to
// do; the write's own errors pass through unchanged.
func TestStoreErrorSaysNothingWasWritten(t *testing.T) {
	full := &gossip.PersistError{Path: "/data/state.db", Records: 1, Err: fmt.Errorf("write /data/state.db: %w", syscall.ENOSPC)}
	eio := &gossip.PersistError{Path: "/data/state.db", Records: 1, Err: fmt.Errorf("write /data/state.db: %w", syscall.EIO)}
	ahead := fmt.Errorf("%w: check NTP", gossip.ErrClockAhead)
	own := api.NewConflict(api.KindConfigMap, "x", "the object was modified")
	for _, c := range []struct {
		name  string
		err   error
		code  int
		words []string
	}{
		{"full disk", full, http.StatusInsufficientStorage, []string{"/data/state.db", "is full", "nothing was written", "Free space", "resume"}},
		{"full disk, wrapped", fmt.Errorf("create: %w", full), http.StatusInsufficientStorage, []string{"is full"}},
		{"I/O error", eio, http.StatusInternalServerError, []string{"/data/state.db", "nothing was written", "input/output error"}},
		{"closing", gossip.ErrClosed, http.StatusServiceUnavailable, []string{"stopping", "nothing was written"}},
		{"clock ahead", ahead, http.StatusServiceUnavailable, []string{"NTP"}},
		{"the write's own error", own, http.StatusConflict, nil},
	} {
		err := StoreError(c.err)
		var se *api.StatusError
		if !errors.As(err, &se) {
			t.Fatalf("%s: not a Status: %v", c.name, err)
		}
		if se.Code() != c.code {
			t.Errorf("%s: code %d, want %d", c.name, se.Code(), c.code)
		}
		for _, w := range c.words {
			if !strings.Contains(se.ErrStatus.Message, w) {
				t.Errorf("%s: the message does not say %q: %s", c.name, w, se.ErrStatus.Message)
			}
		}
	}
	if !api.IsInsufficientStorage(StoreError(full)) {
		t.Error("a full disk is not InsufficientStorage")
	}
	if StoreError(nil) != nil {
		t.Error("no error became one")
	}
}
