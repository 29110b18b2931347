package connect

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ForgeIssuer is the iss claim of every Forge Invocation Token (FIT).
const ForgeIssuer = "forge/invocation-token"

// ForgeAppARIPrefix starts every Forge app ARI (the FIT aud).
const ForgeAppARIPrefix = "ari:cloud:ecosystem::app/"

// Headers carrying the OAuth tokens Forge sends to a remote when the
// manifest asks for them (remotes[].auth.appSystemToken / appUserToken).
const (
	HeaderForgeSystemToken = "X-Forge-Oauth-System"
	HeaderForgeUserToken   = "X-Forge-Oauth-User"
)

// Invocation is a verified Forge Invocation Token: a call Forge made to
// this backend (a Forge remote) on behalf of an installation of our app.
type Invocation struct {
	AppID           string    // the Forge app ARI (aud)
	InstallationID  string    // app.installationId
	APIBaseURL      string    // app.apiBaseUrl: where to call Atlassian APIs with the OAuth tokens
	CloudID         string    // context.cloudId, or the site id in app.apiBaseUrl; may be empty
	EnvironmentType string    // app.environment.type (DEVELOPMENT, STAGING, PRODUCTION)
	EnvironmentID   string    // app.environment.id
	ModuleKey       string    // app.module.key or context.moduleKey, when present
	AccountID       string    // principal: the acting user; empty for calls without a user
	SystemToken     Secret    // X-Forge-Oauth-System: acts as the app; may be empty
	UserToken       Secret    // X-Forge-Oauth-User: acts as the user; may be empty
	ExpiresAt       time.Time // exp
}

type invocationKey struct{}

// WithInvocation returns a context carrying inv.
func WithInvocation(ctx context.Context, inv *Invocation) context.Context {
	return context.WithValue(ctx, invocationKey{}, inv)
}

// InvocationFrom returns the Invocation stored by WithInvocation: present
// only on requests authenticated with a Forge Invocation Token.
func InvocationFrom(ctx context.Context) (*Invocation, bool) {
	inv, ok := ctx.Value(invocationKey{}).(*Invocation)
	return inv, ok && inv != nil
}

var appUUIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ForgeAppARI normalises a Forge app id, given as an app ARI
// ("ari:cloud:ecosystem::app/<uuid>") or as the bare uuid, to the ARI. An
// empty id stays empty (Forge not configured).
func ForgeAppARI(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", nil
	}
	uuid := strings.TrimPrefix(id, ForgeAppARIPrefix)
	if !appUUIDPattern.MatchString(uuid) {
		return "", fmt.Errorf("connect: Forge app id %q is not %s<uuid> or a uuid", id, ForgeAppARIPrefix)
	}
	return ForgeAppARIPrefix + strings.ToLower(uuid), nil
}

// FITVerifier verifies Forge Invocation Tokens ("Authorization: Bearer
// <FIT>") and maps them to the Connect tenant of the same installation.
//
// A FIT is accepted only when: it is a compact JWS with alg exactly RS256
// and a kid; the kid names a key of Atlassian's JWKS (the staging set only
// for tokens whose app.apiBaseUrl is Atlassian's staging API, and only
// when StagingKeys is set); the signature verifies; iss is ForgeIssuer;
// aud contains the Forge app ARI configured for the Connect app (and
// app.id, when present, equals it); exp is present and not passed, and
// iat/nbf (when present) are not in the future, all with at most
// MaxLeeway; app.installationId and an https app.apiBaseUrl are present;
// and app.environment.type is one of Environments (production only by
// default). Every rejection wraps the same error values as Connect JWTs.
type FITVerifier struct {
	Keys        ForgeKeys         // production JWKS (required)
	StagingKeys ForgeKeys         // staging JWKS; nil: staging tokens are rejected
	AppIDs      map[string]string // Connect app key -> Forge app ARI (see ForgeAppARI)
	// Installations maps installation ids to tenants (required by
	// Authenticate).
	Installations InstallationStore
	// Environments are the Forge environment types (app.environment.type)
	// accepted, compared without regard to case; nil: production only.
	// A development or staging installation of the same app on the same
	// site is another installation, not the customer's.
	Environments []string
	Now          func() time.Time // nil: time.Now
	Leeway       time.Duration    // 0: DefaultLeeway; negative: none; at most MaxLeeway
}

// ForgeProduction is the environment type of a production installation.
const ForgeProduction = "PRODUCTION"

// environmentAllowed reports whether FITs of the environment type are
// accepted.
func (v *FITVerifier) environmentAllowed(envType string) bool {
	allowed := v.Environments
	if allowed == nil {
		allowed = []string{ForgeProduction}
	}
	for _, a := range allowed {
		if envType != "" && strings.EqualFold(a, envType) {
			return true
		}
	}
	return false
}

