package compose

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConvert: whatever compose-go's loader accepts, the conversion ends
// in objects or an error, never a panic, and the objects encode.
func FuzzConvert(f *testing.F) {
	// The loader's warnings would fill the fuzz worker's unread output
	// pipe and block it.
	LogWarningsTo(io.Discard)
	entries, _ := os.ReadDir(corpusDir)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(corpusDir, e.Name())); err == nil && filepath.Ext(e.Name()) != ".md" {
			f.Add(b)
		}
	}
	f.Add([]byte(shopProject))
	f.Fuzz(func(t *testing.T, text []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, text, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(context.Background(), LoadOptions{Files: []string{file}, ProjectName: "fuzz", Environment: []string{}})
		if err != nil {
			return
		}
		res, err := Convert(p, Options{})
		if err != nil {
			return
		}
		if _, err := WriteYAML(res.Objects); err != nil {
			t.Fatalf("objects do not encode: %v", err)
		}
	})
}
