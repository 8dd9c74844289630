package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// recorder is an engine that builds by reading the whole context and
// recording its entries.
type recorder struct {
	mu      sync.Mutex
	entries []string
	spec    engine.BuildSpec
	calls   int
	images  map[string]string
	fail    error
}

func (r *recorder) BuildImage(ctx context.Context, in io.Reader, spec engine.BuildSpec, progress func(string)) (string, error) {
	r.mu.Lock()
	r.calls++
	r.spec = spec
	r.mu.Unlock()
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the context: %w", err)
		}
		r.mu.Lock()
		r.entries = append(r.entries, h.Name)
		r.mu.Unlock()
	}
	progress("Step 1/1 : FROM base\n")
	if r.fail != nil {
		return "", r.fail
	}
	return "sha256:0123456789abcdef", nil
}

func (r *recorder) InspectImage(_ context.Context, ref string) (engine.ImageInfo, error) {
	if id, ok := r.images[ref]; ok {
		return engine.ImageInfo{ID: id}, nil
	}
	return engine.ImageInfo{}, engine.ErrImageNotFound
}

type entry struct {
	name     string
	typeflag byte
	body     string
	link     string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link}
		if e.typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, e.body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func build(t *testing.T, h *Handler, q url.Values, body []byte) (int, []api.BuildMessage, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+api.BuildPath+"?"+q.Encode(), "application/x-tar", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var st api.Status
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatalf("status %d, not a Status: %s", resp.StatusCode, data)
		}
		return resp.StatusCode, nil, st.Message
	}
	var msgs []api.BuildMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var m api.BuildMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return resp.StatusCode, msgs, string(data)
}

func opts(mod func(*api.BuildOptions)) url.Values {
	o := api.BuildOptions{Namespace: "shop", Tags: []string{"shop-web"}}
	if mod != nil {
		mod(&o)
	}
	return o.Query()
}

func TestBuildStreamsTheEngineOutputAndTheImage(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Builder: func() engine.ImageBuilder { return rec }})
	v := "1.2"
	q := opts(func(o *api.BuildOptions) {
		o.Dockerfile, o.Target = "docker/Dockerfile", "prod"
		o.BuildArgs = map[string]*string{"VERSION": &v, "EMPTY": nil}
		o.Labels = map[string]string{"team": "shop"}
	})
	code, msgs, raw := build(t, h, q, tarOf(t, entry{"docker/Dockerfile", tar.TypeReg, "FROM base\n", ""}, entry{"app.txt", tar.TypeReg, "x", ""}))
	if code != http.StatusOK || len(msgs) != 2 || msgs[0].Stream != "Step 1/1 : FROM base\n" || msgs[1].ImageID != "sha256:0123456789abcdef" {
		t.Fatalf("status %d, answer %s", code, raw)
	}
	s := rec.spec
	if s.Dockerfile != "docker/Dockerfile" || s.Target != "prod" || *s.BuildArgs["VERSION"] != "1.2" || s.BuildArgs["EMPTY"] != nil ||
		s.Labels["team"] != "shop" || len(s.Tags) != 1 || s.Tags[0] != "shop-web" {
		t.Errorf("the engine got %+v", s)
	}
	if strings.Join(rec.entries, ",") != "docker/Dockerfile,app.txt" {
		t.Errorf("the engine read %v", rec.entries)
	}
}

