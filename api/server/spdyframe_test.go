package server

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// frame is an SPDY frame header of the given length and its payload.
func frame(length int) []byte {
	b := []byte{0x80, 3, 0, 1, 0, byte(length >> 16), byte(length >> 8), byte(length)}
	return append(b, bytes.Repeat([]byte{'x'}, length)...)
}

// TestSPDYFramesAreBounded checks a frame longer than the limit fails the
// connection on its header, however the bytes are split across reads, and
// the frames before it pass.
func TestSPDYFramesAreBounded(t *testing.T) {
	ok := append(append(frame(10), frame(0)...), frame(100)...)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":       func(r io.Reader) io.Reader { return r },
		"one byte":    iotest.OneByteReader,
		"half chunks": iotest.HalfReader,
	} {
		in := append(append([]byte{}, ok...), frame(101)...)
		f := &spdyFrameLimit{r: wrap(bytes.NewReader(in)), max: 100}
		got, err := io.ReadAll(f)
		if err == nil || !strings.Contains(err.Error(), "101 bytes") {
			t.Fatalf("%s: a frame over the limit: %v", name, err)
		}
		// Nothing of the long frame's payload gets through.
		if !bytes.HasPrefix(in, got) || len(got) > len(ok)+7 {
			t.Fatalf("%s: %d bytes passed, want at most the %d of the frames within the limit and a partial header", name, len(got), len(ok))
		}
	}
}

func TestSPDYFramesWithinTheLimitPass(t *testing.T) {
	ok := append(append(frame(10), frame(0)...), frame(100)...)
	f := &spdyFrameLimit{r: iotest.HalfReader(bytes.NewReader(ok)), max: 100}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, ok) {
		t.Fatalf("%d of %d bytes, %v", len(got), len(ok), err)
	}
}
