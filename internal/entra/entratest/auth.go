package entratest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The identity platform's side of the fake: OpenID configuration and
// client-credentials tokens, with the documented AADSTS errors.

func aadError(w http.ResponseWriter, status int, code, desc string, errCode int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: 00000000-0000-0000-0000-000000000000", errCode, desc),
		"error_codes":       []int{errCode},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          "00000000-0000-0000-0000-000000000000",
		"correlation_id":    "00000000-0000-0000-0000-000000000000",
		"error_uri":         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(errCode),
	})
}

func (s *Server) tenantKnown(t string) bool {
	return strings.EqualFold(t, s.opts.TenantID) || strings.EqualFold(t, strings.TrimSuffix(s.opts.Domain, "."))
}

func (s *Server) wrongTenant(w http.ResponseWriter, t string) {
	aadError(w, http.StatusBadRequest, "invalid_tenant",
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t), 90002)
}

func (s *Server) openIDConfig(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	if !s.tenantKnown(t) {
		s.wrongTenant(w, t)
		return
	}
	base := s.URL + "/" + t
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"issuer":                                s.URL + "/" + s.opts.TenantID + "/v2.0",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
	})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	if !s.tenantKnown(t) {
		s.wrongTenant(w, t)
		return
	}
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the following parameter: 'grant_type'.", 900144)
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", "The provided value for the input parameter 'grant_type' is not valid.", 70003)
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if !slices.ContainsFunc(strings.Fields(r.PostForm.Get("scope")), func(sc string) bool { return strings.HasSuffix(sc, "/.default") }) {
		aadError(w, http.StatusBadRequest, "invalid_scope", "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", 1002012)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case clientID != s.opts.ClientID:
		aadError(w, http.StatusBadRequest, "unauthorized_client",
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, t), 700016)
		return
	case secret != s.secret:
		aadError(w, http.StatusUnauthorized, "invalid_client",
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID), 7000215)
		return
	case s.secretExpired:
		aadError(w, http.StatusUnauthorized, "invalid_client",
			fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app.", clientID), 7000222)
		return
	}
	now := s.opts.Now()
	exp := now.Add(time.Hour)
	tok := s.mintToken(now, exp)
	s.tokens[tok] = exp
	s.stats.Tokens++
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok,
	})
}

// mintToken returns a JWT-shaped token (unsigned signature part). Callers
// hold s.mu.
func (s *Server) mintToken(now, exp time.Time) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": "fake"})
	claims, _ := json.Marshal(map[string]any{
		"aud":   "https://graph.microsoft.com",
		"iss":   "https://sts.windows.net/" + s.opts.TenantID + "/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   exp.Unix(),
		"appid": s.opts.ClientID,
		"tid":   s.opts.TenantID,
		"roles": s.roles,
	})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

// ---- Graph ----