// Enabled reports whether a Forge app id is configured for app.
func (v *FITVerifier) Enabled(app App) bool {
	return v != nil && v.AppIDs[app.Key] != ""
}

// IsBearer reports whether r carries an "Authorization: Bearer" header,
// the way Forge sends a FIT (Connect JWTs use the "JWT" scheme).
func IsBearer(r *http.Request) bool {
	for _, h := range r.Header.Values("Authorization") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
		if strings.EqualFold(scheme, "Bearer") {
			return true
		}
	}
	return false
}

// BearerToken returns the token of the single "Authorization: Bearer"
// header. A request with two Bearer headers, or with a Bearer header and a
// Connect JWT (JWT header or jwt query parameter), is rejected with
// ErrDuplicateToken so two layers can never disagree about the identity.
func BearerToken(r *http.Request) (string, error) {
	var (
		tok   string
		found bool
	)
	for _, h := range r.Header.Values("Authorization") {
		scheme, t, _ := strings.Cut(strings.TrimSpace(h), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			if found {
				return "", ErrDuplicateToken
			}
			tok, found = strings.TrimSpace(t), true
		case strings.EqualFold(scheme, "JWT"):
			return "", ErrDuplicateToken
		}
	}
	if !found || tok == "" {
		return "", ErrNoToken
	}
	if _, err := TokenFromRequest(r); !errors.Is(err, ErrNoToken) {
		return "", ErrDuplicateToken // a jwt query parameter as well
	}
	return tok, nil
}

