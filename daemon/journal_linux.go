package daemon

import (
	"fmt"
	"os"
	"syscall"
)

// isJournalStream reports whether f is the stream systemd connected to the
// journal: JOURNAL_STREAM holds its device and inode ("dev:ino"); a child
// that inherited the variable but writes elsewhere does not match.
func isJournalStream(f *os.File) bool {
	v := os.Getenv("JOURNAL_STREAM")
	if v == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return v == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
