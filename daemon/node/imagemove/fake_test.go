package imagemove

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// entry is one file of a test archive.
type entry struct {
	name     string
	typ      byte
	body     []byte
	linkname string
}

// testImage is a fake image: its configuration, one layer, and the
// entries of its docker save archive (legacy layout, as Engine 20.10
// writes it), which tests may change before archive() writes them.
type testImage struct {
	id      string
	config  []byte
	entries []entry
}

func newTestImage(t *testing.T, seed string, tags ...string) *testImage {
	t.Helper()
	layer := tarOf(t, entry{name: "hello.txt", typ: tar.TypeReg, body: []byte("hello " + seed)})
	diff := sha256.Sum256(layer)
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diff[:])}}})
	sum := sha256.Sum256(config)
	idHex := hex.EncodeToString(sum[:])
	layerID := hex.EncodeToString(diff[:])
	manifest, _ := json.Marshal([]map[string]any{{"Config": idHex + ".json", "RepoTags": tags, "Layers": []string{layerID + "/layer.tar"}}})
	return &testImage{id: "sha256:" + idHex, config: config, entries: []entry{
		{name: layerID + "/", typ: tar.TypeDir},
		{name: layerID + "/VERSION", typ: tar.TypeReg, body: []byte("1.0")},
		{name: layerID + "/json", typ: tar.TypeReg, body: []byte(`{"id":"` + layerID + `"}`)},
		{name: layerID + "/layer.tar", typ: tar.TypeReg, body: layer},
		{name: idHex + ".json", typ: tar.TypeReg, body: config},
		{name: "manifest.json", typ: tar.TypeReg, body: manifest},
		{name: "repositories", typ: tar.TypeReg, body: []byte(`{"evil":{"latest":"` + idHex + `"}}`)},
	}}
}

func (img *testImage) archive(t *testing.T) []byte {
	t.Helper()
	return tarOf(t, img.entries...)
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.linkname}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeEngine holds images by name and ID, saves the archives it was given
// and loads archives as the real engine does: the whole archive first,
// then the images of manifest.json, each configuration checked against its
// name.
type fakeEngine struct {
	mu       sync.Mutex
	names    map[string]string // tag or ID -> ID
	archives map[string][]byte // ID -> save archive
	loads    int
	saves    int
	// loadStarted, when set, is closed by the first load.
	loadStarted chan struct{}
	// release, when set, holds loads until it is closed.
	release chan struct{}
	// saveGate, when set, holds every save after its first 1000 bytes
	// until it is closed; saveFail then ends the save with that error.
	saveGate chan struct{}
	saveFail error
}

var _ Engine = (*fakeEngine)(nil)

func newFakeEngine() *fakeEngine {
	return &fakeEngine{names: map[string]string{}, archives: map[string][]byte{}}
}

// hold gives the engine img under its tags.
func (f *fakeEngine) hold(t *testing.T, img *testImage, tags ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names[img.id] = img.id
	for _, tag := range tags {
		f.names[tag] = img.id
	}
	f.archives[img.id] = img.archive(t)
}

func (f *fakeEngine) has(ref string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names[ref]
}

func (f *fakeEngine) InspectImage(_ context.Context, ref string) (engine.ImageInfo, error) {
	if id := f.has(ref); id != "" {
		return engine.ImageInfo{ID: id}, nil
	}
	return engine.ImageInfo{}, fmt.Errorf("inspect %s: %w", ref, engine.ErrImageNotFound)
}

func (f *fakeEngine) ListImages(context.Context) ([]engine.ImageSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byID := map[string]*engine.ImageSummary{}
	var out []engine.ImageSummary
	for name, id := range f.names {
		s := byID[id]
		if s == nil {
			out = append(out, engine.ImageSummary{ID: id, Size: int64(len(f.archives[id]))})
			s = &out[len(out)-1]
			byID[id] = s
		}
		if name != id {
			s.RepoTags = append(s.RepoTags, name)
		}
	}
	return out, nil
}

func (f *fakeEngine) SaveImage(_ context.Context, refs ...string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saves++
	a, ok := f.archives[f.names[refs[0]]]
	if !ok {
		return nil, engine.ErrImageNotFound
	}
	if f.saveGate == nil {
		return io.NopCloser(bytes.NewReader(a)), nil
	}
	pr, pw := io.Pipe()
	gate, fail := f.saveGate, f.saveFail
	go func() {
		_, _ = pw.Write(a[:1000])
		<-gate
		if fail != nil {
			pw.CloseWithError(fail)
			return
		}
		_, _ = pw.Write(a[1000:])
		pw.Close()
	}()
	return pr, nil
}

func (f *fakeEngine) LoadImage(_ context.Context, r io.Reader) error {
	f.mu.Lock()
	f.loads++
	if f.loadStarted != nil && f.loads == 1 {
		close(f.loadStarted)
	}
	release := f.release
	f.mu.Unlock()
	if release != nil {
		<-release
	}
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		return fmt.Errorf("load: manifest: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range manifest {
		sum := sha256.Sum256(files[m.Config])
		id := "sha256:" + hex.EncodeToString(sum[:])
		f.names[id] = id
		for _, tag := range m.RepoTags {
			f.names[tag] = id
		}
	}
	return nil
}
