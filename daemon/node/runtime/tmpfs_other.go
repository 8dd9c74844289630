//go:build !linux

package runtime

import "os"

// ensureTmpfs only makes the directory where no tmpfs exists.
func ensureTmpfs(dir string) error { return os.MkdirAll(dir, 0o755) }
