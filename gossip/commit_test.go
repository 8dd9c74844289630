package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// faultyDisk makes the store's disk writes wait at a gate, or fail.
type faultyDisk struct {
	mu      sync.Mutex
	err     error
	gate    chan struct{} // writes wait until it is closed (nil: no wait)
	entered chan struct{} // receives once per write that reached the disk
	delay   func() time.Duration
}

func newFaultyDisk() *faultyDisk { return &faultyDisk{entered: make(chan struct{}, 1024)} }

func (f *faultyDisk) hook() error {
	select {
	case f.entered <- struct{}{}:
	default:
	}
	f.mu.Lock()
	gate, delay := f.gate, f.delay
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if delay != nil {
		time.Sleep(delay())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faultyDisk) hold() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *faultyDisk) release() {
	f.mu.Lock()
	close(f.gate)
	f.gate = nil
	f.mu.Unlock()
}

func (f *faultyDisk) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func openFaulty(t *testing.T, f *faultyDisk) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, "n1", nil, withDiskHooks(diskHooks{writeFault: f.hook}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func put(st *Store, kv ...string) ([]*Record, error) {
	return st.Update(context.Background(), func(t *Txn) error {
		for i := 0; i < len(kv); i += 2 {
			t.Put(kv[i], []byte(kv[i+1]))
		}
		return nil
	})
}

// nothingQueued reports that sub has no change waiting.
func nothingQueued(t *testing.T, sub *Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if chs, err := sub.Next(ctx); err == nil {
		t.Fatalf("a watcher saw %d change(s) of a write that is not durable (first: %s)", len(chs), chs[0].New.Key)
	}
}

func queued(st *Store) int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.queue)
}

// A write is seen by nobody (readers, watchers, the broadcast hook) until
// it is on disk; a transaction decides against it meanwhile, so a second
// create of the same name fails.
func TestWriteIsDurableBeforeAnyoneSeesIt(t *testing.T) {
	f := newFaultyDisk()
	st, _ := openFaulty(t, f)
	sub, _, err := st.Subscribe([]string{"k"}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var hooked []*Record
	var hmu sync.Mutex
	st.OnLocalWrite(func(rs []*Record) { hmu.Lock(); hooked = append(hooked, rs...); hmu.Unlock() })

	f.hold()
	done := make(chan error, 1)
	go func() { _, err := put(st, "k1", "v1"); done <- err }()
	<-f.entered
	if st.Get("k1") != nil {
		t.Fatal("a reader saw a write before it was persisted")
	}
	nothingQueued(t, sub)
	hmu.Lock()
	if len(hooked) > 0 {
		t.Fatal("a write was broadcast before it was persisted")
	}
	hmu.Unlock()
	// A transaction sees the write in flight: creating k1 again is refused.
	errExists := errors.New("k1 exists")
	if _, err := st.Update(context.Background(), func(tx *Txn) error {
		if tx.Get("k1") != nil {
			return errExists
		}
		tx.Put("k1", []byte("other"))
		return nil
	}); !errors.Is(err, errExists) {
		t.Fatalf("a concurrent create of the same key was not refused: %v", err)
	}
	f.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := st.Get("k1"); r == nil || string(r.Value) != "v1" {
		t.Fatalf("after the write returned, Get = %v", r)
	}
	chs, err := sub.Next(context.Background())
	if err != nil || len(chs) != 1 || chs[0].New.Key != "k1" {
		t.Fatalf("the watcher got %v, %v", chs, err)
	}
	hmu.Lock()
	defer hmu.Unlock()
	if len(hooked) != 1 || hooked[0].Key != "k1" {
		t.Fatalf("hooks got %v", hooked)
	}
}

// A write whose persist fails changes nothing anywhere: memory, watchers,
// broadcasts, disk. The next write succeeds.
func TestFailedPersistChangesNothing(t *testing.T) {
	f := newFaultyDisk()
	st, path := openFaulty(t, f)
	if _, err := put(st, "k0", "v0"); err != nil {
		t.Fatal(err)
	}
	sub, _, _ := st.Subscribe([]string{"k"}, 0, false)
	hooks := 0
	st.OnLocalWrite(func([]*Record) { hooks++ })

	f.fail(fmt.Errorf("write state.db: %w", syscall.EIO))
	_, err := st.Update(context.Background(), func(tx *Txn) error {
		tx.Put("k1", []byte("v1"))
		tx.Delete("k0")
		return nil
	})
	var pe *PersistError
	if !errors.As(err, &pe) || errors.Is(err, ErrStorageFull) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("want a PersistError for EIO, got %v", err)
	}
	if !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("the error does not say nothing was written: %v", err)
	}
	if st.Get("k1") != nil || st.Get("k0") == nil || st.Get("k0").Deleted {
		t.Fatal("a failed write changed the store in memory")
	}
	nothingQueued(t, sub)
	if hooks != 0 {
		t.Fatal("a failed write was broadcast")
	}
	// Records from elsewhere fail the same way, and are not applied.
	remote := &Record{Key: "k2", Version: Version{Time: st.Clock().Now(), Node: "n2"}, Value: []byte("r")}
	if got, err := st.Apply(context.Background(), []*Record{remote}); !errors.As(err, &pe) || len(got) != 0 || st.Get("k2") != nil {
		t.Fatalf("Apply on a failing disk: %v, %v", got, err)
	}

	f.fail(nil)
	if _, err := put(st, "k3", "v3"); err != nil {
		t.Fatalf("the disk works again, the write failed: %v", err)
	}
	if got, err := st.Apply(context.Background(), []*Record{remote}); err != nil || len(got) != 1 {
		t.Fatalf("Apply once the disk works: %v, %v", got, err)
	}
	st.Close()
	st, err = Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for key, want := range map[string]string{"k0": "v0", "k1": "", "k2": "r", "k3": "v3"} {
		r := st.Get(key)
		switch {
		case want == "" && r != nil:
			t.Errorf("%s: a write that failed is on disk", key)
		case want != "" && (r == nil || string(r.Value) != want):
			t.Errorf("%s: an acknowledged write is not on disk: %v", key, r)
		}
	}
}

