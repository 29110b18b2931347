package connecttest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
)

// ForgeServer is a fake Forge JWKS endpoint (https, see Client): GET
// /.well-known/jwks.json answers the public keys of its RSA key pairs. It mints Forge Invocation
// Tokens with the current key, like Forge does when it calls a remote.
type ForgeServer struct {
	URL     string // JWKS URL; use it in connect.NewJWKSFetcher
	KID     string // key id of Key (the current signing key)
	Key     *rsa.PrivateKey
	AppID   string           // default aud / app.id of minted tokens
	Now     func() time.Time // clock for iat/exp (nil: time.Now)
	srv     *httptest.Server
	mu      sync.Mutex
	pubs    map[string]*rsa.PublicKey // published keys
	status  int
	delay   time.Duration
	hits    int
	nextKey int
}

// NewForgeServer starts a JWKS server with one fresh 2048-bit key. appID
// is the Forge app ARI minted tokens are addressed to.
func NewForgeServer(appID string) (*ForgeServer, error) {
	s := &ForgeServer{AppID: appID, pubs: map[string]*rsa.PublicKey{}}
	if err := s.Rotate(); err != nil {
		return nil, err
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/.well-known/jwks.json"
	return s, nil
}

// Close stops the server.
func (s *ForgeServer) Close() { s.srv.Close() }

// Client returns an HTTP client that trusts the server's certificate (the
// one every net/http/httptest TLS server uses).
func (s *ForgeServer) Client() *http.Client { return s.srv.Client() }

// Rotate generates a new signing key with a new kid and publishes it next
// to the old ones (as Atlassian does when it rotates keys).
func (s *ForgeServer) Rotate() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("connecttest: generate key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextKey++
	s.KID = fmt.Sprintf("forge-test-key-%d", s.nextKey)
	s.Key = key
	s.pubs[s.KID] = &key.PublicKey
	return nil
}

// Fail makes the server answer every request with status (0 restores
// normal answers).
func (s *ForgeServer) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Delay makes the server wait d before answering (or until the client
// gives up).
func (s *ForgeServer) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Hits returns how many JWKS requests the server received.
func (s *ForgeServer) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// JWKS returns the published key set as JSON.
func (s *ForgeServer) JWKS() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jwksLocked()
}

func (s *ForgeServer) jwksLocked() []byte {
	type key struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	var set struct {
		Keys []key `json:"keys"`
	}
	for _, kid := range slices.Sorted(maps.Keys(s.pubs)) {
		p := s.pubs[kid]
		set.Keys = append(set.Keys, key{
			Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(p.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(p.E)).Bytes()),
		})
	}
	b, _ := json.Marshal(set) // a struct of strings always marshals
	return b
}

func (s *ForgeServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits++
	status, delay := s.status, s.delay
	body := s.jwksLocked()
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/.well-known/jwks.json" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// FIT describes a Forge Invocation Token to mint. Zero fields get
// defaults: AppID the server's, APIBaseURL
// https://api.atlassian.com/ex/jira/<CloudID>, TTL five minutes.
type FIT struct {
	AppID          string
	InstallationID string
	CloudID        string
	APIBaseURL     string
	AccountID      string // principal; omitted when empty
	TTL            time.Duration
	// Extra claims override or add top-level claims (use nil values to
	// delete one), for hostile-token tests.
	Extra map[string]any
}

// Claims returns the claims Mint signs.
func (s *ForgeServer) Claims(f FIT) jwt.MapClaims {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if f.AppID == "" {
		f.AppID = s.AppID
	}
	if f.TTL == 0 {
		f.TTL = 5 * time.Minute
	}
	if f.APIBaseURL == "" {
		f.APIBaseURL = "https://api.atlassian.com/ex/jira/" + f.CloudID
	}
	app := map[string]any{
		"id":             f.AppID,
		"installationId": f.InstallationID,
		"apiBaseUrl":     f.APIBaseURL,
		"environment":    map[string]any{"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/test"},
		"module":         map[string]any{"type": "core:endpoint", "key": "connect"},
	}
	c := jwt.MapClaims{
		"iss":     connect.ForgeIssuer,
		"aud":     f.AppID,
		"iat":     now.Unix(),
		"nbf":     now.Unix(),
		"exp":     now.Add(f.TTL).Unix(),
		"jti":     rand.Text(),
		"app":     app,
		"context": map[string]any{"cloudId": f.CloudID},
	}
	if f.AccountID != "" {
		c["principal"] = f.AccountID
	}
	for k, v := range f.Extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// Mint signs the FIT with the current key (RS256, kid in the header).
func (s *ForgeServer) Mint(f FIT) (string, error) { return s.Sign(s.Claims(f)) }

// Sign signs arbitrary claims with the current key.
func (s *ForgeServer) Sign(claims jwt.MapClaims) (string, error) {
	s.mu.Lock()
	key, kid := s.Key, s.KID
	s.mu.Unlock()
	return SignRS256(key, kid, claims)
}

// SignRS256 signs claims with any RSA key and kid, for wrong-key and
// unknown-kid tests.
func SignRS256(key *rsa.PrivateKey, kid string, claims jwt.MapClaims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	out, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("connecttest: sign FIT: %w", err)
	}
	return out, nil
}

// Bearer returns the Authorization header value for a FIT.
func Bearer(token string) string { return "Bearer " + token }

// Call sends method url with the FIT (and optional OAuth token headers)
// the way Forge calls a remote.
func Call(ctx context.Context, client *http.Client, method, url, fit string, body string) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("connecttest: request: %w", err)
	}
	req.Header.Set("Authorization", Bearer(fit))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("connecttest: call: %w", err)
	}
	return resp, nil
}
