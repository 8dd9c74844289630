package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validStore writes a store with enough records for branch, leaf and
// overflow pages and a freelist, closes it, and returns its path and size.
func validStore(t testing.TB) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 400 {
		v := strings.Repeat(fmt.Sprint(i), 20)
		if i%50 == 0 {
			v = strings.Repeat("big", 3000) // an overflow page
		}
		if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(fmt.Sprintf("o/cm/ns/k%04d", i), []byte(v)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 { // freed pages
		if _, err := st.Update(ctx, func(tx *Txn) error { tx.Delete(fmt.Sprintf("o/cm/ns/k%04d", i)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, info.Size()
}

// mustBeDamaged opens path and expects a DamagedError naming the file.
func mustBeDamaged(t *testing.T, path, why string) *DamagedError {
	t.Helper()
	st, err := Open(path, "n1", nil)
	if err == nil {
		st.Close()
		t.Fatalf("%s: the store opened", why)
	}
	var de *DamagedError
	if !errors.As(err, &de) {
		t.Fatalf("%s: want a DamagedError, got %T: %v", why, err, err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("%s: the error does not name the file: %v", why, err)
	}
	return de
}

// rewrite puts b in a new file in place of path: a new inode, as a store
// that failed to open may keep the old one mapped (and locked) for good.
func rewrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// metaOf returns the meta page bbolt uses of the file at path.
func metaOf(t *testing.T, path string) *boltMeta {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m0, err := readMeta(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := readMeta(f, int64(m0.pageSize))
	if err == nil && m1.txid > m0.txid {
		return m1
	}
	return m0
}

func TestDamagedStoreTruncated(t *testing.T) {
	path, _ := validStore(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := metaOf(t, path)
	used := int64(m.pgid) * int64(m.pageSize) // the file is longer: bbolt grows it ahead
	for _, n := range []int64{0, 1, 100, 4096, 8192, 3 * 4096, used / 2, used - int64(m.pageSize)} {
		rewrite(t, path, orig[:n])
		de := mustBeDamaged(t, path, fmt.Sprintf("truncated to %d bytes", n))
		t.Logf("%d bytes: %v", n, de)
	}
	rewrite(t, path, orig[:used/2])
	if de := mustBeDamaged(t, path, "truncated to half"); !strings.Contains(de.Error(), "truncated") {
		t.Fatalf("the error does not say the file is truncated: %v", de)
	}
	rewrite(t, path, orig[:used])
	st, err := Open(path, "n1", nil)
	if err != nil {
		t.Fatalf("the file cut after its last used page: %v", err)
	}
	if st.Len() != 400 {
		t.Fatalf("%d records", st.Len())
	}
	st.Close()
}

func TestDamagedStoreGarbage(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{10, 4096, 16384, 100000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		path := filepath.Join(dir, fmt.Sprintf("garbage-%d.db", n))
		rewrite(t, path, b)
		mustBeDamaged(t, path, fmt.Sprintf("%d random bytes", n))
		text := filepath.Join(dir, fmt.Sprintf("text-%d.db", n))
		rewrite(t, text, []byte(strings.Repeat("not a store ", n/12+1)))
		mustBeDamaged(t, text, "text")
	}
}

// Pages overwritten inside an otherwise valid file: the meta pages, the
// freelist page (the fault reported at open), a branch or leaf page.
func TestDamagedStorePages(t *testing.T) {
	path, _ := validStore(t)
	orig, _ := os.ReadFile(path)
	meta := metaOf(t, path)
	ps := int64(meta.pageSize)
	pages := int64(meta.pgid)
	write := func(b []byte) { rewrite(t, path, b) }
	fill := func(b []byte, page int64, v byte) {
		for i := page * ps; i < (page+1)*ps && i < int64(len(b)); i++ {
			b[i] = v
		}
	}
	// Both meta pages gone.
	b := append([]byte(nil), orig...)
	fill(b, 0, 0xff)
	fill(b, 1, 0xff)
	write(b)
	mustBeDamaged(t, path, "both meta pages overwritten")

	// The freelist page full of garbage: counts and page ids far beyond
	// the file.
	b = append([]byte(nil), orig...)
	fill(b, int64(meta.freelist), 0xee)
	write(b)
	mustBeDamaged(t, path, "the freelist page overwritten")

	// Every other page in turn, with three patterns: never a panic or a
	// crash; a page that matters is found.
	found := 0
	for page := int64(2); page < pages; page++ {
		for _, v := range []byte{0x00, 0xff, 0x5a} {
			b := append([]byte(nil), orig...)
			fill(b, page, v)
			write(b)
			st, err := Open(path, "n1", nil)
			if err == nil {
				st.Close()
				continue
			}
			var de *DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("page %d overwritten with %#x: want a DamagedError, got %v", page, v, err)
			}
			if found++; found <= 5 {
				t.Logf("page %d overwritten with %#x: %v", page, v, err)
			}
		}
	}
	if found == 0 {
		t.Fatal("no overwritten page was found")
	}
	t.Logf("%d of %d overwritten pages found damaged (the others were free pages)", found, 3*(pages-2))
}

// Random bytes flipped anywhere in the used part of the file, many times:
// opening never panics or crashes; it succeeds, or says what is wrong (the
// file is damaged, or a record's version is in the future).
func TestDamagedStoreRandomFlips(t *testing.T) {
	path, _ := validStore(t)
	m := metaOf(t, path)
	size := int64(m.pgid) * int64(m.pageSize)
	orig, _ := os.ReadFile(path)
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	damaged := 0
	for range rounds {
		b := append([]byte(nil), orig...)
		for range 1 + rng.IntN(8) {
			b[rng.Int64N(size)] ^= byte(1 + rng.UintN(255))
		}
		rewrite(t, path, b)
		st, err := Open(path, "n1", nil)
		if err == nil {
			st.Close()
			continue
		}
		var de *DamagedError
		var fe *FutureRecordsError
		var fmtErr *FormatError // a flipped format byte reads as a newer release's
		if !errors.As(err, &de) && !errors.As(err, &fe) && !errors.As(err, &fmtErr) {
			t.Fatalf("want a DamagedError, got %v", err)
		}
		damaged++
	}
	t.Logf("%d of %d damaged files detected", damaged, rounds)
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, want := range []string{"state.db.damaged-20250304T050607Z", "state.db.damaged-20250304T050607Z-1"} {
		if err := os.WriteFile(path, []byte(fmt.Sprint(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := MoveAside(path, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != filepath.Join(dir, want) {
			t.Fatalf("moved to %s, want %s", got, want)
		}
		if b, err := os.ReadFile(got); err != nil || string(b) != fmt.Sprint(i) {
			t.Fatalf("%s: %q %v", got, b, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the damaged file is still in place")
	}
}

// A store opened to replace a damaged one says so until it is rebuilt,
// across restarts; the end of the rebuild adopts the peer's horizon.
func TestRebuildingIsPersistent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := Open(path, "n1", nil, WithRebuild())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Rebuilding() {
		t.Fatal("a store opened WithRebuild is not rebuilding")
	}
	st.Close()
	st, err = Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Rebuilding() {
		t.Fatal("the rebuild was forgotten at a restart")
	}
	if err := st.rebuilt(12345 << 16); err != nil {
		t.Fatal(err)
	}
	if st.Rebuilding() || st.Horizon() != 12345<<16 {
		t.Fatalf("after the rebuild: rebuilding %v, horizon %d", st.Rebuilding(), st.Horizon())
	}
	st.Close()
	st, err = Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Rebuilding() || st.Horizon() != 12345<<16 {
		t.Fatalf("after a restart: rebuilding %v, horizon %d", st.Rebuilding(), st.Horizon())
	}
}

// FuzzOpenDamaged flips bytes of a valid store file (the input is pairs of
// a 2-byte page-relative offset selector and a byte to XOR) and opens it:
// never a panic or a crash; it opens, or says what is wrong.
//
//	go test ./gossip -run XXX -fuzz '^FuzzOpenDamaged$' -fuzztime 10m
func FuzzOpenDamaged(f *testing.F) {
	path, _ := validStore(f)
	orig, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	used := len(orig)
	if file, err := os.Open(path); err == nil {
		if m, err := readMeta(file, 0); err == nil {
			used = int(m.pgid) * int(m.pageSize)
		}
		file.Close()
	}
	f.Add([]byte{0x00, 0x10, 0xff})
	f.Add([]byte{0x12, 0x34, 0x01, 0x40, 0x00, 0x80})
	f.Add([]byte{0xff, 0xff, 0x7f, 0x00, 0x02, 0x10})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, flips []byte) {
		b := append([]byte(nil), orig...)
		for i := 0; i+2 < len(flips) && i < 3*16; i += 3 {
			off := (int(flips[i])<<8 | int(flips[i+1])) * used / 65536
			b[off] ^= flips[i+2]
		}
		p := filepath.Join(dir, "state.db")
		rewrite(t, p, b)
		st, err := Open(p, "n1", nil)
		if err == nil {
			st.Close()
			return
		}
		var de *DamagedError
		var fe *FutureRecordsError
		var fmtErr *FormatError // a flipped format byte reads as a newer release's
		if !errors.As(err, &de) && !errors.As(err, &fe) && !errors.As(err, &fmtErr) {
			t.Fatalf("want a DamagedError, got %v", err)
		}
	})
}
