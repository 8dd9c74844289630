package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// peersFile is the name of the file in DataDir that remembers the peers
// and the last contact with any of them.
const peersFile = "peers.json"

// peerRecord is one remembered peer.
type peerRecord struct {
	Name string    `json:"name"`
	Addr string    `json:"addr"`
	Seen time.Time `json:"seen"` // last seen alive
}

type peerFileData struct {
	// LastContact is the last time this agent had another live member.
	LastContact time.Time    `json:"lastContact,omitzero"`
	Peers       []peerRecord `json:"peers"`
}

// peerBook remembers every member seen alive (not only the --join list),
// so that a restarted agent rejoins where its cluster is now, and the
// rejoin loop can find the other half of a long partition after memberlist
// has forgotten it (hashicorp/serf#605). Peers not seen for peerExpiry
// are forgotten.
type peerBook struct {
	path string // "" keeps nothing on disk
	mu   sync.Mutex
	data peerFileData
}

func loadPeerBook(dir string) (*peerBook, error) {
	b := &peerBook{}
	if dir == "" {
		return b, nil
	}
	b.path = filepath.Join(dir, peersFile)
	raw, err := os.ReadFile(b.path)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("read %s: %w", b.path, err)
	}
	if err := json.Unmarshal(raw, &b.data); err != nil {
		return b, fmt.Errorf("parse %s: %w", b.path, err)
	}
	return b, nil
}

// observe records the alive peers at now, and forgets long-unseen ones.
func (b *peerBook) observe(alive []Member, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(alive) > 0 {
		b.data.LastContact = now
	}
	byName := map[string]int{}
	for i, p := range b.data.Peers {
		byName[p.Name] = i
	}
	for _, m := range alive {
		if i, ok := byName[m.Name]; ok {
			b.data.Peers[i].Addr, b.data.Peers[i].Seen = m.Addr, now
		} else {
			b.data.Peers = append(b.data.Peers, peerRecord{Name: m.Name, Addr: m.Addr, Seen: now})
		}
	}
	b.data.Peers = slices.DeleteFunc(b.data.Peers, func(p peerRecord) bool { return now.Sub(p.Seen) > peerExpiry })
	slices.SortFunc(b.data.Peers, func(x, y peerRecord) int { return cmpString(x.Name, y.Name) })
}

func (b *peerBook) peers() []peerRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.data.Peers)
}

func (b *peerBook) lastContact() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.LastContact
}

// save writes the file atomically (temporary file, fsync, rename).
func (b *peerBook) save() error {
	if b.path == "" {
		return nil
	}
	b.mu.Lock()
	raw, err := json.MarshalIndent(b.data, "", "  ")
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return fmt.Errorf("save peers: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.path), peersFile+".*")
	if err != nil {
		return fmt.Errorf("save peers: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save peers: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save peers: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save peers: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.path); err != nil {
		return fmt.Errorf("save peers: %w", err)
	}
	return nil
}

// runBookkeeping keeps the peers file and the last contact current: on
// every membership change, and every contact interval.
func (c *Cluster) runBookkeeping(ctx context.Context) {
	changes, unsubscribe := c.members.subscribe()
	defer unsubscribe()
	tick := time.NewTicker(c.tm.contact)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
		c.updateFence()
		c.saveBook(time.Now())
	}
}

func (c *Cluster) saveBook(now time.Time) {
	c.book.observe(c.members.peers(), now)
	if err := c.book.save(); err != nil {
		if ok, suppressed := c.limiter.allow("peers-file"); ok {
			c.log.Warn("saving the peers file failed", "err", err, "suppressed", suppressed)
		}
	}
}
