package cluster

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/certmagic"
)

// sealedMagic starts every value written by an Encrypted storage (version 1: AES-GCM, 12-byte nonce).
var sealedMagic = []byte("casket-aesgcm1:")

// Encrypted wraps a storage so that every stored value is sealed with AES-GCM under key. Keys (names),
// listings and locks are not encrypted. The storage key is authenticated with each value, so a value
// copied to another key does not decrypt. Values written without encryption cannot be read through it.
type Encrypted struct {
	certmagic.Storage
	aead cipher.AEAD
}

// NewEncrypted returns s sealed with key, which is 16, 24 or 32 bytes (AES-128/192/256).
func NewEncrypted(s certmagic.Storage, key []byte) (*Encrypted, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("storage encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("storage encryption: %w", err)
	}
	return &Encrypted{Storage: s, aead: aead}, nil
}

// ParseAESKey reads CASKET_CLUSTERING_AESKEY: 16, 24 or 32 characters used as they are, or the standard
// base64 of 16, 24 or 32 bytes.
func ParseAESKey(s string) ([]byte, error) {
	switch len(s) {
	case 16, 24, 32:
		return []byte(s), nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		switch len(b) {
		case 16, 24, 32:
			return b, nil
		}
	}
	return nil, errors.New("the AES key must be 16, 24 or 32 characters, or the base64 of 16, 24 or 32 bytes")
}

// Store seals value and stores it.
func (e *Encrypted) Store(ctx context.Context, key string, value []byte) error {
	nonce := make([]byte, e.aead.NonceSize(), len(sealedMagic)+e.aead.NonceSize()+len(value)+e.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	out := append(append([]byte(nil), sealedMagic...), nonce...)
	out = e.aead.Seal(out, nonce, value, []byte(key))
	return e.Storage.Store(ctx, key, out)
}

// Load loads and opens the value at key.
func (e *Encrypted) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := e.Storage.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, sealedMagic) || len(b) < len(sealedMagic)+e.aead.NonceSize() {
		return nil, fmt.Errorf("loading %s: value is not encrypted with a Casket storage key", key)
	}
	b = b[len(sealedMagic):]
	n := e.aead.NonceSize()
	plain, err := e.aead.Open(nil, b[:n], b[n:], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("loading %s: decrypting (wrong CASKET_CLUSTERING_AESKEY?): %w", key, err)
	}
	return plain, nil
}

// TryLock forwards to the wrapped storage.
func (e *Encrypted) TryLock(ctx context.Context, name string) (bool, error) {
	tl, ok := e.Storage.(certmagic.TryLocker)
	if !ok {
		return false, fmt.Errorf("%T cannot try a lock", e.Storage)
	}
	return tl.TryLock(ctx, name)
}

// RenewLockLease forwards to the wrapped storage, if it has leases.
func (e *Encrypted) RenewLockLease(ctx context.Context, name string, d time.Duration) error {
	if r, ok := e.Storage.(certmagic.LockLeaseRenewer); ok {
		return r.RenewLockLease(ctx, name, d)
	}
	return nil
}

// LockHolder forwards to the wrapped storage; it is an error if that storage does not record holders.
func (e *Encrypted) LockHolder(ctx context.Context, name string) (string, time.Time, bool, error) {
	li, ok := e.Storage.(LockInspector)
	if !ok {
		return "", time.Time{}, false, fmt.Errorf("%T does not record lock holders", e.Storage)
	}
	return li.LockHolder(ctx, name)
}

// Fence forwards to the wrapped storage, if its locks are fenced.
func (e *Encrypted) Fence(name string) (int64, bool) {
	if f, ok := e.Storage.(Fencer); ok {
		return f.Fence(name)
	}
	return 0, false
}

// Unwrap returns the wrapped storage.
func (e *Encrypted) Unwrap() certmagic.Storage { return e.Storage }

// String names the wrapped storage.
func (e *Encrypted) String() string { return fmt.Sprintf("encrypted %v", e.Storage) }

var (
	_ certmagic.Storage          = (*Encrypted)(nil)
	_ certmagic.TryLocker        = (*Encrypted)(nil)
	_ certmagic.LockLeaseRenewer = (*Encrypted)(nil)
)
