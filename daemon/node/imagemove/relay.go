package imagemove

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"regexp"
	"strings"
)

// ErrBadArchive: what a peer sent is not the save of the image asked for.
var ErrBadArchive = errors.New("imagemove: refused archive")

// Bounds of the small files of a save.
const (
	maxMetaBytes   = 1 << 20  // manifest.json, <layer>/json, VERSION
	maxConfigBytes = 16 << 20 // an image's configuration
)

var (
	hex64      = `[0-9a-f]{64}`
	layerDir   = regexp.MustCompile(`^` + hex64 + `$`)
	layerFile  = regexp.MustCompile(`^(` + hex64 + `)/(VERSION|json|layer\.tar)$`)
	configFile = regexp.MustCompile(`^(` + hex64 + `)\.json$`)
	blobFile   = regexp.MustCompile(`^blobs/sha256/(` + hex64 + `)$`)
	layerLink  = regexp.MustCompile(`^\.\./` + hex64 + `/layer\.tar$`)
)

// relay copies the `docker save` tar of image id from src into tw,
// checking every entry, and returns the bytes of content copied. What it
// writes is what the engine loads, so it lets through only the entries a
// save of one image makes, with clean headers:
//   - manifest.json, which must name exactly the image id as its
//     configuration; its tags are replaced by tag (none when ""), so a
//     peer cannot tag anything here;
//   - the configuration (<hex>.json or blobs/sha256/<hex>), whose sha256
//     must be its name, and that name id; every blob is checked alike;
//   - layer directories (<hex>/VERSION, json, layer.tar, or a link to
//     another layer.tar), whose content the engine checks against the
//     configuration's diff IDs as it loads them.
//
// repositories, index.json and oci-layout are dropped: they carry names,
// and the engine loads from manifest.json. The copy stops at limit bytes.
// On error the caller must abort the load (close the pipe with the error)
// rather than finish the tar.
func relay(tw *tar.Writer, src io.Reader, id, tag string, limit int64) (int64, error) {
	wantHex := strings.TrimPrefix(id, "sha256:")
	tr := tar.NewReader(src)
	var total int64
	var manifestSeen, configSeen bool
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return total, fmt.Errorf("%w: reading the archive: %v", ErrBadArchive, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if h.Size < 0 || total+h.Size > limit {
			return total, fmt.Errorf("%w: larger than %d bytes", ErrBadArchive, limit)
		}
		switch {
		case name == "repositories" || name == "index.json" || name == "oci-layout":
			continue // names come from this agent; see above
		case name == "blobs" || name == "blobs/sha256" || layerDir.MatchString(name):
			if h.Typeflag != tar.TypeDir {
				return total, fmt.Errorf("%w: %s is not a directory", ErrBadArchive, name)
			}
			if err := tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: h.ModTime}); err != nil {
				return total, err
			}
			continue
		case name == "manifest.json":
			if manifestSeen {
				return total, fmt.Errorf("%w: two manifests", ErrBadArchive)
			}
			manifestSeen = true
			if err := regular(h, maxMetaBytes); err != nil {
				return total, err
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxMetaBytes))
			if err != nil {
				return total, fmt.Errorf("%w: reading manifest.json: %v", ErrBadArchive, err)
			}
			out, err := checkManifest(b, wantHex, tag)
			if err != nil {
				return total, err
			}
			if err := writeFile(tw, name, h, bytes.NewReader(out), int64(len(out)), nil); err != nil {
				return total, err
			}
			total += int64(len(out))
			continue
		}
		// Content-addressed files: the configuration and OCI blobs.
		if m := configFile.FindStringSubmatch(name); m != nil {
			if err := regular(h, maxConfigBytes); err != nil {
				return total, err
			}
			if err := writeFile(tw, name, h, tr, h.Size, checkDigest(name, m[1])); err != nil {
				return total, err
			}
			configSeen = configSeen || m[1] == wantHex
			total += h.Size
			continue
		}
		if m := blobFile.FindStringSubmatch(name); m != nil {
			if err := regular(h, limit); err != nil {
				return total, err
			}
			if err := writeFile(tw, name, h, tr, h.Size, checkDigest(name, m[1])); err != nil {
				return total, err
			}
			configSeen = configSeen || m[1] == wantHex
			total += h.Size
			continue
		}
		m := layerFile.FindStringSubmatch(name)
		if m == nil {
			return total, fmt.Errorf("%w: unexpected entry %q", ErrBadArchive, h.Name)
		}
		if m[2] == "layer.tar" && h.Typeflag == tar.TypeSymlink {
			if !layerLink.MatchString(h.Linkname) {
				return total, fmt.Errorf("%w: %s links to %q", ErrBadArchive, name, h.Linkname)
			}
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: h.Linkname, Mode: 0o644, ModTime: h.ModTime}); err != nil {
				return total, err
			}
			continue
		}
		max := int64(maxMetaBytes)
		if m[2] == "layer.tar" {
			max = limit
		}
		if err := regular(h, max); err != nil {
			return total, err
		}
		if err := writeFile(tw, name, h, tr, h.Size, nil); err != nil {
			return total, err
		}
		total += h.Size
	}
	if !manifestSeen || !configSeen {
		return total, fmt.Errorf("%w: the archive lacks the manifest or the configuration of %s", ErrBadArchive, id)
	}
	return total, nil
}