// fitClaims are the FIT claims this package reads.
type fitClaims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	NotBefore *numericDate     `json:"nbf"`
	IssuedAt  *numericDate     `json:"iat"`
	Principal string           `json:"principal"`
	App       *struct {
		ID             string `json:"id"`
		InstallationID string `json:"installationId"`
		APIBaseURL     string `json:"apiBaseUrl"`
		Environment    struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"environment"`
		Module struct {
			Key string `json:"key"`
		} `json:"module"`
	} `json:"app"`
	Context struct {
		CloudID   string `json:"cloudId"`
		ModuleKey string `json:"moduleKey"`
	} `json:"context"`
}

type parsedFIT struct {
	header       tokenHeader
	claims       fitClaims
	signingInput string
	signature    []byte
}

func parseFIT(raw string) (*parsedFIT, error) {
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token too long", ErrMalformedToken)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformedToken)
	}
	p := &parsedFIT{signingInput: parts[0] + "." + parts[1]}
	var err error
	if _, err = decodeSegment(nil, []byte(parts[0]), &p.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformedToken, err)
	}
	if _, err = decodeSegment(nil, []byte(parts[1]), &p.claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformedToken, err)
	}
	if p.signature, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformedToken)
	}
	return p, nil
}

// VerifyInvocation verifies the FIT of r, addressed to app, without
// looking up a tenant: the signature first (verifyFITSignature), then the
// claims (checkFITClaims), then the invocation's details (newInvocation).
func (v *FITVerifier) VerifyInvocation(r *http.Request, app App) (*Invocation, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	p, err := parseFIT(raw)
	if err != nil {
		return nil, err
	}
	if err := v.verifyFITSignature(r, p); err != nil {
		return nil, err
	}
	want, apiBase, err := v.checkFITClaims(&p.claims, app)
	if err != nil {
		return nil, err
	}
	return newInvocation(r, &p.claims, want, apiBase)
}

// verifyFITSignature checks the algorithm and the signature with the key
// set the token's apiBaseUrl selects.
func (v *FITVerifier) verifyFITSignature(r *http.Request, p *parsedFIT) error {
	if p.header.Alg != jwt.SigningMethodRS256.Alg() {
		return fmt.Errorf("%w: %q", ErrBadAlgorithm, p.header.Alg)
	}
	if p.header.Kid == "" {
		return fmt.Errorf("%w: no kid", ErrMalformedToken)
	}
	// The unverified apiBaseUrl only chooses which Atlassian key set may
	// have signed the token; it is trusted only after the signature check.
	keys := v.Keys
	if p.claims.App != nil && strings.HasPrefix(p.claims.App.APIBaseURL, ForgeStagingAPIPrefix) {
		keys = v.StagingKeys
		if keys == nil {
			return fmt.Errorf("%w: staging tokens not accepted", ErrBadSignature)
		}
	}
	if keys == nil {
		return errors.New("connect: FIT verifier has no key set")
	}
	key, err := keys.PublicKey(r.Context(), p.header.Kid)
	if err != nil {
		return err
	}
	if err := jwt.SigningMethodRS256.Verify(p.signingInput, p.signature, key); err != nil {
		return ErrBadSignature
	}
	return nil
}

// checkFITClaims checks the signed claims: issuer, audience (the app's
// Forge app id, returned as want), times, the installation, the
// environment and an https apiBaseUrl (returned parsed).
func (v *FITVerifier) checkFITClaims(c *fitClaims, app App) (want string, apiBase *url.URL, err error) {
	if c.Issuer != ForgeIssuer {
		return "", nil, fmt.Errorf("%w: FIT iss", ErrIssuerMismatch)
	}
	want = v.AppIDs[app.Key]
	if want == "" {
		return "", nil, fmt.Errorf("%w: no Forge app id configured for %s", ErrAudienceMismatch, app.Key)
	}
	audOK := false
	for _, a := range c.Audience {
		audOK = audOK || a == want
	}
	if !audOK || (c.App != nil && c.App.ID != "" && c.App.ID != want) {
		return "", nil, ErrAudienceMismatch
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := checkFITTimes(c, now(), effectiveLeeway(v.Leeway)); err != nil {
		return "", nil, err
	}
	if c.App == nil || c.App.InstallationID == "" {
		return "", nil, fmt.Errorf("%w: app.installationId", ErrMissingClaim)
	}
	if c.App.APIBaseURL == "" {
		return "", nil, fmt.Errorf("%w: app.apiBaseUrl", ErrMissingClaim)
	}
	if !v.environmentAllowed(c.App.Environment.Type) {
		return "", nil, fmt.Errorf("%w: Forge environment %q is not accepted", ErrUnknownTenant, c.App.Environment.Type)
	}
	apiBase, err = url.Parse(c.App.APIBaseURL)
	if err != nil || apiBase.Scheme != "https" || apiBase.Host == "" {
		return "", nil, fmt.Errorf("%w: app.apiBaseUrl is not an https URL", ErrMalformedToken)
	}
	return want, apiBase, nil
}

// newInvocation builds the Invocation of verified claims and the request's
// Forge token headers.
func newInvocation(r *http.Request, c *fitClaims, want string, apiBase *url.URL) (*Invocation, error) {
	sys, err := singleHeader(r, HeaderForgeSystemToken)
	if err != nil {
		return nil, err
	}
	usr, err := singleHeader(r, HeaderForgeUserToken)
	if err != nil {
		return nil, err
	}
	inv := &Invocation{
		AppID:           want,
		InstallationID:  c.App.InstallationID,
		APIBaseURL:      strings.TrimSuffix(c.App.APIBaseURL, "/"),
		CloudID:         c.Context.CloudID,
		EnvironmentType: c.App.Environment.Type,
		EnvironmentID:   c.App.Environment.ID,
		ModuleKey:       c.App.Module.Key,
		AccountID:       c.Principal,
		SystemToken:     Secret(sys),
		UserToken:       Secret(usr),
		ExpiresAt:       c.ExpiresAt.time(),
	}
	if inv.ModuleKey == "" {
		inv.ModuleKey = c.Context.ModuleKey
	}
	if inv.CloudID == "" {
		inv.CloudID = cloudIDFromAPIBase(apiBase)
	}
	if inv.CloudID != "" && !validCloudID(inv.CloudID) {
		return nil, fmt.Errorf("%w: cloudId", ErrMalformedToken)
	}
	return inv, nil
}

// checkFITTimes validates exp (required), iat and nbf (optional, not in
// the future beyond leeway) and their ranges.
func checkFITTimes(c *fitClaims, now time.Time, leeway time.Duration) error {
	if c.ExpiresAt == nil {
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	}
	for _, d := range []*numericDate{c.ExpiresAt, c.IssuedAt, c.NotBefore} {
		if d != nil && !d.valid() {
			return fmt.Errorf("%w: time claim out of range", ErrMalformedToken)
		}
	}
	exp := c.ExpiresAt.time()
	if c.IssuedAt != nil && exp.Before(c.IssuedAt.time()) {
		return fmt.Errorf("%w: exp before iat", ErrMalformedToken)
	}
	if !now.Before(exp.Add(leeway)) {
		return ErrExpired
	}
	for _, d := range []*numericDate{c.IssuedAt, c.NotBefore} {
		if d != nil && now.Add(leeway).Before(d.time()) {
			return ErrIssuedInFuture
		}
	}
	return nil
}

// singleHeader returns the value of a header sent at most once.
func singleHeader(r *http.Request, name string) (string, error) {
	vals := r.Header.Values(name)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vals[0]), nil
	}
	return "", fmt.Errorf("%w: %s given more than once", ErrDuplicateToken, name)
}

var cloudIDPattern = regexp.MustCompile(`^[0-9a-zA-Z-]{1,64}$`)

func validCloudID(s string) bool { return cloudIDPattern.MatchString(s) }

// cloudIDFromAPIBase returns the site id of an apiBaseUrl of the form
// https://api.atlassian.com/ex/<product>/<cloudId>, or "".
func cloudIDFromAPIBase(u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) == 3 && parts[0] == "ex" && validCloudID(parts[2]) {
		return parts[2]
	}
	return ""
}

// Authenticate verifies the FIT of r (VerifyInvocation) and returns the
// Connect tenant of the same installation as an Auth (AccountID is the
// FIT principal), so handlers serve the same data whether a request came
// through Connect or Forge.
//
// The tenant is the installed one whose InstallationID (from its signed
// install payload, or a previous association) equals the FIT's. When
// there is none, the FIT is associated with the single installed tenant
// of the same Connect app whose CloudID (from its signed install payload)
// equals the FIT's cloud id, provided that tenant is bound to no
// installation yet: one Connect key is installed at most once per site, and
// both ids are signed by Atlassian. A tenant already bound is never
// re-bound, so a token of another installation of the same app (a
// development environment on the same site) gets nothing. Anything else,
// including an ambiguous match, is ErrUnknownTenant: unverified data never
// associates.
func (v *FITVerifier) Authenticate(r *http.Request, app App) (*Auth, *Invocation, error) {
	inv, err := v.VerifyInvocation(r, app)
	if err != nil {
		return nil, nil, err
	}
	if v.Installations == nil {
		return nil, nil, errors.New("connect: FIT verifier has no installation store")
	}
	t, err := v.tenantFor(r.Context(), app, inv)
	if err != nil {
		return nil, nil, err
	}
	return &Auth{ClientKey: t.ClientKey, AccountID: inv.AccountID, Tenant: t, App: app}, inv, nil
}

func (v *FITVerifier) tenantFor(ctx context.Context, app App, inv *Invocation) (*Tenant, error) {
	t, err := v.Installations.TenantByInstallationID(ctx, inv.InstallationID)
	switch {
	case errors.Is(err, ErrUnknownTenant):
		t, err = v.associate(ctx, app, inv)
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("connect: load tenant by installation: %w", err)
	}
	if !t.Installed() {
		return nil, ErrTenantUninstalled
	}
	if !tenantOfApp(t, app) {
		return nil, fmt.Errorf("%w: installation belongs to another app", ErrUnknownTenant)
	}
	if t.CloudID != "" && inv.CloudID != "" && t.CloudID != inv.CloudID {
		return nil, fmt.Errorf("%w: installation belongs to another site", ErrUnknownTenant)
	}
	return t, nil
}

func tenantOfApp(t *Tenant, app App) bool {
	if t.AppKey != "" && app.Key != "" && t.AppKey != app.Key {
		return false
	}
	return t.ProductType == "" || app.Product == "" || t.ProductType == app.Product
}

// associate maps an unknown installation to the single installed tenant
// of app on the FIT's site.
func (v *FITVerifier) associate(ctx context.Context, app App, inv *Invocation) (*Tenant, error) {
	if inv.CloudID == "" {
		return nil, fmt.Errorf("%w: unknown Forge installation", ErrUnknownTenant)
	}
	all, err := v.Installations.TenantsByCloudID(ctx, inv.CloudID)
	if err != nil {
		return nil, fmt.Errorf("connect: load tenants by cloud id: %w", err)
	}
	var match *Tenant
	for _, t := range all {
		if t.CloudID != inv.CloudID || !t.Installed() || t.AppKey == "" || !tenantOfApp(t, app) {
			continue
		}
		if match != nil {
			return nil, fmt.Errorf("%w: several tenants on the site", ErrUnknownTenant)
		}
		match = t
	}
	if match == nil {
		return nil, fmt.Errorf("%w: unknown Forge installation", ErrUnknownTenant)
	}
	if match.InstallationID != "" {
		return nil, fmt.Errorf("%w: the site's tenant is bound to another installation", ErrUnknownTenant)
	}
	// The store binds only a tenant that is still unbound, in one step.
	if err := v.Installations.SetInstallationID(ctx, match.ClientKey, inv.InstallationID); err != nil {
		if errors.Is(err, ErrUnknownTenant) {
			return nil, err
		}
		return nil, fmt.Errorf("connect: associate installation: %w", err)
	}
	match.InstallationID = inv.InstallationID
	return match, nil
}
