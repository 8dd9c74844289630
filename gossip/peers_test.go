package gossip

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestPeerBookRemembersAndExpires(t *testing.T) {
	dir := t.TempDir()
	b, err := loadPeerBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.observe([]Member{{Name: "h2", Addr: "10.0.0.2:7481"}, {Name: "h3", Addr: "10.0.0.3:7481"}}, t0)
	b.observe([]Member{{Name: "h2", Addr: "10.0.0.22:7481"}}, t0.Add(time.Hour))
	if err := b.save(); err != nil {
		t.Fatal(err)
	}
	b2, err := loadPeerBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []peerRecord{{Name: "h2", Addr: "10.0.0.22:7481", Seen: t0.Add(time.Hour)}, {Name: "h3", Addr: "10.0.0.3:7481", Seen: t0}}
	if got := b2.peers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("remembered %+v, want %+v", got, want)
	}
	if !b2.lastContact().Equal(t0.Add(time.Hour)) {
		t.Fatalf("last contact %v", b2.lastContact())
	}
	// Alone, contact stays; h3 is forgotten after peerExpiry unseen.
	b2.observe(nil, t0.Add(peerExpiry+30*time.Minute))
	if got := b2.peers(); len(got) != 1 || got[0].Name != "h2" {
		t.Fatalf("after expiry: %+v", got)
	}
	if !b2.lastContact().Equal(t0.Add(time.Hour)) {
		t.Fatal("last contact moved while alone")
	}
}

func TestPeerBookUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, peersFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := loadPeerBook(dir)
	if err == nil {
		t.Fatal("no error for a corrupt file")
	}
	if b == nil || len(b.peers()) != 0 {
		t.Fatal("want an empty, usable book")
	}
}

// The joiner waits a whole interval when it has nothing to try: timed from
// its last attempt (long past, or never made) it would spin.
func TestJoinerDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	wait := 30 * time.Second
	for _, tc := range []struct {
		name    string
		targets bool
		last    time.Time
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"no target, never tried (a founder)", false, time.Time{}, wait, wait},
		{"no target, last attempt long ago", false, now.Add(-time.Hour), wait, wait},
		{"no target, just tried", false, now, wait, wait},
		{"targets, just tried", true, now, wait, wait + time.Millisecond},
		{"targets, tried 20 s ago", true, now.Add(-20 * time.Second), 10 * time.Second, 10*time.Second + time.Millisecond},
		{"targets, due", true, now.Add(-time.Hour), 0, time.Millisecond},
	} {
		if d := joinerDelay(tc.targets, tc.last, wait, now); d < tc.atLeast || d > tc.atMost {
			t.Errorf("%s: waits %s, want %s to %s", tc.name, d, tc.atLeast, tc.atMost)
		}
	}
}