// What leaves the context, or is not a context, is refused with the
// reason, and the engine's build does not succeed with it.
func TestBuildRefusesABadContext(t *testing.T) {
	df := entry{"Dockerfile", tar.TypeReg, "FROM base\n", ""}
	for _, tc := range []struct {
		name    string
		body    []byte
		q       url.Values
		code    int
		message string
	}{
		{"dotdot", tarOf(t, df, entry{"../etc/passwd", tar.TypeReg, "x", ""}), opts(nil), 400, `the entry "../etc/passwd" leaves the context`},
		{"absolute", tarOf(t, df, entry{"/etc/passwd", tar.TypeReg, "x", ""}), opts(nil), 400, `the entry "/etc/passwd" leaves the context`},
		{"hardlink", tarOf(t, df, entry{"l", tar.TypeLink, "", "../../etc/shadow"}), opts(nil), 400, "hard link l -> ../../etc/shadow leaves the context"},
		{"device", tarOf(t, df, entry{"null", tar.TypeChar, "", ""}), opts(nil), 400, "null is a special file"},
		{"no dockerfile", tarOf(t, entry{"app", tar.TypeReg, "x", ""}), opts(nil), 400, `the Dockerfile "Dockerfile" is not in the context`},
		{"not a tar", []byte(strings.Repeat("garbage!", 200)), opts(nil), 400, "not a tar stream"},
		{"dockerfile outside", tarOf(t, df), opts(func(o *api.BuildOptions) { o.Dockerfile = "../Dockerfile" }), 400, `dockerfile "../Dockerfile" is not a file inside the build context`},
		{"bad tag", tarOf(t, df), opts(func(o *api.BuildOptions) { o.Tags = []string{"Bad Name"} }), 400, `tag "Bad Name" is not an image name`},
		{"no namespace", tarOf(t, df), opts(func(o *api.BuildOptions) { o.Namespace = "" }), 400, "namespace"},
		{"unknown parameter", tarOf(t, df), url.Values{"namespace": {"shop"}, "tag": {"x"}, "network": {"host"}}, 400, `unknown parameter "network"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := New(Config{Builder: func() engine.ImageBuilder { return rec }})
			code, msgs, raw := build(t, h, tc.q, tc.body)
			if code == http.StatusOK {
				// The build started: the refusal must be its last message,
				// with no image.
				last := msgs[len(msgs)-1]
				if last.ImageID != "" || !strings.Contains(last.Error, tc.message) {
					t.Fatalf("answer %s, want an error containing %q", raw, tc.message)
				}
				return
			}
			if code != tc.code || !strings.Contains(raw, tc.message) {
				t.Fatalf("status %d %s, want %d containing %q", code, raw, tc.code, tc.message)
			}
		})
	}
}

func TestBuildIsBounded(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Builder: func() engine.ImageBuilder { return rec }, MaxContextBytes: 4096})
	code, msgs, raw := build(t, h, opts(nil), tarOf(t, entry{"Dockerfile", tar.TypeReg, "FROM base\n", ""}, entry{"big", tar.TypeReg, strings.Repeat("x", 10000), ""}))
	if !(code == http.StatusRequestEntityTooLarge && strings.Contains(raw, "the context is larger than 4096 bytes")) &&
		!(len(msgs) > 0 && strings.Contains(msgs[len(msgs)-1].Error, "the context is larger than 4096 bytes")) {
		t.Fatalf("status %d %s, want the context refused as too large", code, raw)
	}
	// No engine yet: unavailable, not a crash.
	h = New(Config{Builder: func() engine.ImageBuilder { return nil }})
	if code, _, raw := build(t, h, opts(nil), tarOf(t, entry{"Dockerfile", tar.TypeReg, "FROM base\n", ""})); code != http.StatusServiceUnavailable {
		t.Errorf("without an engine: %d %s", code, raw)
	}
}

// With ifMissing, an image the engine has is answered at once and
// nothing is built.
func TestBuildIfMissingSkipsAnImageThatIsThere(t *testing.T) {
	rec := &recorder{images: map[string]string{"shop-web": "sha256:aaa"}}
	h := New(Config{Builder: func() engine.ImageBuilder { return rec }})
	q := opts(func(o *api.BuildOptions) { o.IfMissing = true })
	code, msgs, raw := build(t, h, q, tarOf(t, entry{"Dockerfile", tar.TypeReg, "FROM base\n", ""}))
	if code != 200 || len(msgs) != 1 || !msgs[0].Existing || msgs[0].ImageID != "sha256:aaa" || rec.calls != 0 {
		t.Fatalf("status %d %s, calls %d", code, raw, rec.calls)
	}
	q = opts(func(o *api.BuildOptions) { o.IfMissing, o.Tags = true, []string{"shop-api"} })
	if _, msgs, raw := build(t, h, q, tarOf(t, entry{"Dockerfile", tar.TypeReg, "FROM base\n", ""})); rec.calls != 1 || msgs[len(msgs)-1].ImageID == "" {
		t.Fatalf("a missing image was not built: %s", raw)
	}
}

// A build needs create on pods in the namespace it names.
func TestBuildAccessIsCreatePodsInTheNamespace(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, api.BuildPath+"?"+opts(nil).Encode(), nil)
	reqs, err := Access(r)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%v %v", reqs, err)
	}
	a := reqs[0].ResourceAttributes
	if a == nil || a.Verb != "create" || a.Resource != "pods" || a.Namespace != "shop" || a.Group != "" {
		t.Errorf("access %+v", a)
	}
}

// A namespace at restricted refuses builds: their steps run as root.
func TestBuildRefusedForARestrictedNamespace(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Builder: func() engine.ImageBuilder { return rec },
		EnforceLevel: func(_ context.Context, ns string) (string, error) {
			if ns == "strict" {
				return api.PodSecurityRestricted, nil
			}
			return "baseline", nil
		}})
	df := tarOf(t, entry{"Dockerfile", tar.TypeReg, "FROM base\n", ""})
	code, _, msg := build(t, h, opts(func(o *api.BuildOptions) { o.Namespace = "strict" }), df)
	if code != http.StatusForbidden || !strings.Contains(msg, `namespace "strict" enforces Pod Security "restricted"`) || rec.calls != 0 {
		t.Fatalf("status %d %s, %d builds", code, msg, rec.calls)
	}
	if code, _, msg := build(t, h, opts(nil), df); code != http.StatusOK || rec.calls != 1 {
		t.Fatalf("baseline namespace: %d %s", code, msg)
	}
}
