package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an encryption key in bytes (AES-256).
const KeySize = 32

// ciphertextVersion prefixes every sealed value. It names the format:
// "v1.<key id>.<base64url(nonce || ciphertext+tag)>".
const ciphertextVersion = "v1"

// ErrDecrypt is returned when a stored value cannot be decrypted: it was
// sealed with a key the Cipher does not hold, or it was tampered with.
var ErrDecrypt = errors.New("store: cannot decrypt stored secret")

// Cipher encrypts secrets at rest with AES-256-GCM and a random nonce.
// Every ciphertext carries the id of the key that sealed it; Seal always
// uses the current key and Open accepts any key the Cipher holds, so a key
// can be rotated by constructing the Cipher with the new key as current
// and the old keys as extra keys. A Cipher is safe for concurrent use.
type Cipher struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewCipher returns a Cipher that seals with current and opens values
// sealed with current or any of old. Every key must be KeySize bytes.
func NewCipher(current []byte, old ...[]byte) (*Cipher, error) {
	c := &Cipher{aeads: make(map[string]cipher.AEAD, 1+len(old))}
	id, err := c.add(current)
	if err != nil {
		return nil, err
	}
	c.current = id
	for _, k := range old {
		if _, err := c.add(k); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// KeyID returns the identifier stored with values sealed by key: the first
// 8 bytes of a domain-separated SHA-256 of the key, in hex. It reveals
// nothing useful about the key.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("usercleanup store key id\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (c *Cipher) add(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", fmt.Errorf("store: encryption key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("store: encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("store: encryption key: %w", err)
	}
	id := KeyID(key)
	c.aeads[id] = aead
	return id, nil
}

// Seal encrypts plaintext. aad binds the ciphertext to its context (for
// example the table, column and row key), so a value copied to another
// row does not decrypt.
func (c *Cipher) Seal(plaintext, aad string) (string, error) {
	aead := c.aeads[c.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("store: nonce: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return ciphertextVersion + "." + c.current + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value produced by Seal with the same aad.
func (c *Cipher) Open(sealed, aad string) (string, error) {
	version, rest, ok := strings.Cut(sealed, ".")
	if !ok || version != ciphertextVersion {
		return "", fmt.Errorf("%w: unknown format", ErrDecrypt)
	}
	id, data, ok := strings.Cut(rest, ".")
	if !ok {
		return "", fmt.Errorf("%w: unknown format", ErrDecrypt)
	}
	aead, ok := c.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: sealed with unknown key %s", ErrDecrypt, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w: malformed ciphertext", ErrDecrypt)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("%w: authentication failed", ErrDecrypt)
	}
	return string(plain), nil
}
