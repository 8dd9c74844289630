//go:build !linux

package daemon

import "os"

func isJournalStream(*os.File) bool { return false }
