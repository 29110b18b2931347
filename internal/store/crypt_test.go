package store

import (
	"errors"
	"strings"
	"testing"
)

func TestCipher(t *testing.T) {
	k1, k2 := testKey(t), testKey(t)
	c1, err := NewCipher(k1)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := c1.Seal("hello", "aad")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c1.Seal("hello", "aad")
	if sealed == again {
		t.Error("two seals of the same value are equal: nonce not random")
	}
	if want := "v1." + KeyID(k1) + "."; !strings.HasPrefix(sealed, want) {
		t.Errorf("sealed = %q, want prefix %q", sealed, want)
	}
	rotated, err := NewCipher(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, err := NewCipher(k2)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		c       *Cipher
		sealed  string
		aad     string
		want    string
		wantErr bool
	}{
		{"same key", c1, sealed, "aad", "hello", false},
		{"rotated keeps old key", rotated, sealed, "aad", "hello", false},
		{"unknown key", onlyNew, sealed, "aad", "", true},
		{"wrong aad", c1, sealed, "other", "", true},
		{"tampered", c1, sealed[:len(sealed)-2] + "AA", "aad", "", true},
		{"bad version", c1, "v9" + sealed[2:], "aad", "", true},
		{"garbage", c1, "v1.x", "aad", "", true},
		{"short", c1, "v1." + KeyID(k1) + ".AAAA", "aad", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Open(tc.sealed, tc.aad)
			if tc.wantErr {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("Open = %q, %v; want ErrDecrypt", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	if s, _ := rotated.Seal("x", ""); !strings.HasPrefix(s, "v1."+KeyID(k2)+".") {
		t.Errorf("rotated cipher seals with %q, want the current key", s)
	}
	for _, bad := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		if _, err := NewCipher(bad); err == nil {
			t.Errorf("NewCipher(%d bytes) succeeded", len(bad))
		}
	}
}
