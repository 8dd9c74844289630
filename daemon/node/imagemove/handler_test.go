package imagemove

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

func get(t *testing.T, url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func TestPeersAskingAtOnceShareOneSave(t *testing.T) {
	eng := newFakeEngine()
	img := newTestImage(t, "a")
	eng.hold(t, img)
	eng.saveGate = make(chan struct{})
	saves := startServer(t, eng)
	srv := httptest.NewServer(saves)
	defer srv.Close()
	url := srv.URL + SavePath + "?id=" + img.id
	type answer struct {
		body []byte
		err  error
	}
	answers := make(chan answer, 2)
	go func() { b, err := get(t, url); answers <- answer{b, err} }()
	poll.Until(t, 5*time.Second, "the save started", func() error {
		eng.mu.Lock()
		defer eng.mu.Unlock()
		if eng.saves != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	go func() { b, err := get(t, url); answers <- answer{b, err} }()
	poll.Until(t, 5*time.Second, "the second request joined the save under way", func() error {
		saves.mu.Lock()
		sp := saves.spools[img.id]
		saves.mu.Unlock()
		if sp == nil {
			return errors.New("no save")
		}
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if sp.readers != 2 || sp.done {
			return errors.New("not yet")
		}
		return nil
	})
	close(eng.saveGate)
	want := img.archive(t)
	for range 2 {
		a := <-answers
		if a.err != nil || !bytes.Equal(a.body, want) {
			t.Fatalf("a reader got %d bytes (%v), want the whole archive of %d", len(a.body), a.err, len(want))
		}
	}
	// A late asker reads the kept save.
	if b, err := get(t, url); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("late reader: %d bytes, %v", len(b), err)
	}
	if eng.saves != 1 {
		t.Errorf("%d saves, want 1", eng.saves)
	}
}

func TestASaveThatBreaksCutsTheReplyAndIsMadeAgain(t *testing.T) {
	eng := newFakeEngine()
	img := newTestImage(t, "a")
	eng.hold(t, img)
	eng.saveGate, eng.saveFail = make(chan struct{}), errors.New("disk error")
	close(eng.saveGate)
	srv := httptest.NewServer(startServer(t, eng))
	defer srv.Close()
	url := srv.URL + SavePath + "?id=" + img.id
	if b, err := get(t, url); err == nil {
		t.Fatalf("a broken save ended cleanly after %d bytes", len(b))
	}
	eng.mu.Lock()
	eng.saveGate, eng.saveFail = nil, nil
	eng.mu.Unlock()
	poll.Until(t, 5*time.Second, "the next request saves again", func() error {
		b, err := get(t, url)
		if err != nil || !bytes.Equal(b, img.archive(t)) {
			return errors.New("not the whole archive")
		}
		return nil
	})
}
