package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

const (
	// maxHeaderBytes bounds the header line.
	maxHeaderBytes = 1 << 20
	// MaxFileBytes bounds a backup a restore reads: every agent holds the
	// whole state in memory, so a state larger than this is far beyond
	// what shoal is built for.
	MaxFileBytes = 1 << 30
)

// ErrFile is returned for a file that is not a backup this build reads, or
// that was damaged or changed.
var ErrFile = errors.New("backup file")

// Source is the store a backup is taken from.
type Source interface {
	Snapshot(fn func(*gossip.Record) error) error
}

// Options describe a backup to take.
type Options struct {
	Cluster, Agent, Version string
	Passphrase              string
	// Sensitive says which record keys hold values sealed in the file.
	Sensitive func(key string) bool
	// Include says which records the file holds (nil: all).
	Include func(key string) bool
	Now     func() time.Time
}

// Write takes a snapshot of src (one read transaction) and writes the
// backup file to w. The body is built in memory first, so that the header
// can carry its digest, and so that the read transaction lasts no longer
// than the encoding, whatever the speed of w.
func Write(w io.Writer, src Source, o Options) (*api.BackupHeader, error) {
	h := &api.BackupHeader{TypeMeta: api.TypeMeta{Kind: "Backup", APIVersion: "shoal/v1"}, Format: api.BackupFormat,
		Cluster: o.Cluster, Agent: o.Agent, Version: o.Version, RecordFormat: gossip.RecordFormat, Counts: map[string]int{}}
	s, err := newSealer(o.Passphrase, &h.Encryption)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var body bytes.Buffer
	err = src.Snapshot(func(r *gossip.Record) error {
		if o.Include != nil && !o.Include(r.Key) {
			return nil
		}
		out := *r
		if o.Sensitive != nil && o.Sensitive(r.Key) && len(r.Value) > 0 {
			v, err := s.seal(r.Key, r.Value)
			if err != nil {
				return err
			}
			out.Value = v
			h.Encryption.Sealed++
		}
		enc, _ := out.MarshalBinary()
		body.Write(binary.AppendUvarint(nil, uint64(len(enc))))
		body.Write(enc)
		h.Records++
		if res, ok := specResource(r.Key); ok {
			h.Counts[res]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot of the store: %w", err)
	}
	h.Created = api.NewTime(now())
	sum := sha256.Sum256(body.Bytes())
	h.BodyBytes, h.SHA256 = int64(body.Len()), hex.EncodeToString(sum[:])
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	if _, err := body.WriteTo(w); err != nil {
		return nil, err
	}
	return h, nil
}

// specResource is the resource of an object's spec record key
// (o/<resource>/<namespace>/<name>).
func specResource(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "o/")
	if !ok {
		return "", false
	}
	res, _, ok := strings.Cut(rest, "/")
	return res, ok && res != ""
}

// ReadHeader reads and checks the header line of a backup file.
func ReadHeader(r *bufio.Reader) (*api.BackupHeader, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: the first line is not a backup header (longer than %d bytes)", ErrFile, r.Size())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the header: %v", ErrFile, err)
	}
	var h api.BackupHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Kind != "Backup" || h.APIVersion != "shoal/v1" {
		return nil, fmt.Errorf("%w: the first line is not a shoal backup header (a file written by shoal backup begins with {\"kind\":\"Backup\",...)", ErrFile)
	}
	switch {
	case h.Format != api.BackupFormat:
		return nil, fmt.Errorf("%w: backup format %d is not one this build reads (%d): restore it with the shoal release that wrote it, or a newer one", ErrFile, h.Format, api.BackupFormat)
	case h.RecordFormat < 1 || h.RecordFormat > gossip.RecordFormat:
		return nil, fmt.Errorf("%w: the backup's records are of format %d, this build reads formats 1 to %d: restore it with the shoal release that wrote it, or a newer one", ErrFile, h.RecordFormat, gossip.RecordFormat)
	case h.BodyBytes < 0 || h.BodyBytes > MaxFileBytes:
		return nil, fmt.Errorf("%w: the header gives a body of %d bytes (at most %d)", ErrFile, h.BodyBytes, MaxFileBytes)
	case h.Records < 0 || int64(h.Records) > h.BodyBytes:
		return nil, fmt.Errorf("%w: the header gives %d records in %d bytes", ErrFile, h.Records, h.BodyBytes)
	}
	return &h, nil
}

// Read reads a whole backup file: it checks the header, the body's length
// and digest, and the passphrase, and returns the records with their
// sealed values opened.
func Read(r io.Reader, passphrase string) (*api.BackupHeader, []*gossip.Record, error) {
	br := bufio.NewReaderSize(r, maxHeaderBytes)
	h, err := ReadHeader(br)
	if err != nil {
		return nil, nil, err
	}
	body := make([]byte, 0, min(h.BodyBytes, 64<<20))
	buf := bytes.NewBuffer(body)
	n, err := io.Copy(buf, io.LimitReader(br, h.BodyBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading the records: %v", ErrFile, err)
	}
	if n != h.BodyBytes {
		return nil, nil, fmt.Errorf("%w: the records take %d bytes, the header says %d: the file is truncated or has bytes appended", ErrFile, n, h.BodyBytes)
	}
	sum := sha256.Sum256(buf.Bytes())
	if hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, nil, fmt.Errorf("%w: the records' SHA-256 differs from the header's: the file is damaged or was changed", ErrFile)
	}
	s, err := openSealer(passphrase, h.Encryption)
	if err != nil {
		return nil, nil, err
	}
	recs, err := decodeBody(buf.Bytes(), h.Records, s)
	if err != nil {
		return nil, nil, err
	}
	return h, recs, nil
}

func decodeBody(b []byte, want int, s *sealer) ([]*gossip.Record, error) {
	// A record takes at least a few bytes: the count cannot make this
	// allocate more than the body allows.
	recs := make([]*gossip.Record, 0, max(0, min(want, len(b)/4)))
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: record %d: bad length", ErrFile, len(recs)+1)
		}
		r := &gossip.Record{}
		if err := r.UnmarshalBinary(b[n : n+int(l)]); err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrFile, len(recs)+1, err)
		}
		b = b[n+int(l):]
		if isSealed(r.Value) {
			v, err := s.open(r.Key, r.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrFile, err)
			}
			r.Value = v
		}
		recs = append(recs, r)
	}
	if len(recs) != want {
		return nil, fmt.Errorf("%w: %d records, the header says %d", ErrFile, len(recs), want)
	}
	return recs, nil
}
