package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// exportEnv is a running app with exports enabled and a clock the test
// moves.
type exportEnv struct {
	*env
	downloadKey []byte
	mu          sync.Mutex
	clock       time.Time
}

func (e *exportEnv) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock
}

func (e *exportEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = e.clock.Add(d)
}

func newExportEnv(t testing.TB) *exportEnv {
	t.Helper()
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	x := &exportEnv{clock: start}

	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	ks.Now = x.now

	encKey := make([]byte, store.KeySize)
	for i := range encKey {
		encKey[i] = byte(i)
	}
	cipher, err := store.NewCipher(encKey)
	if err != nil {
		t.Fatal(err)
	}
	x.downloadKey, err = server.DeriveDownloadKey(encKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher, Logger: log, Now: x.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	x.env = &env{URL: base, apps: map[connect.Product]connect.App{}, keys: ks, store: st,
		admins: &fakeAdmins{admins: map[string]bool{}}, logs: logs, now: start}
	var apps []connect.App
	descriptors := map[connect.Product][]byte{}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		params := connect.DescriptorParams{Product: p, BaseURL: base, AppKey: appKey}
		d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, params)
		if err != nil {
			t.Fatal(err)
		}
		descriptors[p] = d
		apps = append(apps, params.App())
		x.apps[p] = params.App()
	}
	verifier := &connect.Verifier{Store: st, Now: x.now}
	srv, err := server.New(server.Config{
		BaseURL: base, Apps: apps, Descriptors: descriptors,
		Lifecycle: &connect.Lifecycle{Store: st, Keys: connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()), Verifier: verifier,
			AllowedHosts: []string{"*.atlassian.net"}, Now: x.now},
		Verifier: verifier, Admin: x.admins, Health: st, HostScriptURL: hostScriptURL,
		Exports: st, DownloadKey: x.downloadKey,
		Logger: log, Now: x.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return x
}

