package connecttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
)

// KeyServer is a fake Atlassian install-keys CDN: GET /<kid> answers the
// PEM public key of its RSA key pair. It signs install/uninstall tokens
// with the private key, like the product does with signed install. It
// serves https (connect fetches keys over https only) with the
// certificate of net/http/httptest's TLS servers: Client trusts it.
type KeyServer struct {
	URL string          // https base URL; use it in connect.NewInstallKeyFetcher with Client()
	KID string          // key id of Key
	Key *rsa.PrivateKey // the signing key
	// Now is the clock used for token iat/exp (nil: time.Now). Set it
	// before use when the app under test has a fake clock.
	Now func() time.Time

	srv *httptest.Server
	pem []byte

	mu     sync.Mutex
	status int           // forced response status; 0: normal
	delay  time.Duration // delay before answering
	hits   int
}

// NewKeyServer starts a key server with a fresh 2048-bit RSA key.
func NewKeyServer() (*KeyServer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("connecttest: generate key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("connecttest: marshal key: %w", err)
	}
	k := &KeyServer{
		KID: "test-install-key-1",
		Key: key,
		pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	k.URL = k.srv.URL
	return k, nil
}

// Close stops the server.
func (k *KeyServer) Close() { k.srv.Close() }

// Client returns an HTTP client that trusts the server's certificate (and
// that of every net/http/httptest TLS server, which share it).
func (k *KeyServer) Client() *http.Client { return k.srv.Client() }

// CertificatePEM returns the server's certificate in PEM, for a process
// that must trust it (SSL_CERT_FILE).
func (k *KeyServer) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw})
}

// PublicKeyPEM returns the PEM public key the server hands out.
func (k *KeyServer) PublicKeyPEM() []byte { return bytes.Clone(k.pem) }

// Fail makes the server answer every request with status (0 restores
// normal answers).
func (k *KeyServer) Fail(status int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status = status
}

// Delay makes the server wait d before answering (or until the client
// gives up).
func (k *KeyServer) Delay(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delay = d
}

// Hits returns how many key requests the server received.
func (k *KeyServer) Hits() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hits
}

func (k *KeyServer) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.hits++
	status, delay := k.status, k.delay
	k.mu.Unlock()
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
	if r.Method != http.MethodGet || r.URL.Path != "/"+k.KID {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(k.pem)
}

func (k *KeyServer) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// SignInstall signs claims with RS256 and the server's kid in the header.
func (k *KeyServer) SignInstall(claims jwt.MapClaims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.KID
	s, err := tok.SignedString(k.Key)
	if err != nil {
		return "", fmt.Errorf("connecttest: sign install: %w", err)
	}
	return s, nil
}

// InstallPayload is the body of an installed/uninstalled callback. Zero
// fields are omitted; Extra fields are added to the JSON as is (to check
// that unknown fields are kept).
type InstallPayload struct {
	Key            string
	ClientKey      string
	SharedSecret   string
	BaseURL        string
	DisplayURL     string
	ProductType    string
	EventType      string // default: "installed" / "uninstalled"
	InstallationID string
	CloudID        string
	AccountID      string // token sub; optional
	Extra          map[string]any
}

// JSON returns the payload as the product sends it.
func (p InstallPayload) JSON() ([]byte, error) {
	m := map[string]any{}
	maps.Copy(m, p.Extra)
	for k, v := range map[string]string{
		"key": p.Key, "clientKey": p.ClientKey, "sharedSecret": p.SharedSecret,
		"baseUrl": p.BaseURL, "displayUrl": p.DisplayURL, "productType": p.ProductType,
		"eventType": p.EventType, "installationId": p.InstallationID, "cloudId": p.CloudID,
	} {
		if v != "" {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// InstallToken mints the signed-install token for a POST to
// appBaseURL+path: iss = clientKey, aud = appBaseURL, qsh for
// "POST <path>", sub = accountID when set, a 3-minute lifetime.
func (k *KeyServer) InstallToken(appBaseURL, path, clientKey, accountID string) (string, error) {
	qsh, err := connect.QueryStringHash(http.MethodPost, path, "", "")
	if err != nil {
		return "", err
	}
	now := k.now()
	claims := jwt.MapClaims{
		"iss":     clientKey,
		"aud":     strings.TrimSuffix(appBaseURL, "/"),
		"qsh":     qsh,
		"iat":     now.Unix(),
		"exp":     now.Add(3 * time.Minute).Unix(),
		"context": map[string]any{},
	}
	if accountID != "" {
		claims["sub"] = accountID
	}
	return k.SignInstall(claims)
}

// Install performs a signed "installed" callback: POST
// <appBaseURL>/installed with the payload and a valid RS256 token. Any
// non-2xx answer is an error.
func (k *KeyServer) Install(ctx context.Context, client *http.Client, appBaseURL string, p InstallPayload) error {
	if p.EventType == "" {
		p.EventType = "installed"
	}
	return k.lifecycle(ctx, client, appBaseURL, "/installed", p)
}

// Uninstall performs a signed "uninstalled" callback (the shared secret is
// not sent).
func (k *KeyServer) Uninstall(ctx context.Context, client *http.Client, appBaseURL string, p InstallPayload) error {
	if p.EventType == "" {
		p.EventType = "uninstalled"
	}
	p.SharedSecret = ""
	return k.lifecycle(ctx, client, appBaseURL, "/uninstalled", p)
}

// StatusError is returned by Install and Uninstall when the app answers
// with a non-2xx status.
type StatusError struct {
	StatusCode int
	Body       string // first 512 bytes
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("connecttest: app answered %d: %s", e.StatusCode, e.Body)
}

func (k *KeyServer) lifecycle(ctx context.Context, client *http.Client, appBaseURL, path string, p InstallPayload) error {
	if client == nil {
		client = http.DefaultClient
	}
	body, err := p.JSON()
	if err != nil {
		return fmt.Errorf("connecttest: payload: %w", err)
	}
	base, err := url.Parse(strings.TrimSuffix(appBaseURL, "/"))
	if err != nil {
		return fmt.Errorf("connecttest: app baseUrl: %w", err)
	}
	tok, err := k.InstallToken(base.String(), path, p.ClientKey, p.AccountID)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("connecttest: request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "JWT "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("connecttest: %s: %w", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &StatusError{StatusCode: resp.StatusCode, Body: string(msg)}
	}
	return nil
}
