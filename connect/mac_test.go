package connect

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

func hmacSHA256(key, msg string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// TestMACPools: a reused keyed state gives the HMAC of the message under
// its own secret, from many goroutines at once, whatever the message
// lengths before (a state must be fully reset between uses).
func TestMACPools(t *testing.T) {
	var m macPools
	secrets := []Secret{"secret-a-0123456789", "secret-b-0123456789", Secret(string(make([]byte, 100)))} // the last is longer than a block
	msgs := []string{"", "a", "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0", string(make([]byte, 300))}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s := secrets[(g+i)%len(secrets)]
				msg := msgs[(g*7+i)%len(msgs)]
				got := m.sum(s, []byte(msg), nil)
				if want := hmacSHA256(s.Reveal(), msg); !hmac.Equal(got, want) {
					t.Errorf("sum(%d, %q) = %x, want %x", (g+i)%len(secrets), msg, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestMACPoolsBounded: the states of more secrets than maxMACKeys are not
// all kept, and the answers stay right after the pools were emptied.
func TestMACPoolsBounded(t *testing.T) {
	var m macPools
	for i := range maxMACKeys + 10 {
		s := Secret(fmt.Sprintf("secret-%d", i))
		if got, want := m.sum(s, []byte("msg"), nil), hmacSHA256(s.Reveal(), "msg"); !hmac.Equal(got, want) {
			t.Fatalf("secret %d: wrong HMAC", i)
		}
	}
	n := 0
	m.pools.Range(func(any, any) bool { n++; return true })
	if n > maxMACKeys {
		t.Errorf("%d secrets kept, at most %d wanted", n, maxMACKeys)
	}
}