// addRun inserts a run with rows as the run engine would and, when
// finished, generates its exports. It returns the run id.
func (x *exportEnv) addRun(t testing.TB, clientKey string, dryRun, finished bool, emails map[string][]string) int64 {
	t.Helper()
	ctx := context.Background()
	db := x.store.SQLDB()
	settings, err := json.Marshal(cleanup.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	at := x.now()
	var fin any
	if finished {
		fin = at
	}
	var runID int64
	err = db.QueryRowContext(ctx, `INSERT INTO runs (client_key, definition, settings, trigger, dry_run, status, phase,
		queued_at, started_at, finished_at, created_at, updated_at)
		VALUES (?, '{}', ?, 'manual', ?, 'succeeded', 'done', ?, ?, ?, ?, ?) RETURNING id`,
		clientKey, string(settings), dryRun, at, at, fin, at, at).Scan(&runID)
	if err != nil {
		t.Fatalf("insert run: %v", err)
	}
	i := 0
	for group, list := range emails {
		for _, em := range list {
			i++
			// Outcome exported: the engine settles exportable rows before it
			// calls the exporter, which writes only those.
			_, err := db.ExecContext(ctx, `INSERT INTO run_users (run_id, client_key, account_id, name, email, group_id, group_name,
				group_synced, identity_provider, action, outcome, email_key, created_at, updated_at)
				VALUES (?, ?, ?, 'User', ?, ?, ?, 1, 'entra', 'idp-export', 'exported', lower(trim(?)), ?, ?)`,
				runID, clientKey, fmt.Sprintf("acc-%d", i), em, "id-"+group, group, em, at, at)
			if err != nil {
				t.Fatalf("insert run user: %v", err)
			}
		}
	}
	if finished {
		if err := idpexport.NewExporter(x.store, idpexport.ExporterConfig{}).GenerateRunExports(ctx, clientKey, runID); err != nil {
			t.Fatalf("GenerateRunExports: %v", err)
		}
	}
	return runID
}

// audit returns the audit file f of the run as the audit writers make it
// of the run's rows (idpexport.WriteAudit reading the store).
func (x *exportEnv) audit(t testing.TB, clientKey string, runID int64, f exportFile) string {
	t.Helper()
	var b strings.Builder
	file := cleanup.ExportFile{ID: f.ID, ClientKey: clientKey, RunID: runID, Kind: f.Kind, Streamed: true}
	list, err := x.store.RunExports(context.Background(), clientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, lf := range list.Files {
		if lf.ID == f.ID {
			file = lf
		}
	}
	if _, err := idpexport.WriteAudit(context.Background(), x.store, file, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type exportFile struct {
	ID               int64  `json:"id"`
	Kind             string `json:"kind"`
	IdentityProvider string `json:"identityProvider"`
	GroupID          string `json:"groupId"`
	GroupName        string `json:"groupName"`
	Rows             int64  `json:"rows"`
	Part             int    `json:"part"`
	Parts            int    `json:"parts"`
	FileName         string `json:"fileName"`
	ContentType      string `json:"contentType"`
	Size             int64  `json:"size"`
	SHA256           string `json:"sha256"`
	Streamed         bool   `json:"streamed"`
	DownloadURL      string `json:"downloadUrl"`
}

type runExports struct {
	RunID            int64        `json:"runId"`
	IdentityProvider []exportFile `json:"identityProvider"`
	Audit            []exportFile `json:"audit"`
	Bundle           *exportFile  `json:"bundle"`
	DryRun           bool         `json:"dryRun"`
	Pending          bool         `json:"pending"`
}

func (x *exportEnv) apiGet(t testing.TB, tn *connect.Tenant, account, path string) response {
	t.Helper()
	tok, err := connecttest.ContextToken(tn, account, x.now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, http.MethodGet, x.URL+path, http.Header{"Authorization": {"JWT " + tok}}, nil)
}

func (x *exportEnv) list(t testing.TB, tn *connect.Tenant, runID int64) runExports {
	t.Helper()
	r := x.apiGet(t, tn, adminID, "/"+string(tn.ProductType)+"/api/runs/"+strconv.FormatInt(runID, 10)+"/exports")
	if r.status != http.StatusOK {
		t.Fatalf("list exports of run %d: status %d: %s", runID, r.status, r.body)
	}
	var out runExports
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("list exports: %v\n%s", err, r.body)
	}
	return out
}

// signLink signs a download link the way the server documents it; the
// tests use it to forge links the API would never mint.
func signLink(key []byte, base string, p connect.Product, clientKey string, fileID, exp int64, account string) string {
	m := hmac.New(sha256.New, key)
	for _, f := range []string{"usercleanup download v1", string(p), clientKey, strconv.FormatInt(fileID, 10), strconv.FormatInt(exp, 10), account} {
		var n [binary.MaxVarintLen64]byte
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		m.Write([]byte(f))
	}
	q := url.Values{"exp": {strconv.FormatInt(exp, 10)}, "acct": {account}, "sig": {base64.RawURLEncoding.EncodeToString(m.Sum(nil))}}
	return base + "/" + string(p) + "/downloads/" + strconv.FormatInt(fileID, 10) + "?" + q.Encode()
}

func TestRunExportsAPIAndDownloads(t *testing.T) {
	x := newExportEnv(t)
	a := x.install(t, connect.Jira, "tenant-a", "secret-a-0123456789abcdef0123456789")
	x.admins.grant(a.ClientKey, adminID)
	runID := x.addRun(t, a.ClientKey, true, true, map[string][]string{
		"Jira Users":  {"b@example.com", "a@example.com", "bad;x@example.com"},
		"Straße/Team": {"c@example.com"},
	})

	got := x.list(t, a, runID)
	if !got.DryRun || got.Pending || got.RunID != runID {
		t.Errorf("dryRun, pending, runId = %v, %v, %d", got.DryRun, got.Pending, got.RunID)
	}
	var names []string
	for _, f := range got.IdentityProvider {
		names = append(names, f.GroupName+": "+f.FileName+" ("+strconv.FormatInt(f.Rows, 10)+")")
		if f.IdentityProvider != cleanup.ProviderEntra || f.Part != 1 || f.Parts != 1 {
			t.Errorf("%s: provider %q part %d/%d", f.FileName, f.IdentityProvider, f.Part, f.Parts)
		}
	}
	day := x.now().Format(time.DateOnly)
	if len(names) != 2 || names[0] != "Jira Users: Jira Users-"+day+"-dry-run-remove-members.csv (2)" ||
		!strings.HasPrefix(names[1], "Straße/Team: Straße_Team-") || !strings.HasSuffix(names[1], "-"+day+"-dry-run-remove-members.csv (1)") {
		t.Errorf("identity provider files = %q", names)
	}
	if len(got.Audit) != 2 || got.Bundle == nil {
		t.Fatalf("audit %d files, bundle %v", len(got.Audit), got.Bundle)
	}

	all := append(append(append([]exportFile{}, got.IdentityProvider...), got.Audit...), *got.Bundle)
	wantTypes := map[string]string{"entra": "text/csv; charset=utf-8", "audit-csv": "text/csv; charset=utf-8", "audit-json": "application/json", "bundle": "application/zip"}
	for _, f := range all {
		u, err := url.Parse(f.DownloadURL)
		if err != nil || !strings.HasPrefix(f.DownloadURL, x.URL+"/jira/downloads/") {
			t.Fatalf("download URL %q", f.DownloadURL)
		}
		if exp, _ := strconv.ParseInt(u.Query().Get("exp"), 10, 64); exp > x.now().Add(5*time.Minute).Unix() {
			t.Errorf("link lives until %d, more than 5 minutes", exp)
		}
		if strings.Contains(f.DownloadURL, a.ClientKey) || strings.Contains(f.DownloadURL, "secret") {
			t.Errorf("download URL %q names the tenant or a secret", f.DownloadURL)
		}
		r := get(t, f.DownloadURL) // no Authorization: an iframe link
		if r.status != http.StatusOK {
			t.Fatalf("download %s: status %d: %s", f.FileName, r.status, r.body)
		}
		sum := sha256.Sum256([]byte(r.body))
		streamed := f.Kind == cleanup.ExportKindAuditCSV || f.Kind == cleanup.ExportKindAuditJSON
		length := strconv.FormatInt(f.Size, 10)
		switch {
		case f.Streamed != streamed:
			t.Errorf("%s: streamed = %v, want %v", f.FileName, f.Streamed, streamed)
		case streamed:
			// Produced from the run's rows: exactly what the audit writers
			// make of them; no length or hash is known before.
			want := x.audit(t, a.ClientKey, runID, f)
			if r.body != want || f.Size != 0 || f.SHA256 != "" || f.Rows != 4 {
				t.Errorf("download %s: %q (listed size %d, sha %q, rows %d), want %q", f.FileName, r.body, f.Size, f.SHA256, f.Rows, want)
			}
			// net/http adds the length of a body that ends within its
			// first buffer; a longer one is chunked.
			length = r.header.Get("Content-Length")
			if length != "" && length != strconv.Itoa(len(r.body)) {
				t.Errorf("download %s: Content-Length %s for %d bytes", f.FileName, length, len(r.body))
			}
		case hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(r.body)) != f.Size:
			t.Errorf("download %s: %d bytes, sha %x; listed %d, %s", f.FileName, len(r.body), sum, f.Size, f.SHA256)
		}
		wantHeaders := map[string]string{
			"Content-Type":           wantTypes[f.Kind],
			"Content-Length":         length,
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
		}
		for k, v := range wantHeaders {
			if g := r.header.Get(k); g != v {
				t.Errorf("download %s: %s = %q, want %q", f.FileName, k, g, v)
			}
		}
		cd := r.header.Get("Content-Disposition")
		if !strings.HasPrefix(cd, "attachment; filename=") || !strings.Contains(cd, "filename*=UTF-8''") {
			t.Errorf("download %s: Content-Disposition %q", f.FileName, cd)
		}
	}
	if cd := downloadHeader(t, got.IdentityProvider[1].DownloadURL, "Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''Stra%C3%9Fe_Team-") {
		t.Errorf("Content-Disposition of a non-ASCII name = %q", cd)
	}
	if body := get(t, got.IdentityProvider[0].DownloadURL).body; body != "\ufeffMember object ID or user principal name [memberObjectIdOrUpn] Required\r\na@example.com\r\nb@example.com\r\n" {
		t.Errorf("Entra file = %q", body)
	}

	// Links stop working after five minutes.
	link := got.Audit[0].DownloadURL
	x.advance(5*time.Minute + time.Second)
	if r := get(t, link); r.status != http.StatusNotFound {
		t.Errorf("expired link: status %d", r.status)
	}

	// Non-admins get nothing.
	if r := x.apiGet(t, a, userID, "/jira/api/runs/"+strconv.FormatInt(runID, 10)+"/exports"); r.status != http.StatusForbidden {
		t.Errorf("non-admin listing: status %d", r.status)
	}
}

func TestRunExportsPendingAndMissing(t *testing.T) {
	x := newExportEnv(t)
	a := x.install(t, connect.Jira, "tenant-a", "secret-a-0123456789abcdef0123456789")
	x.admins.grant(a.ClientKey, adminID)
	runID := x.addRun(t, a.ClientKey, false, false, map[string][]string{"G": {"a@example.com"}})
	got := x.list(t, a, runID)
	want := runExports{RunID: runID, IdentityProvider: []exportFile{}, Audit: []exportFile{}, Pending: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pending run (-want +got):\n%s", diff)
	}
	noIdP := x.addRun(t, a.ClientKey, false, true, nil)
	if got := x.list(t, a, noIdP); len(got.IdentityProvider) != 0 || got.Bundle != nil || len(got.Audit) != 2 || got.Pending {
		t.Errorf("run without IdP users: %+v", got)
	}
	for _, id := range []string{"999999", "abc", "-1", "0"} {
		if r := x.apiGet(t, a, adminID, "/jira/api/runs/"+id+"/exports"); r.status != http.StatusNotFound {
			t.Errorf("run %s: status %d", id, r.status)
		}
	}
}

// TestExportsTenantIsolation proves that tenant B cannot list or download
// tenant A's exports through any route or link.
func TestExportsTenantIsolation(t *testing.T) {
	x := newExportEnv(t)
	a := x.install(t, connect.Jira, "tenant-a", "secret-a-0123456789abcdef0123456789")
	b := x.install(t, connect.Jira, "tenant-b", "secret-b-0123456789abcdef0123456789")
	c := x.install(t, connect.Confluence, "tenant-c", "secret-c-0123456789abcdef0123456789")
	for _, tn := range []*connect.Tenant{a, b, c} {
		x.admins.grant(tn.ClientKey, adminID)
	}
	runA := x.addRun(t, a.ClientKey, false, true, map[string][]string{"G": {"a@example.com"}})
	runB := x.addRun(t, b.ClientKey, false, true, map[string][]string{"G": {"b@example.com"}})
	listA, listB := x.list(t, a, runA), x.list(t, b, runB)
	fileA, fileB := listA.IdentityProvider[0], listB.IdentityProvider[0]
	now := x.now()
	exp := now.Add(4 * time.Minute).Unix()

	// The reference 404: a route that does not exist.
	ref := get(t, x.URL+"/jira/downloads/999999999?exp=1&acct=x&sig=x")
	if ref.status != http.StatusNotFound {
		t.Fatalf("reference 404: %d", ref.status)
	}
	var refBody map[string]any
	_ = json.Unmarshal([]byte(ref.body), &refBody)

	// Sanity: a link signed by the documented scheme for the right tenant works,
	// so the forged links below fail for the reason they test.
	if r := get(t, signLink(x.downloadKey, x.URL, connect.Jira, a.ClientKey, fileA.ID, exp, adminID)); r.status != http.StatusOK {
		t.Fatalf("correctly signed link: status %d", r.status)
	}

	u, err := url.Parse(fileA.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	linkExp, err := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(link, key, value string) string {
		u, _ := url.Parse(link)
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	links := []struct{ name, url string }{
		{"A's link with B's file id", strings.Replace(fileA.DownloadURL, "/downloads/"+strconv.FormatInt(fileA.ID, 10)+"?", "/downloads/"+strconv.FormatInt(fileB.ID, 10)+"?", 1)},
		{"B-signed link for A's file", signLink(x.downloadKey, x.URL, connect.Jira, b.ClientKey, fileA.ID, exp, adminID)},
		{"B's link pointed at A's file", strings.Replace(fileB.DownloadURL, "/downloads/"+strconv.FormatInt(fileB.ID, 10)+"?", "/downloads/"+strconv.FormatInt(fileA.ID, 10)+"?", 1)},
		{"A's link on the Confluence prefix", strings.Replace(fileA.DownloadURL, "/jira/", "/confluence/", 1)},
		{"A's link with another account", replace(fileA.DownloadURL, "acct", "557058:other")},
		{"A's link with an altered expiry", replace(fileA.DownloadURL, "exp", strconv.FormatInt(linkExp-30, 10))},
		{"A's link with an altered signature", replace(fileA.DownloadURL, "sig", base64.RawURLEncoding.EncodeToString(make([]byte, 32)))},
		{"A's link without signature", replace(fileA.DownloadURL, "sig", "")},
		{"A's link signed with another key", signLink(make([]byte, 32), x.URL, connect.Jira, a.ClientKey, fileA.ID, exp, adminID)},
		{"A's link expired", signLink(x.downloadKey, x.URL, connect.Jira, a.ClientKey, fileA.ID, now.Unix()-1, adminID)},
		{"A's link valid too long", signLink(x.downloadKey, x.URL, connect.Jira, a.ClientKey, fileA.ID, now.Add(time.Hour).Unix(), adminID)},
		{"unknown file", signLink(x.downloadKey, x.URL, connect.Jira, a.ClientKey, 987654, exp, adminID)},
		{"Confluence tenant's signature for A's file", signLink(x.downloadKey, x.URL, connect.Confluence, c.ClientKey, fileA.ID, exp, adminID)},
	}
	for _, l := range links {
		r := get(t, l.url)
		var body map[string]any
		_ = json.Unmarshal([]byte(r.body), &body)
		delete(body, "requestId")
		delete(refBody, "requestId")
		if r.status != http.StatusNotFound || !cmp.Equal(body, refBody) {
			t.Errorf("%s: status %d, body %s; want the plain 404", l.name, r.status, r.body)
		}
	}

	// Listing A's run as B, or as a Confluence tenant, is 404 too.
	runPath := "/api/runs/" + strconv.FormatInt(runA, 10) + "/exports"
	if r := x.apiGet(t, b, adminID, "/jira"+runPath); r.status != http.StatusNotFound || strings.Contains(r.body, "tenant-a") {
		t.Errorf("B lists A's run: status %d: %s", r.status, r.body)
	}
	if r := x.apiGet(t, c, adminID, "/confluence"+runPath); r.status != http.StatusNotFound {
		t.Errorf("Confluence tenant lists A's run: status %d: %s", r.status, r.body)
	}
	// B's listing shows only B's files.
	idsA := map[int64]bool{}
	for _, f := range append(append([]exportFile{*listA.Bundle}, listA.IdentityProvider...), listA.Audit...) {
		idsA[f.ID] = true
	}
	for _, f := range append(append([]exportFile{*listB.Bundle}, listB.IdentityProvider...), listB.Audit...) {
		if idsA[f.ID] {
			t.Errorf("B's listing contains A's file %+v", f)
		}
	}
}

func downloadHeader(t testing.TB, link, name string) string {
	t.Helper()
	return get(t, link).header.Get(name)
}

func TestDeriveDownloadKey(t *testing.T) {
	k1, err := server.DeriveDownloadKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	other := make([]byte, 32)
	other[0] = 1
	k2, err := server.DeriveDownloadKey(other)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || hmac.Equal(k1, k2) || hmac.Equal(k1, make([]byte, 32)) {
		t.Errorf("derived keys %x, %x", k1, k2)
	}
	if _, err := server.DeriveDownloadKey([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

// TestDownloadLinkHasOneSpelling: a 32-byte signature is 43 base64
// characters, whose last one carries 2 unused low bits. Every other value
// of those bits decodes leniently to the same signature; strict decoding
// refuses them, so a minted link has exactly one valid form.
func TestDownloadLinkHasOneSpelling(t *testing.T) {
	x := newExportEnv(t)
	a := x.install(t, connect.Jira, "tenant-a", "secret-a-0123456789abcdef0123456789")
	x.admins.grant(a.ClientKey, adminID)
	runID := x.addRun(t, a.ClientKey, false, true, map[string][]string{"G": {"a@example.com"}})
	link := x.list(t, a, runID).IdentityProvider[0].DownloadURL
	if r := get(t, link); r.status != http.StatusOK {
		t.Fatalf("minted link: status %d", r.status)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	sig := u.Query().Get("sig")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	if len(sig) != 43 || last < 0 || last&3 != 0 {
		t.Fatalf("signature %q is not a canonical 32-byte encoding", sig)
	}
	for bits := 1; bits <= 3; bits++ {
		alt := sig[:len(sig)-1] + string(alphabet[last|bits])
		if lenient, err := base64.RawURLEncoding.DecodeString(alt); err != nil {
			t.Fatalf("%q does not even decode leniently: %v", alt, err)
		} else if canonical, _ := base64.RawURLEncoding.DecodeString(sig); !bytes.Equal(lenient, canonical) {
			t.Fatalf("%q decodes to another signature; the test would prove nothing", alt)
		}
		q := u.Query()
		q.Set("sig", alt)
		v := *u
		v.RawQuery = q.Encode()
		if r := get(t, v.String()); r.status != http.StatusNotFound {
			t.Errorf("link with signature %q (unused bits %d): status %d, want 404", alt, bits, r.status)
		}
	}
	// The other spellings a lenient decoder might take: padding, a
	// line break, the standard alphabet.
	for _, alt := range []string{sig + "=", sig[:20] + "\n" + sig[20:], strings.NewReplacer("-", "+", "_", "/").Replace(sig)} {
		if alt == sig {
			continue
		}
		q := u.Query()
		q.Set("sig", alt)
		v := *u
		v.RawQuery = q.Encode()
		if r := get(t, v.String()); r.status != http.StatusNotFound {
			t.Errorf("link with signature %q: status %d, want 404", alt, r.status)
		}
	}
}

// TestStreamedAuditDownload: a large audit file is streamed (chunked, no
// length) with the writers' bytes; a row that cannot be read in the middle
// of it aborts the download, so the client sees a failed transfer rather
// than a short file that looks complete; a run whose rows are gone is a
// 404 before any byte.
func TestStreamedAuditDownload(t *testing.T) {
	x := newExportEnv(t)
	a := x.install(t, connect.Jira, "tenant-a", "secret-a-0123456789abcdef0123456789")
	x.admins.grant(a.ClientKey, adminID)
	emails := make([]string, 3000)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%04d@example.com", i)
	}
	runID := x.addRun(t, a.ClientKey, false, true, map[string][]string{"Jira Users": emails})
	got := x.list(t, a, runID)
	var csvFile, jsonFile exportFile
	for _, f := range got.Audit {
		if f.Kind == cleanup.ExportKindAuditCSV {
			csvFile = f
		} else {
			jsonFile = f
		}
	}
	r := get(t, csvFile.DownloadURL)
	if r.status != http.StatusOK || r.header.Get("Content-Length") != "" || r.body != x.audit(t, a.ClientKey, runID, csvFile) {
		t.Fatalf("download: status %d, Content-Length %q, %d bytes; want 200, chunked, the writers' bytes", r.status, r.header.Get("Content-Length"), len(r.body))
	}
	if n := strings.Count(r.body, "\r\n"); n != 3001 {
		t.Errorf("audit CSV has %d lines, want 3001", n)
	}

	// A row the audit cannot read, far into the file.
	if _, err := x.store.SQLDB().Exec(`UPDATE run_users SET last_active = '{"jira":42}' WHERE run_id = ? AND email = 'user2900@example.com'`, runID); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(jsonFile.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("download with an unreadable row: status %d, %d bytes and no error; want the transfer to fail", resp.StatusCode, len(body))
	}

	// The run's rows vanish (the run was deleted after the link was made).
	if _, err := x.store.SQLDB().Exec(`DELETE FROM runs WHERE id = ?`, runID); err != nil {
		t.Fatal(err)
	}
	if r := get(t, csvFile.DownloadURL); r.status != http.StatusNotFound {
		t.Errorf("download of a deleted run's audit: status %d, want 404", r.status)
	}
}
