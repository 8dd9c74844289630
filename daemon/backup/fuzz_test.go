package backup

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// A backup file is untrusted input to the agent that restores it: its
// header and records never panic the reader, and anything refused is
// ErrFile.
func FuzzReadBackup(f *testing.F) {
	enc := api.BackupEncryption{Cipher: cipherName, KDF: kdfName, Iterations: 1, Salt: []byte("saltsalt")}
	s, err := derive(pass, &enc)
	if err != nil {
		f.Fatal(err)
	}
	sealed, _ := s.seal("o/secrets/default/a", []byte(`{"data":{}}`))
	var body []byte
	for _, r := range []*gossip.Record{
		{Key: "o/configmaps/default/a", Version: gossip.Version{Time: 3, Node: "h1"}, Value: []byte(`{"kind":"ConfigMap"}`)},
		{Key: "o/secrets/default/a", Version: gossip.Version{Time: 4, Node: "h1"}, Value: sealed},
	} {
		b, _ := r.MarshalBinary()
		body = append(append(body, byte(len(b))), b...)
	}
	f.Add([]byte(`{"kind":"Backup","apiVersion":"shoal/v1","format":1,"recordFormat":1,"records":2,"bodyBytes":10}`+"\n"), body)
	f.Add([]byte(`{"kind":"Backup","apiVersion":"shoal/v1","format":1,"recordFormat":9,"records":-1,"bodyBytes":-5}`+"\n"), []byte{0xff, 0xff})
	f.Add([]byte("{}\n"), []byte{2, 1, 0})
	f.Fuzz(func(t *testing.T, header, body []byte) {
		if _, err := ReadHeader(bufio.NewReader(bytes.NewReader(header))); err != nil && !errors.Is(err, ErrFile) {
			t.Fatalf("header refused with %v, not ErrFile", err)
		}
		recs, err := decodeBody(body, -1, s)
		if err == nil {
			t.Fatalf("%d records accepted against a count of -1", len(recs))
		}
		if !errors.Is(err, ErrFile) {
			t.Fatalf("body refused with %v, not ErrFile", err)
		}
	})
}
