package gossip

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Each commit is reported once it reached the disk (or failed to), with
// the records it held.
func TestPersistObserverSeesEveryCommit(t *testing.T) {
	var mu sync.Mutex
	var records, failures int
	var took time.Duration
	f := newFaultyDisk()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, "n1", nil, withDiskHooks(diskHooks{writeFault: f.hook}),
		WithPersistObserver(func(n int, d time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures++
				return
			}
			records += n
			took += d
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := put(st, "a", "1", "b", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := put(st, "c", "3"); err != nil {
		t.Fatal(err)
	}
	f.fail(errors.New("disk on fire"))
	if _, err := put(st, "d", "4"); err == nil {
		t.Fatal("a write to a failing disk succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if records != 3 || failures != 1 || took <= 0 {
		t.Fatalf("observed %d records in %s and %d failures, want 3 records and 1 failure", records, took, failures)
	}
}
