package server

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// Download links.
//
// An iframe page cannot add an Authorization header to a plain link, so the
// export API mints short-lived links for the admin who asked:
//
//	GET /{product}/downloads/{fileId}?exp={unix seconds}&acct={accountId}&sig={base64url HMAC}
//
// sig is HMAC-SHA256, under a key derived from the app's encryption key,
// over the product, the tenant's client key, the file id, the expiry and the
// account id. The link names no tenant and carries no secret; the server
// finds the file, takes the tenant from it and checks the signature in
// constant time, so a link minted for one tenant never opens another
// tenant's file. Expired, altered, unknown and other-tenant links all get
// the same 404.
const (
	// DownloadLinkTTL is how long a minted link works.
	DownloadLinkTTL = 5 * time.Minute
	// DownloadKeySize is the size of the link-signing key.
	DownloadKeySize = 32

	downloadKeyInfo = "usercleanup download links v1"
	downloadMACTag  = "usercleanup download v1"
)

// DeriveDownloadKey derives the key that signs download links from the
// app's encryption key (HKDF-SHA256 with a label of its own, so the
// encryption key itself never signs anything).
func DeriveDownloadKey(encryptionKey []byte) ([]byte, error) {
	if len(encryptionKey) < 16 {
		return nil, errors.New("server: the encryption key is too short to derive a download key")
	}
	k, err := hkdf.Key(sha256.New, encryptionKey, nil, downloadKeyInfo, DownloadKeySize)
	if err != nil {
		return nil, fmt.Errorf("server: derive download key: %w", err)
	}
	return k, nil
}

// downloadLink is the signed part of a link.
type downloadLink struct {
	product   connect.Product
	clientKey string
	fileID    int64
	expires   int64 // unix seconds
	accountID string
}

// mac returns the link's signature under key. Every field is
// length-prefixed, so no two different links sign the same bytes.
func (l downloadLink) mac(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	var n [binary.MaxVarintLen64]byte
	field := func(s string) {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		io.WriteString(m, s)
	}
	field(downloadMACTag)
	field(string(l.product))
	field(l.clientKey)
	field(strconv.FormatInt(l.fileID, 10))
	field(strconv.FormatInt(l.expires, 10))
	field(l.accountID)
	return m.Sum(nil)
}

// downloadURL mints the link of a file for the requesting admin.
func (s *Server) downloadURL(a *connect.Auth, fileID int64, expires time.Time) string {
	l := downloadLink{product: a.App.Product, clientKey: a.ClientKey, fileID: fileID, expires: expires.Unix(), accountID: a.AccountID}
	q := url.Values{}
	q.Set("exp", strconv.FormatInt(l.expires, 10))
	q.Set("acct", l.accountID)
	q.Set("sig", base64.RawURLEncoding.EncodeToString(l.mac(s.cfg.DownloadKey)))
	return strings.TrimSuffix(s.cfg.BaseURL, "/") + "/" + string(l.product) + "/downloads/" + strconv.FormatInt(fileID, 10) + "?" + q.Encode()
}

// errBadLink is every rejection of a download link: one response for all.
var errBadLink = echo.ErrNotFound

