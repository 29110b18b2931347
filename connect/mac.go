package connect

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
	"sync/atomic"
)

// macPools keeps keyed HMAC-SHA256 states per shared secret, so verifying
// a tenant's token does not key a new HMAC every time. hmac.New allocates
// five objects and hashes the key into fresh inner and outer states; a
// state that was Reset once restores its keyed inner and outer states from
// copies it saved (crypto/hmac precomputes them, as FIPS 198-1 §6
// allows), which saves two SHA-256 blocks and the allocations per token.
// The saved states are as secret as the key; they live as long as the
// tenant cache keeps the secret itself.
//
// The zero value is ready to use and safe for concurrent use. Only the
// secrets of tenants the store returned reach it (Verify looks the issuer
// up before it checks the signature), and it forgets everything once it
// holds maxMACKeys secrets, so neither made-up issuers nor re-installs
// (each brings a new secret) grow it without bound.
type macPools struct {
	pools sync.Map // Secret → *sync.Pool of hash.Hash keyed with it
	n     atomic.Int64
}

// maxMACKeys bounds the secrets macPools holds states for.
const maxMACKeys = 4096

// sum appends the HMAC-SHA256 of msg under secret to out.
func (m *macPools) sum(secret Secret, msg []byte, out []byte) []byte {
	v, ok := m.pools.Load(secret)
	if !ok {
		if m.n.Add(1) > maxMACKeys {
			m.pools.Clear()
			m.n.Store(1)
		}
		key := []byte(secret.Reveal())
		v, _ = m.pools.LoadOrStore(secret, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	pool := v.(*sync.Pool)
	h := pool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	out = h.Sum(out)
	pool.Put(h)
	return out
}
