package atrest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/gossip"
)

func TestSealOpenAndRotate(t *testing.T) {
	dir := t.TempDir()
	k, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	plain := []byte(`{"data":{"password":"canary-1234"}}`)
	sealed, err := k.Seal("o/secrets/default/db", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("canary")) {
		t.Fatal("sealed value holds the plain text")
	}
	got, ok, err := k.Open("o/secrets/default/db", sealed)
	if err != nil || !ok || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v %v", got, ok, err)
	}
	// Bound to its key: moved to another record, it does not open.
	if _, _, err := k.Open("o/secrets/default/other", sealed); err == nil {
		t.Fatal("a sealed value opened under another key")
	}
	// A value that was never sealed is returned as is.
	if got, ok, err := k.Open("o/secrets/default/db", plain); err != nil || ok || !bytes.Equal(got, plain) {
		t.Fatalf("plain value: %q %v %v", got, ok, err)
	}
	old, err := k.Rotate()
	if err != nil || len(old) != 1 {
		t.Fatalf("rotate: %v %v", old, err)
	}
	// Reads try every key; the reloaded file has both.
	k2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := k2.Open("o/secrets/default/db", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open with the old key after rotation: %v", err)
	}
	if err := k2.DropOld(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k2.Open("o/secrets/default/db", sealed); err == nil || !strings.Contains(err.Error(), "not in") {
		t.Fatalf("want a missing-key error, got %v", err)
	}
	for key, want := range map[string]bool{"o/secrets/a/b": true, "o/tokens//admin": true, "x/ca": true,
		"o/configmaps/a/b": false, "s/pods/a/b": false} {
		if k.Sensitive(key) != want {
			t.Errorf("Sensitive(%q) = %v", key, !want)
		}
	}
}

// TestStoreKeepsSecretsSealedOnDisk runs the real store on a real bbolt
// file: a canary value never appears in the file's bytes, survives a
// restart, a store written in clear is sealed when reopened, and a
// rotation rewrites every sealed value with the new key.
func TestStoreKeepsSecretsSealedOnDisk(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	canary := "canary-7f3e9a"
	ctx := context.Background()
	put := func(st *gossip.Store, key, val string) {
		t.Helper()
		if _, err := st.Update(ctx, func(tx *gossip.Txn) error { tx.Put(key, []byte(val)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	fileHas := func(s string) bool {
		b, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(b, []byte(s))
	}
	// Written in clear by a store without a sealer (an older agent).
	st, err := gossip.Open(db, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	put(st, "o/secrets/default/old", `{"v":"`+canary+`-old"}`)
	put(st, "o/configmaps/default/cm", `{"v":"visible"}`)
	st.Close()
	if !fileHas(canary + "-old") {
		t.Fatal("test set-up: the clear value is not in the file")
	}

	k, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err = gossip.Open(db, "n1", nil, gossip.WithSealer(k))
	if err != nil {
		t.Fatal(err)
	}
	put(st, "o/secrets/default/new", `{"v":"`+canary+`-new"}`)
	if got := st.Get("o/secrets/default/old"); got == nil || !strings.Contains(string(got.Value), canary+"-old") {
		t.Fatalf("old secret lost: %v", got)
	}
	st.Close()
	if fileHas(canary) {
		t.Fatal("a secret value is in state.db in clear")
	}
	if !fileHas("visible") {
		t.Fatal("test: a non-sensitive value should stay readable")
	}

	st, err = gossip.Open(db, "n1", nil, gossip.WithSealer(k))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Get("o/secrets/default/new"); got == nil || !strings.Contains(string(got.Value), canary+"-new") {
		t.Fatalf("new secret lost after restart: %v", got)
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	n, err := st.Reseal(ctx)
	if err != nil || n != 2 {
		t.Fatalf("reseal: %d %v", n, err)
	}
	if err := k.DropOld(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	k2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err = gossip.Open(db, "n1", nil, gossip.WithSealer(k2))
	if err != nil {
		t.Fatalf("reopen with only the new key: %v", err)
	}
	defer st.Close()
	if got := st.Get("o/secrets/default/old"); got == nil || !strings.Contains(string(got.Value), canary+"-old") {
		t.Fatalf("secret lost after rotation: %v", got)
	}
}
