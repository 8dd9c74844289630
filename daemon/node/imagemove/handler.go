package imagemove

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// SavePath is the internal endpoint (served on the gossip port to node
// certificates only) that streams `docker save` of one image: GET
// SavePath?id=sha256:<hex>.
const SavePath = "/shoal/v1/internal/images/save"

// HeaderImageID names the image a save carries.
const HeaderImageID = "X-Shoal-Image-Id"

// Bounds of the save server.
const (
	// maxSpools bounds the images being saved or kept at once; beyond,
	// a request for another image is a 503 and the asker tries another
	// peer.
	maxSpools = 2
	// maxReaders bounds the requests reading one save at once.
	maxReaders = 8
	// spoolKeep is how long a finished save stays for late askers (a
	// host that starts its pod a moment after another, a retry).
	spoolKeep = 30 * time.Second
)

// Server serves saves of the local engine's images to other agents.
//
// A save of one image is made once and shared: the engine's stream is
// spooled to a file that every request for that image reads from its
// start while the save goes on. Hosts asking at once (a new image's pods
// starting on several hosts) so cost this engine one save, not one each:
// concurrent saves of one image on one engine take several times as long
// as one.
type Server struct {
	eng Engine
	dir string
	log *slog.Logger

	mu     sync.Mutex
	ctx    context.Context // Run's; nil before Run
	spools map[string]*spool
	wg     sync.WaitGroup
	// started closes once Run has made the spool directory.
	started chan struct{}
}

// NewServer returns a save server that spools into dir (emptied by Run).
func NewServer(eng Engine, dir string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{eng: eng, dir: dir, log: log, spools: map[string]*spool{}, started: make(chan struct{})}
}

// Run serves until ctx ends: it empties the spool directory, drops saves
// nobody read for spoolKeep, and at the end waits for the saves under way
// and removes their files.
func (s *Server) Run(ctx context.Context) error {
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("image spool %s: %w", s.dir, err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("image spool %s: %w", s.dir, err)
	}
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	close(s.started)
	t := time.NewTicker(spoolKeep / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.wg.Wait()
			s.mu.Lock()
			for id, sp := range s.spools {
				_ = os.Remove(sp.path)
				delete(s.spools, id)
			}
			s.mu.Unlock()
			return nil
		case <-t.C:
			s.expire(time.Now())
		}
	}
}

// Started is closed once Run serves.
func (s *Server) Started() <-chan struct{} { return s.started }

// expire drops finished saves nobody reads any more.
func (s *Server) expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sp := range s.spools {
		if sp.idle(now) > spoolKeep {
			_ = os.Remove(sp.path) // readers that hold it open read on
			delete(s.spools, id)
		}
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if !api.IsImageID(id) {
		http.Error(w, fmt.Sprintf("query parameter id: %q is not an image ID (sha256: and 64 hex digits)", id), http.StatusBadRequest)
		return
	}
	sp, code, err := s.open(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	defer sp.release()
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set(HeaderImageID, id)
	n, err := sp.copyTo(r.Context(), w)
	if err != nil {
		s.log.Warn("sending an image to a peer broke off", "id", id, "sent", n, "err", err)
		// Cut the connection: a cleanly ended reply would look like a
		// whole archive.
		panic(http.ErrAbortHandler)
	}
	s.log.Debug("image sent to a peer", "id", id, "bytes", n)
}

// open joins the save of id, starting it when there is none.
func (s *Server) open(ctx context.Context, id string) (*spool, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return nil, http.StatusServiceUnavailable, errors.New("the agent is still starting")
	}
	if sp := s.spools[id]; sp != nil {
		if !sp.acquire() {
			return nil, http.StatusServiceUnavailable, errors.New("this agent is sending that image to many peers; ask another")
		}
		return sp, 0, nil
	}
	if len(s.spools) >= maxSpools {
		s.dropIdleLocked()
		if len(s.spools) >= maxSpools {
			return nil, http.StatusServiceUnavailable, errors.New("this agent is sending other images; ask another peer")
		}
	}
	// Only an image this engine holds under exactly that ID is sent.
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	info, err := s.eng.InspectImage(ictx, id)
	cancel()
	switch {
	case errors.Is(err, engine.ErrImageNotFound) || (err == nil && info.ID != id):
		return nil, http.StatusNotFound, fmt.Errorf("image %s is not here", id)
	case err != nil:
		return nil, http.StatusServiceUnavailable, err
	}
	path := filepath.Join(s.dir, strings.TrimPrefix(id, "sha256:")+".tar")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("image spool: %w", err)
	}
	sp := newSpool(id, path)
	sp.acquire()
	s.spools[id] = sp
	s.wg.Go(func() { s.fill(s.ctx, sp, f) })
	return sp, 0, nil
}

