package gossip

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A record of a format this build does not know is refused by name, never
// read as if it were format 1.
func TestRecordOfUnknownFormatIsRefusedByName(t *testing.T) {
	enc, _ := (&Record{Key: "o/configmaps/default/a", Version: Version{Time: 9, Node: "n1"}, Value: []byte(`{}`)}).MarshalBinary()
	cases := []struct {
		format byte
		newer  bool
		want   string
	}{
		{RecordFormat + 1, true, "newer than this build reads"},
		{maxPlausibleFormat, true, "upgrade this agent"},
		{0, false, "not a format of shoal"},
		{200, false, "not a format of shoal"},
	}
	for _, c := range cases {
		b := bytes.Clone(enc)
		b[0] = c.format
		var r Record
		err := r.UnmarshalBinary(b)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Got != c.format || fe.Newer() != c.newer {
			t.Fatalf("format %d: got %v, want a FormatError (newer %v)", c.format, err, c.newer)
		}
		if !errors.Is(err, ErrBadRecord) || !errors.Is(err, ErrUnknownRecordFormat) {
			t.Errorf("format %d: %v does not wrap ErrBadRecord and ErrUnknownRecordFormat", c.format, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("format %d: %q does not say %q", c.format, err, c.want)
		}
		if r.Key != "" || r.Value != nil {
			t.Errorf("format %d: the record was partly read: %+v", c.format, r)
		}
	}
	// Gossip refuses it as malformed input (dropped and counted).
	if _, err := decodeMessage(append([]byte{msgRecord, RecordFormat + 1}, enc[1:]...)); !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrUnknownRecordFormat) {
		t.Fatalf("a gossiped record of format %d: got %v, want ErrMalformed wrapping ErrUnknownRecordFormat", RecordFormat+1, err)
	}
}

// A store written by a newer release (a downgrade) is refused with a clear
// message and left as it is: moved aside as damaged, it would be rebuilt
// from peers and lose what only it held.
func TestStoreOfNewerFormatIsRefusedAndLeftInPlace(t *testing.T) {
	path, _ := validStore(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		v := bytes.Clone(b.Get([]byte("o/cm/ns/k0200")))
		v[0] = RecordFormat + 1
		return b.Put([]byte("o/cm/ns/k0200"), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(path, "n1", nil)
	if err == nil {
		st.Close()
		t.Fatal("a store with a record of a newer format opened")
	}
	var de *DamagedError
	if errors.As(err, &de) {
		t.Fatalf("refused as damaged (it would be moved aside and rebuilt): %v", err)
	}
	for _, want := range []string{"o/cm/ns/k0200", "record format 2", "left as it is"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the refused store is gone: %v", err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(recordsBucket).Stats().KeyN; n != 400 {
			t.Errorf("the refused store holds %d records, want the 400 written", n)
		}
		return nil
	})
}

// A snapshot holds every live record with sealed values opened, and sees a
// concurrent commit whole or not at all.
func TestSnapshotIsLiveRecordsOfOneMoment(t *testing.T) {
	path, _ := validStore(t)
	st, err := Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	err = st.Snapshot(func(r *Record) error {
		if r.Deleted {
			t.Fatalf("a tombstone in the snapshot: %s", r.Key)
		}
		n++
		return nil
	})
	if err != nil || n != 300 {
		t.Fatalf("snapshot: %d records, %v; want the 300 live ones", n, err)
	}
	mem, _ := Open("", "n1", nil)
	if _, err := mem.Update(t.Context(), func(tx *Txn) error { tx.Put("a", []byte("1")); tx.Put("b", []byte("2")); tx.Delete("c"); return nil }); err != nil {
		t.Fatal(err)
	}
	n = 0
	_ = mem.Snapshot(func(*Record) error { n++; return nil })
	if n != 2 {
		t.Fatalf("in-memory snapshot: %d records, want 2", n)
	}
}
