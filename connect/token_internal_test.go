package connect

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKnownHeaders proves the fast path says what the headers encode.
func TestKnownHeaders(t *testing.T) {
	for _, enc := range []string{headerTypAlg, headerAlgTyp, headerAlg} {
		want, ok := knownHeader(enc)
		if !ok {
			t.Fatalf("%s not known", enc)
		}
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		var got tokenHeader
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(tokenHeader{})); diff != "" {
			t.Errorf("%s (-fast +decoded):\n%s", raw, diff)
		}
	}
}

func TestParseTokenMalformed(t *testing.T) {
	for _, raw := range []string{"", "a", "a.b", "a.b.c.d", headerAlg + ".e30.!!", headerAlg + ".bm90anNvbg.", "eyJhbGciOjF9.e30."} {
		if _, err := parseToken(raw); err == nil {
			t.Errorf("parseToken(%q) accepted", raw)
		}
	}
	if _, ok := knownHeader("eyJhbGciOiJub25lIn0"); ok { // {"alg":"none"}
		t.Error("alg none on the fast path")
	}
}
