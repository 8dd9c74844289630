package imagemove

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// relayed runs relay over an archive and returns what it wrote.
func relayed(t *testing.T, archive []byte, id, tag string, limit int64) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	_, err := relay(tw, bytes.NewReader(archive), id, tag, limit)
	if err == nil {
		err = tw.Close()
	}
	return out.Bytes(), err
}

func names(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
}

func TestRelayPassesASaveAndSetsOnlyTheAskedTag(t *testing.T) {
	img := newTestImage(t, "a", "evil:latest", "app:1")
	out, err := relayed(t, img.archive(t), img.id, "app:1", 1<<20)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	files := names(t, out)
	if _, ok := files["repositories"]; ok {
		t.Error("repositories was passed on; it carries names of the peer's choosing")
	}
	var m []struct{ RepoTags []string }
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "app:1" {
		t.Errorf("manifest tags = %+v, want exactly app:1", m)
	}
	if !bytes.Equal(files[strings.TrimPrefix(img.id, "sha256:")+".json"], img.config) {
		t.Error("the configuration did not pass unchanged")
	}
}

func TestRelayByIDLeavesTheImageUntagged(t *testing.T) {
	img := newTestImage(t, "a", "evil:latest")
	out, err := relayed(t, img.archive(t), img.id, "", 1<<20)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	if m := string(names(t, out)["manifest.json"]); strings.Contains(m, "RepoTags") {
		t.Errorf("manifest keeps tags: %s", m)
	}
}

func TestRelayRefusesWhatIsNotTheSaveOfTheAskedImage(t *testing.T) {
	other := newTestImage(t, "other")
	cases := []struct {
		name   string
		change func(img *testImage)
		id     func(img *testImage) string
		limit  int64
		want   string
	}{
		{name: "another image than asked", id: func(*testImage) string { return other.id }, want: "names configuration"},
		{name: "configuration not matching its name", change: func(img *testImage) {
			img.entries[4].body = append([]byte(nil), other.config...)
		}, want: "has digest"},
		{name: "path out of the archive", change: func(img *testImage) {
			img.entries = append(img.entries, entry{name: "../../etc/cron.d/x", typ: tar.TypeReg, body: []byte("x")})
		}, want: "unexpected entry"},
		{name: "unknown file", change: func(img *testImage) {
			img.entries = append(img.entries, entry{name: "run.sh", typ: tar.TypeReg, body: []byte("x")})
		}, want: "unexpected entry"},
		{name: "hard link", change: func(img *testImage) {
			img.entries[3] = entry{name: img.entries[3].name, typ: tar.TypeLink, linkname: "/etc/shadow"}
		}, want: "not a regular file"},
		{name: "symlink out of the archive", change: func(img *testImage) {
			img.entries[3] = entry{name: img.entries[3].name, typ: tar.TypeSymlink, linkname: "/etc/shadow"}
		}, want: "links to"},
		{name: "two images in the manifest", change: func(img *testImage) {
			img.entries[5].body = []byte(`[{"Config":"x.json","Layers":[]},{"Config":"y.json","Layers":[]}]`)
		}, want: "lists 2 images"},
		{name: "layer path out of the archive", change: func(img *testImage) {
			m := strings.Replace(string(img.entries[5].body), `"Layers":[`, `"Layers":["../../x",`, 1)
			img.entries[5].body = []byte(m)
		}, want: "names layer"},
		{name: "no manifest", change: func(img *testImage) { img.entries = img.entries[:5] }, want: "lacks the manifest"},
		{name: "no configuration", change: func(img *testImage) {
			img.entries = append(img.entries[:4:4], img.entries[5:]...)
		}, want: "lacks the manifest or the configuration"},
		{name: "larger than the limit", limit: 100, want: "larger than"},
		{name: "not a tar", change: func(img *testImage) { img.entries = nil }, want: "lacks the manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := newTestImage(t, "a", "app:1")
			if tc.change != nil {
				tc.change(img)
			}
			id := img.id
			if tc.id != nil {
				id = tc.id(img)
			}
			limit := tc.limit
			if limit == 0 {
				limit = 1 << 20
			}
			_, err := relayed(t, img.archive(t), id, "app:1", limit)
			if !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("relay = %v, want ErrBadArchive saying %q", err, tc.want)
			}
		})
	}
}

func TestRelayAcceptsTheOCILayoutOfNewerEngines(t *testing.T) {
	img := newTestImage(t, "a")
	idHex := strings.TrimPrefix(img.id, "sha256:")
	layer := img.entries[3].body
	layerHex := strings.TrimSuffix(img.entries[3].name, "/layer.tar")
	img.entries = []entry{
		{name: "blobs/", typ: tar.TypeDir},
		{name: "blobs/sha256/", typ: tar.TypeDir},
		{name: "blobs/sha256/" + idHex, typ: tar.TypeReg, body: img.config},
		{name: "blobs/sha256/" + layerHex, typ: tar.TypeReg, body: layer},
		{name: "index.json", typ: tar.TypeReg, body: []byte(`{"manifests":[{"annotations":{"io.containerd.image.name":"evil"}}]}`)},
		{name: "oci-layout", typ: tar.TypeReg, body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "manifest.json", typ: tar.TypeReg, body: []byte(`[{"Config":"blobs/sha256/` + idHex + `","RepoTags":null,"Layers":["blobs/sha256/` + layerHex + `"]}]`)},
	}
	out, err := relayed(t, img.archive(t), img.id, "app:2", 1<<20)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	if _, ok := names(t, out)["index.json"]; ok {
		t.Error("index.json was passed on")
	}
	// A blob whose content is not its name is refused.
	img.entries[3].body = []byte("tampered")
	if _, err := relayed(t, img.archive(t), img.id, "app:2", 1<<20); !errors.Is(err, ErrBadArchive) {
		t.Fatalf("a tampered blob passed: %v", err)
	}
}
