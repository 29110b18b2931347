package connect

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// productClaims are claims as products send them: the fast path must take
// these, or it saves nothing.
var productClaims = []string{
	// connecttest.PageToken (jwt.MapClaims marshals keys sorted).
	`{"context":{},"exp":1764331380,"iat":1764331200,"iss":"jira:tenant-a","qsh":"8063ff4ca1e41df7bc90c8ab6d0f6207d491cf6dad7c66ea797b4614b71922e9","sub":"557058:1f41"}`,
	// Jira's page token, with the user context.
	`{"sub":"557058:f1c4b8f2-7e6b-4a8e-9d2c-000000000000","qsh":"context-qsh","iss":"b3b7ce2c-7d5e-3d3a-8c8c-000000000000","context":{"license":{"active":true},"user":{"accountId":"557058:f1c4","userKey":null,"displayName":"Zoë \"Admin\" \u00e9\\"},"ids":[1,-2.5e3,0.5,true,false,null,[],{}]},"exp":1764331380.5,"iat":1764331200}`,
	// Pretty-printed, with an explicit null nbf.
	"{\n  \"iss\" : \"jira:x\",\r\n\t\"exp\": 2e9, \"iat\": 1E9, \"nbf\": null, \"qsh\": \"q\"\n}\n",
	`{}`,
	` { } `,
}

// TestDecodeClaimsFastPath: product claims take the fast path, which
// decodes them as encoding/json does.
func TestDecodeClaimsFastPath(t *testing.T) {
	for _, in := range productClaims {
		var fast tokenClaims
		var times [3]numericDate
		if !fastClaims(in, &fast, &times) {
			t.Errorf("fast path declined %s", in)
			continue
		}
		var want tokenClaims
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if diff := cmp.Diff(want, fast); diff != "" {
			t.Errorf("%s (-encoding/json +fast):\n%s", in, diff)
		}
	}
}

// TestDecodeClaimsDeclines: what the fast path does not handle goes to
// encoding/json, so decodeClaims keeps its answer, error or claims,
// including its leniencies (claim names in any case, the last of two
// equal keys) and its strictness (types, escapes, trailing data).
func TestDecodeClaimsDeclines(t *testing.T) {
	for _, in := range []string{
		`{"iss":"a","iss":"b"}`,             // duplicate: the last one wins
		`{"exp":1,"exp":null}`,              // duplicate: null clears the pointer
		`{"ISS":"a","Exp":5}`,               // case-insensitive names
		`{"aud":["x","y"],"iss":"a"}`,       // aud has its own decoder
		`{"aud":5}`,                         // ... which refuses a number
		`{"iss":"caf\u00e9"}`,               // escape in a kept value
		`{"iss":"café"}`,                    // non-ASCII in a kept value
		`{"i\u0073s":"a"}`,                  // escaped key naming a claim
		`{"iss":5}`,                         // wrong type
		`{"exp":"5"}`,                       // time as a string
		`{"exp":1e400}`,                     // out of range
		`{"exp":01}`,                        // leading zero
		`{"context":{"a":1,}}`,              // trailing comma in an ignored claim
		`{"context":"` + "\x01" + `"}`,      // control character in an ignored claim
		`{"context":"\x"}`,                  // bad escape in an ignored claim
		`{"iss":"a"} x`,                     // trailing data
		`{"iss":"a"`,                        // truncated
		`null`,                              // not an object: encoding/json accepts it
		`[]`,                                // not an object: encoding/json refuses it
		`{"context":` + deepArray(40) + `}`, // deeper than the fast path validates
		`{"context":` + deepArray(20000) + `}`,
	} {
		var want tokenClaims
		wantErr := json.Unmarshal([]byte(in), &want)
		var got tokenClaims
		var times [3]numericDate
		gotErr := decodeClaims([]byte(in), &got, &times)
		short := in[:min(len(in), 60)]
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json %v", short, gotErr, wantErr)
			continue
		}
		if diff := cmp.Diff(want, got); wantErr == nil && diff != "" {
			t.Errorf("%s (-encoding/json +decodeClaims):\n%s", short, diff)
		}
		if fastClaims(in, &tokenClaims{}, &times) {
			t.Errorf("%s: taken by the fast path", short)
		}
	}
}

func deepArray(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// FuzzDecodeClaims is the differential test of the fast path: whenever
// it accepts an input, encoding/json accepts it too and decodes the same
// claims; and decodeClaims as a whole fails exactly when encoding/json
// does, with the same claims when it does not.
func FuzzDecodeClaims(f *testing.F) {
	for _, in := range productClaims {
		f.Add(in)
	}
	for _, in := range []string{`{"iss":"a","iss":"b"}`, `{"Qsh":"x"}`, `{"exp":-0.0e-0}`, `{"context":[{"a":"\ud83d\ude00"}]}`, `{"sub":null}`} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want tokenClaims
		wantErr := json.Unmarshal([]byte(in), &want)
		var fast tokenClaims
		var times [3]numericDate
		if fastClaims(in, &fast, &times) {
			if wantErr != nil {
				t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", in, wantErr)
			}
			if diff := cmp.Diff(want, fast); diff != "" {
				t.Fatalf("%q (-encoding/json +fast):\n%s", in, diff)
			}
		}
		var got tokenClaims
		gotErr := decodeClaims([]byte(in), &got, &times)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, encoding/json %v", in, gotErr, wantErr)
		}
		if wantErr == nil {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%q (-encoding/json +decodeClaims):\n%s", in, diff)
			}
		}
	})
}