// download serves a stored export file to the holder of a valid link.
func (s *Server) download(app connect.App) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		q := c.QueryParams()
		fileID, err := strconv.ParseInt(c.Param("fileId"), 10, 64)
		if err != nil || fileID <= 0 || len(q["exp"]) != 1 || len(q["acct"]) != 1 || len(q["sig"]) != 1 {
			return errBadLink
		}
		exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
		now := s.now().Unix()
		// A link never lives longer than the TTL (plus a little clock skew
		// between instances), whatever its expiry says.
		if err != nil || exp < now || exp > now+int64((DownloadLinkTTL+time.Minute)/time.Second) {
			return errBadLink
		}
		sig, err := decodeSignature(q.Get("sig"))
		if err != nil || len(sig) != sha256.Size || q.Get("acct") == "" {
			return errBadLink
		}
		f, err := s.cfg.Exports.ExportFile(ctx, fileID)
		if cleanup.KindOf(err) == cleanup.KindNotFound {
			return errBadLink
		}
		if err != nil {
			return fmt.Errorf("download file %d: %w", fileID, err)
		}
		want := downloadLink{product: app.Product, clientKey: f.ClientKey, fileID: f.ID, expires: exp, accountID: q.Get("acct")}.mac(s.cfg.DownloadKey)
		if !hmac.Equal(sig, want) {
			return errBadLink
		}
		if f.Streamed {
			return s.streamAudit(c, f, q.Get("acct"))
		}
		rc, err := s.cfg.Exports.OpenExportFile(ctx, f)
		if err != nil {
			return fmt.Errorf("download file %d: %w", fileID, err)
		}
		defer rc.Close()
		setDownloadHeaders(c, f)
		c.Response().Header().Set(echo.HeaderContentLength, strconv.FormatInt(f.Size, 10))
		s.log.InfoContext(ctx, "export downloaded", "client_key", f.ClientKey, "run_id", f.RunID,
			"file_id", f.ID, "kind", f.Kind, "account_id", q.Get("acct"), "request_id", requestIDOf(c))
		c.Response().WriteHeader(http.StatusOK)
		n, err := io.Copy(c.Response(), rc)
		if err == nil && n != f.Size {
			err = fmt.Errorf("stored file has %d bytes, recorded %d", n, f.Size)
		}
		if err != nil {
			// The status is sent; the short body tells the client.
			s.log.ErrorContext(ctx, "download interrupted", "client_key", f.ClientKey, "file_id", f.ID,
				"bytes", n, "error", err.Error(), "request_id", requestIDOf(c))
		}
		return nil
	}
}

// streamAudit serves a streamed audit file: produced from the run's rows
// as it is sent (idpexport.OpenAudit), so its length is not known before
// and the body is chunked. The run is read and its rows' query prepared
// before the status is sent, so a run that cannot be read is an error
// status; a failure after that aborts the connection, so the client sees a
// failed download rather than a short file.
func (s *Server) streamAudit(c echo.Context, f cleanup.ExportFile, account string) error {
	ctx := c.Request().Context()
	a, err := idpexport.OpenAudit(ctx, s.cfg.Exports, f, 0)
	if err != nil {
		if cleanup.KindOf(err) == cleanup.KindNotFound {
			return errBadLink
		}
		return fmt.Errorf("download file %d: %w", f.ID, err)
	}
	defer a.Close()
	setDownloadHeaders(c, f)
	s.log.InfoContext(ctx, "export downloaded", "client_key", f.ClientKey, "run_id", f.RunID,
		"file_id", f.ID, "kind", f.Kind, "account_id", account, "streamed", true, "request_id", requestIDOf(c))
	c.Response().WriteHeader(http.StatusOK)
	n, err := a.WriteTo(c.Response())
	if err != nil {
		s.log.ErrorContext(ctx, "download interrupted", "client_key", f.ClientKey, "file_id", f.ID,
			"bytes", n, "error", err.Error(), "request_id", requestIDOf(c))
		panic(http.ErrAbortHandler) // net/http closes the connection without ending the body
	}
	return nil
}

// setDownloadHeaders sets the headers of every download but its length.
func setDownloadHeaders(c echo.Context, f cleanup.ExportFile) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.ContentType)
	h.Set(echo.HeaderContentDisposition, contentDisposition(f.FileName))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// decodeSignature decodes a link signature strictly: unpadded base64url
// whose unused low bits are zero and that holds nothing a decoder skips
// (line breaks), so a signed link has exactly one valid spelling.
func decodeSignature(s string) ([]byte, error) {
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.RawURLEncoding.EncodeToString(sig) != s {
		return nil, errors.New("signature is not in canonical form")
	}
	return sig, nil
}

// contentDisposition returns an attachment disposition with an ASCII
// fallback name and the exact UTF-8 name (RFC 6266, RFC 8187).
func contentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	v := mime.FormatMediaType("attachment", map[string]string{"filename": fallback})
	if v == "" {
		v = "attachment"
	}
	return v + "; filename*=UTF-8''" + extValue(name)
}

// extValue percent-encodes s as an RFC 8187 ext-value: every byte that is
// not an attr-char is written as %XX.
func extValue(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