// dropIdleLocked makes room by dropping finished saves nobody reads.
func (s *Server) dropIdleLocked() {
	for id, sp := range s.spools {
		if sp.idle(time.Now()) > 0 {
			_ = os.Remove(sp.path)
			delete(s.spools, id)
		}
	}
}

// fill copies the engine's save of sp's image into its file. A failed
// save is forgotten at once, so the next request tries again.
func (s *Server) fill(ctx context.Context, sp *spool, f *os.File) {
	err := func() error {
		defer f.Close()
		rc, err := s.eng.SaveImage(ctx, sp.id)
		if err != nil {
			return err
		}
		defer rc.Close()
		buf := make([]byte, 256<<10)
		for {
			n, rerr := rc.Read(buf)
			if n > 0 {
				if _, err := f.Write(buf[:n]); err != nil {
					return fmt.Errorf("image spool: %w", err)
				}
				sp.grow(int64(n))
			}
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			if rerr != nil {
				return rerr
			}
		}
	}()
	sp.finish(err)
	if err != nil {
		s.log.Warn("saving an image for a peer failed", "id", sp.id, "err", err)
		s.mu.Lock()
		if s.spools[sp.id] == sp {
			delete(s.spools, sp.id)
			_ = os.Remove(sp.path)
		}
		s.mu.Unlock()
	}
}

// spool is one image's save, growing in a file as the engine writes it.
type spool struct {
	id, path string

	mu       sync.Mutex
	size     int64
	done     bool
	err      error
	changed  chan struct{} // closed and replaced at every change
	readers  int
	lastRead time.Time
}

func newSpool(id, path string) *spool {
	return &spool{id: id, path: path, changed: make(chan struct{}), lastRead: time.Now()}
}

func (sp *spool) acquire() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.readers >= maxReaders {
		return false
	}
	sp.readers++
	return true
}

func (sp *spool) release() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.readers--
	sp.lastRead = time.Now()
}

// idle is how long a finished save has had no reader; 0 while it is
// read or written.
func (sp *spool) idle(now time.Time) time.Duration {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.done || sp.readers > 0 {
		return 0
	}
	return max(now.Sub(sp.lastRead), time.Nanosecond)
}

func (sp *spool) grow(n int64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.size += n
	close(sp.changed)
	sp.changed = make(chan struct{})
}

func (sp *spool) finish(err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.done, sp.err = true, err
	close(sp.changed)
	sp.changed = make(chan struct{})
}

// copyTo writes the save from its start, following the file as it grows,
// until the save is complete.
func (sp *spool) copyTo(ctx context.Context, w io.Writer) (int64, error) {
	f, err := os.Open(sp.path)
	if err != nil {
		return 0, fmt.Errorf("image spool: %w", err)
	}
	defer f.Close()
	var off int64
	buf := make([]byte, 256<<10)
	for {
		sp.mu.Lock()
		size, done, saveErr, changed := sp.size, sp.done, sp.err, sp.changed
		sp.mu.Unlock()
		for off < size {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return off, werr
				}
				off += int64(n)
			}
			if err != nil && (n == 0 || !errors.Is(err, io.EOF)) {
				return off, fmt.Errorf("image spool: %w", err)
			}
		}
		if done {
			return off, saveErr
		}
		select {
		case <-ctx.Done():
			return off, ctx.Err()
		case <-changed:
		}
	}
}
