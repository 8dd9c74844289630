package atrest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileName is the keyring's file in the identity directory.
const FileName = "storage-keys.json"

// sensitivePrefixes are the record keys whose values are sealed.
var sensitivePrefixes = []string{"o/secrets/", "o/tokens/", "x/"}

// magic opens every sealed value; no JSON document starts with a zero byte.
var magic = []byte{0, 'S', 'L', '1'}

// Key is one AES-256-GCM key.
type Key struct {
	ID      string    `json:"id"`
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created"`
}

type fileFormat struct {
	Keys []Key `json:"keys"`
}

// Keyring holds the keys; the first seals, all open. It implements
// gossip.Sealer and is safe for concurrent use.
type Keyring struct {
	path string
	mu   sync.RWMutex
	keys []Key
	aead map[string]cipher.AEAD
}

// Load reads the keyring in dir, creating it with one new key if absent.
func Load(dir string) (*Keyring, error) {
	k := &Keyring{path: filepath.Join(dir, FileName)}
	b, err := os.ReadFile(k.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		if err := k.set([]Key{key}); err != nil {
			return nil, err
		}
		return k, k.save()
	case err != nil:
		return nil, fmt.Errorf("storage keys: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("storage keys %s: %w", k.path, err)
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("storage keys %s: no key", k.path)
	}
	if err := k.set(f.Keys); err != nil {
		return nil, fmt.Errorf("storage keys %s: %w", k.path, err)
	}
	return k, nil
}

func newKey() (Key, error) {
	secret := make([]byte, 32)
	id := make([]byte, 4)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	if _, err := rand.Read(id); err != nil {
		return Key{}, err
	}
	return Key{ID: hex.EncodeToString(id), Secret: secret, Created: time.Now().UTC()}, nil
}

func (k *Keyring) set(keys []Key) error {
	aead := map[string]cipher.AEAD{}
	for _, key := range keys {
		if len(key.Secret) != 32 || len(key.ID) == 0 || len(key.ID) > 64 {
			return fmt.Errorf("key %q: want a 32-byte secret and a short id", key.ID)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return err
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		aead[key.ID] = g
	}
	k.mu.Lock()
	k.keys, k.aead = keys, aead
	k.mu.Unlock()
	return nil
}

func (k *Keyring) save() error {
	k.mu.RLock()
	b, err := json.MarshalIndent(fileFormat{Keys: k.keys}, "", "  ")
	k.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, k.path)
}

// Sensitive says whether a record's value is sealed.
func (k *Keyring) Sensitive(key string) bool {
	for _, p := range sensitivePrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Seal encrypts with the first key, binding the record key.
func (k *Keyring) Seal(key string, plain []byte) ([]byte, error) {
	k.mu.RLock()
	cur := k.keys[0]
	g := k.aead[cur.ID]
	k.mu.RUnlock()
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append([]byte{}, magic...), byte(len(cur.ID)))
	out = append(out, cur.ID...)
	out = append(out, nonce...)
	return g.Seal(out, nonce, plain, []byte(key)), nil
}

// Open decrypts a sealed value with the key that sealed it; a value that
// is not sealed is returned as it is.
func (k *Keyring) Open(key string, data []byte) ([]byte, bool, error) {
	if !bytes.HasPrefix(data, magic) {
		return data, false, nil
	}
	rest := data[len(magic):]
	if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
		return nil, true, errors.New("sealed value: truncated")
	}
	id := string(rest[1 : 1+int(rest[0])])
	rest = rest[1+int(rest[0]):]
	k.mu.RLock()
	g := k.aead[id]
	k.mu.RUnlock()
	if g == nil {
		return nil, true, fmt.Errorf("sealed with storage key %s, which is not in %s (restore that file)", id, k.path)
	}
	if len(rest) < g.NonceSize() {
		return nil, true, errors.New("sealed value: truncated")
	}
	plain, err := g.Open(nil, rest[:g.NonceSize()], rest[g.NonceSize():], []byte(key))
	if err != nil {
		return nil, true, fmt.Errorf("sealed value: %w", err)
	}
	return plain, true, nil
}

// Current returns the id and creation time of the key that seals.
func (k *Keyring) Current() (string, time.Time) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[0].ID, k.keys[0].Created
}

// Rotate adds a new key in front (saved at once, so that what it seals
// can always be read back) and returns the ids of the older keys.
func (k *Keyring) Rotate() ([]string, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	k.mu.RLock()
	keys := append([]Key{key}, k.keys...)
	k.mu.RUnlock()
	if err := k.set(keys); err != nil {
		return nil, err
	}
	if err := k.save(); err != nil {
		return nil, err
	}
	var old []string
	for _, o := range keys[1:] {
		old = append(old, o.ID)
	}
	return old, nil
}

// DropOld keeps only the first key: call it once every sealed value was
// rewritten with it.
func (k *Keyring) DropOld() error {
	k.mu.RLock()
	keys := k.keys[:1]
	k.mu.RUnlock()
	if err := k.set(keys); err != nil {
		return err
	}
	return k.save()
}
