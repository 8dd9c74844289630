package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A projected file that cannot be given to the pod's user fails the
// volume, with the reason: a non-root pod could not read it (mode 0400).
func TestProjectReportsAFailedChown(t *testing.T) {
	denied := errors.New("operation not permitted")
	chown = func(string, int, int) error { return denied }
	defer func() { chown = os.Chown }()
	dir := t.TempDir()
	err := project(dir, map[string][]byte{"password": []byte("s3cret")}, nil, nil, fileOwner{uid: 1000, gid: -1})
	if !errors.Is(err, denied) || !strings.Contains(err.Error(), "uid 1000") {
		t.Fatalf("project with a failing chown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "password")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file was put in place anyway: %v", err)
	}
}