// Writes queued behind a batch that fails were decided against it: they
// fail too, none reaches the disk, and the store is as before them.
func TestWritesQueuedBehindAFailedBatchFail(t *testing.T) {
	f := newFaultyDisk()
	st, path := openFaulty(t, f)
	f.hold()
	first := make(chan error, 1)
	go func() { _, err := put(st, "a", "1"); first <- err }()
	<-f.entered
	second := make(chan error, 1)
	go func() {
		_, err := st.Update(context.Background(), func(tx *Txn) error {
			if tx.Get("a") == nil {
				return errors.New("a is not there")
			}
			tx.Put("b", []byte("needs a"))
			return nil
		})
		second <- err
	}()
	poll.Until(t, 10*time.Second, "the second write queued", func() error {
		if queued(st) != 1 {
			return errors.New("not queued yet")
		}
		return nil
	})
	f.fail(syscall.ENOSPC)
	f.release()
	for i, ch := range []chan error{first, second} {
		if err := <-ch; !errors.Is(err, ErrStorageFull) {
			t.Fatalf("write %d: want ErrStorageFull, got %v", i+1, err)
		}
	}
	if st.Get("a") != nil || st.Get("b") != nil {
		t.Fatal("failed writes are in memory")
	}
	if !st.Full() {
		t.Fatal("the store does not report a full disk")
	}
	f.fail(nil)
	if _, err := st.Update(context.Background(), func(tx *Txn) error {
		if tx.Get("a") != nil {
			return errors.New("a failed write is still seen by transactions")
		}
		tx.Put("c", []byte("3"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st.Full() {
		t.Fatal("the store still reports a full disk after a write succeeded")
	}
	st.Close()
	st, err := Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Get("a") != nil || st.Get("b") != nil || st.Get("c") == nil {
		t.Fatalf("on disk: a=%v b=%v c=%v", st.Get("a"), st.Get("b"), st.Get("c"))
	}
}

// The request's context decides only whether a write starts: once staged,
// it completes as a whole even if the context ends meanwhile.
func TestContextEndingMidWriteChangesNothing(t *testing.T) {
	f := newFaultyDisk()
	st, path := openFaulty(t, f)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.Update(canceled, func(tx *Txn) error { tx.Put("early", nil); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("a write with an ended context: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.hold()
	done := make(chan error, 1)
	go func() {
		_, err := st.Update(ctx, func(tx *Txn) error { tx.Put("k", []byte("v")); return nil })
		done <- err
	}()
	<-f.entered
	cancel() // the client went away while the write was being persisted
	f.release()
	if err := <-done; err != nil {
		t.Fatalf("the write failed after it was staged: %v", err)
	}
	st.Close()
	st, err := Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Get("k") == nil || st.Get("early") != nil {
		t.Fatalf("on disk: k=%v early=%v", st.Get("k"), st.Get("early"))
	}
}

// Concurrent writes (local and from elsewhere) whose disk writes take
// varying time are published in the order they were staged: stamps and
// local versions only grow, every change of a key follows the one before
// it, and the broadcast hook sees local writes in version order.
func TestConcurrentWritesArePublishedInOrder(t *testing.T) {
	f := newFaultyDisk()
	f.delay = func() time.Duration { return time.Duration(rand.IntN(2000)) * time.Microsecond }
	st, _ := openFaulty(t, f)
	sub, _, _ := st.Subscribe([]string{""}, 0, false)
	var hmu sync.Mutex
	var hooked []Version
	st.OnLocalWrite(func(rs []*Record) {
		hmu.Lock()
		for _, r := range rs {
			hooked = append(hooked, r.Version)
		}
		hmu.Unlock()
	})
	const writers, each = 8, 40
	var wg sync.WaitGroup
	var total sync.Map
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				recs, err := put(st, fmt.Sprintf("k/%d/%d", w, i), "v", "shared", fmt.Sprintf("%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				total.Store(recs[0].Key, true)
			}
		})
	}
	for g := range 2 {
		wg.Go(func() {
			for i := range each {
				r := &Record{Key: fmt.Sprintf("r/%d/%d", g, i), Version: Version{Time: st.Clock().Now(), Node: "n2"}, Value: []byte("x")}
				if _, err := st.Apply(context.Background(), []*Record{r}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := writers*each*2 + 2*each
	var got []Change
	for len(got) < want {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		chs, err := sub.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d changes: %v", len(got), want, err)
		}
		got = append(got, chs...)
	}
	var lastLocal Version
	var lastShared *Record
	for i, ch := range got {
		if i > 0 && ch.Stamp <= got[i-1].Stamp {
			t.Fatalf("change %d: stamp %d after %d", i, ch.Stamp, got[i-1].Stamp)
		}
		if ch.New.Version.Node == "n1" {
			if ch.New.Version.Compare(lastLocal) <= 0 {
				t.Fatalf("change %d: local version %v published after %v", i, ch.New.Version, lastLocal)
			}
			lastLocal = ch.New.Version
		}
		if ch.New.Key == "shared" {
			if ch.Old != lastShared {
				t.Fatalf("change %d of the shared key does not follow the one before it", i)
			}
			lastShared = ch.New
		}
	}
	hmu.Lock()
	defer hmu.Unlock()
	for i := 1; i < len(hooked); i++ {
		if hooked[i].Compare(hooked[i-1]) <= 0 {
			t.Fatalf("broadcast %d: version %v after %v", i, hooked[i], hooked[i-1])
		}
	}
}

// A full disk (bbolt cannot grow its file): writes fail with
// ErrStorageFull and change nothing; reads go on; every acknowledged write
// survives; writes succeed again, without reopening, once there is space.
func TestFullDiskRefusesWritesThenResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, "n1", nil, withDiskHooks(diskHooks{maxSize: 1 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	value := strings.Repeat("x", 64<<10)
	var acked []string
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		key := fmt.Sprintf("o/big/%d", i)
		if _, err := put(st, key, value); err != nil {
			full = err
		} else {
			acked = append(acked, key)
		}
	}
	var pe *PersistError
	if !errors.Is(full, ErrStorageFull) || !errors.As(full, &pe) || !pe.Full() {
		t.Fatalf("want ErrStorageFull once the file cannot grow, got %v", full)
	}
	if len(acked) == 0 {
		t.Fatal("no write fit")
	}
	if !st.Full() {
		t.Fatal("the store does not report the full disk")
	}
	for _, k := range acked {
		if st.Get(k) == nil {
			t.Fatalf("%s: an acknowledged write is not readable while the disk is full", k)
		}
	}
	remote := &Record{Key: "o/remote/1", Version: Version{Time: st.Clock().Now(), Node: "n2"}, Value: []byte(value)}
	if got, err := st.Apply(context.Background(), []*Record{remote}); !errors.Is(err, ErrStorageFull) || len(got) != 0 {
		t.Fatalf("Apply on a full disk: %d applied, %v", len(got), err)
	}
	if st.Get("o/remote/1") != nil {
		t.Fatal("a record that could not be persisted was applied")
	}

	st.disk.mu.Lock()
	st.disk.db.MaxSize = 0 // space is freed
	st.disk.mu.Unlock()
	if _, err := put(st, "o/after/1", value); err != nil {
		t.Fatalf("a write once there is space again: %v", err)
	}
	if got, err := st.Apply(context.Background(), []*Record{remote}); err != nil || len(got) != 1 {
		t.Fatalf("Apply once there is space again: %d applied, %v", len(got), err)
	}
	if st.Full() {
		t.Fatal("the store still reports a full disk")
	}
	st.Close()
	st, err = Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append(acked, "o/after/1", "o/remote/1") {
		if st.Get(k) == nil {
			t.Errorf("%s: lost at restart", k)
		}
	}
}
