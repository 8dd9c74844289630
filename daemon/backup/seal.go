package backup

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/api"
)

const (
	cipherName = "AES-256-GCM"
	kdfName    = "PBKDF2-SHA256"
	// kdfIterations follows OWASP's advice for PBKDF2-HMAC-SHA256 (2023).
	kdfIterations = 600_000
	// maxIterations bounds what a file may ask for (a forged header must
	// not make a restore compute for hours).
	maxIterations = 10_000_000
	checkText     = "shoal backup passphrase check"
	checkKey      = "shoal.io/backup-check"
)

// sealedMagic opens every sealed value in a backup; no JSON document
// starts with a zero byte.
var sealedMagic = []byte{0, 'S', 'B', '1'}

// ErrPassphrase is returned for a missing, short or wrong passphrase.
var ErrPassphrase = errors.New("backup passphrase")

// sealer seals and opens the sensitive values of one backup file.
type sealer struct{ aead cipher.AEAD }

func checkPassphrase(p string) error {
	if len(p) < api.MinBackupPassphrase {
		return fmt.Errorf("%w: give a passphrase of at least %d characters (it protects the Secrets and tokens in the file; "+
			"keep it apart from the file)", ErrPassphrase, api.MinBackupPassphrase)
	}
	return nil
}

// newSealer derives the key of a new file, with a fresh salt, and fills enc.
func newSealer(passphrase string, enc *api.BackupEncryption) (*sealer, error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	*enc = api.BackupEncryption{Cipher: cipherName, KDF: kdfName, Iterations: kdfIterations, Salt: salt}
	s, err := derive(passphrase, enc)
	if err != nil {
		return nil, err
	}
	if enc.Check, err = s.seal(checkKey, []byte(checkText)); err != nil {
		return nil, err
	}
	return s, nil
}

// openSealer derives the key a file's header describes and checks the
// passphrase against the header's check value.
func openSealer(passphrase string, enc api.BackupEncryption) (*sealer, error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	if enc.Cipher != cipherName || enc.KDF != kdfName {
		return nil, fmt.Errorf("the backup's encryption %s with %s is not one this build reads (%s with %s)", enc.Cipher, enc.KDF, cipherName, kdfName)
	}
	if enc.Iterations < 1 || enc.Iterations > maxIterations || len(enc.Salt) < 8 {
		return nil, fmt.Errorf("the backup's header asks for %d key derivation iterations with a %d-byte salt: not a file shoal wrote", enc.Iterations, len(enc.Salt))
	}
	s, err := derive(passphrase, &enc)
	if err != nil {
		return nil, err
	}
	if got, err := s.open(checkKey, enc.Check); err != nil || string(got) != checkText {
		return nil, fmt.Errorf("%w: the passphrase does not open this backup (it is the one given to shoal backup)", ErrPassphrase)
	}
	return s, nil
}

func derive(passphrase string, enc *api.BackupEncryption) (*sealer, error) {
	key, err := pbkdf2.Key(sha256.New, passphrase, enc.Salt, enc.Iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the backup key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: g}, nil
}

// seal encrypts a value bound to its record key (a sealed value cannot be
// moved to another key).
func (s *sealer) seal(key string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append([]byte{}, sealedMagic...), nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(key)), nil
}

// isSealed reports a value seal wrote.
func isSealed(v []byte) bool { return bytes.HasPrefix(v, sealedMagic) }

func (s *sealer) open(key string, v []byte) ([]byte, error) {
	if !isSealed(v) || len(v) < len(sealedMagic)+s.aead.NonceSize() {
		return nil, errors.New("not a sealed value")
	}
	v = v[len(sealedMagic):]
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, v[:n], v[n:], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("the sealed value of %s does not open: the file was changed", key)
	}
	return plain, nil
}