// regular checks that an entry is a plain file of at most max bytes.
func regular(h *tar.Header, max int64) error {
	if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA { //nolint:staticcheck // old writers use TypeRegA
		return fmt.Errorf("%w: %s is not a regular file", ErrBadArchive, h.Name)
	}
	if h.Size > max {
		return fmt.Errorf("%w: %s has %d bytes, at most %d", ErrBadArchive, h.Name, h.Size, max)
	}
	return nil
}

// checkDigest returns a check that a file's sha256 is the one its name
// says.
func checkDigest(name, wantHex string) func(hash.Hash) error {
	return func(h hash.Hash) error {
		if got := hex.EncodeToString(h.Sum(nil)); got != wantHex {
			return fmt.Errorf("%w: %s has digest sha256:%s", ErrBadArchive, name, got)
		}
		return nil
	}
}

// writeFile copies one regular file under a clean header, hashing it
// when check is set.
func writeFile(tw *tar.Writer, name string, h *tar.Header, r io.Reader, size int64, check func(hash.Hash) error) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size, Mode: 0o644, ModTime: h.ModTime}); err != nil {
		return err
	}
	var sum hash.Hash
	w := io.Writer(tw)
	if check != nil {
		sum = sha256.New()
		w = io.MultiWriter(tw, sum)
	}
	if n, err := io.CopyN(w, r, size); err != nil {
		return fmt.Errorf("%w: %s: %d of %d bytes: %v", ErrBadArchive, name, n, size, err)
	}
	if check != nil {
		return check(sum)
	}
	return nil
}

// checkManifest checks a save's manifest.json and gives it the tags of
// this agent's choosing.
func checkManifest(b []byte, wantHex, tag string) ([]byte, error) {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrBadArchive, err)
	}
	if len(entries) != 1 {
		return nil, fmt.Errorf("%w: manifest.json lists %d images, not 1", ErrBadArchive, len(entries))
	}
	e := entries[0]
	var cfg string
	var layers []string
	if err := json.Unmarshal(e["Config"], &cfg); err != nil {
		return nil, fmt.Errorf("%w: manifest.json Config: %v", ErrBadArchive, err)
	}
	if cfg != wantHex+".json" && cfg != "blobs/sha256/"+wantHex {
		return nil, fmt.Errorf("%w: manifest.json names configuration %q, not sha256:%s", ErrBadArchive, cfg, wantHex)
	}
	if err := json.Unmarshal(e["Layers"], &layers); err != nil {
		return nil, fmt.Errorf("%w: manifest.json Layers: %v", ErrBadArchive, err)
	}
	for _, l := range layers {
		if m := layerFile.FindStringSubmatch(l); (m == nil || m[2] != "layer.tar") && !blobFile.MatchString(l) {
			return nil, fmt.Errorf("%w: manifest.json names layer %q", ErrBadArchive, l)
		}
	}
	delete(e, "RepoTags")
	if tag != "" {
		t, _ := json.Marshal([]string{tag})
		e["RepoTags"] = t
	}
	return json.Marshal(entries)
}
