//go:build linux

package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestJournalLinesCarryTheirPriorityAndNoTime(t *testing.T) {
	var out bytes.Buffer
	text := func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	log := slog.New(newJournalHandler(&out, text, slog.HandlerOptions{Level: slog.LevelDebug})).With("node", "h1")
	log.Debug("probe")
	log.Info("starting agent", "data_dir", "/var/lib/shoal")
	log.WithGroup("engine").Warn("slow ping", "took", "3s")
	log.Error("pod network firewall", "err", "line one\nline two")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`<7>level=DEBUG msg=probe node=h1`,
		`<6>level=INFO msg="starting agent" node=h1 data_dir=/var/lib/shoal`,
		`<4>level=WARN msg="slow ping" node=h1 engine.took=3s`,
		`<3>level=ERROR msg="pod network firewall" node=h1 err="line one\nline two"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
}

func TestJournalStreamIsRecognisedByDeviceAndInode(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	st := fi.Sys().(*syscall.Stat_t)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !isJournalStream(f) {
		t.Fatal("the stream JOURNAL_STREAM names was not recognised")
	}
	other, err := os.CreateTemp(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if isJournalStream(other) {
		t.Fatal("a file JOURNAL_STREAM does not name was taken for the journal (an inherited variable)")
	}
	t.Setenv("JOURNAL_STREAM", "")
	if isJournalStream(f) {
		t.Fatal("no JOURNAL_STREAM, yet a journal")
	}
}
