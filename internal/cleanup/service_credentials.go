package cleanup

import (
	"cmp"
	"context"
	"strings"
)

// Connection tests: the organization's API key and the Microsoft Entra ID
// app registration, either as stored or as an admin typed them before
// saving. Typed values are used for this one test and forgotten: they are
// never stored, never logged (they travel as Secret), and the clients made
// for them are not shared with the tenant's jobs. Only the product's
// highest admin level may test credentials, as only it may change them.

// CredentialTest is the verdict of a connection test. A test that ran
// answers its verdict, whatever it is (an unreachable or throttling remote
// included: that is worth knowing too); an error is for a test that could
// not run (nothing to test, malformed values, the database failed).
type CredentialTest struct {
	OK bool `json:"ok"`
	// Message says what is wrong (unknown organization, rejected key,
	// wrong tenant or secret, missing consent or permission), safe to show.
	Message string `json:"message,omitempty"`
	// Typed: values as typed were tested; nothing was recorded.
	Typed bool `json:"typed"`
	// Settings are the settings after the test: a test of the stored
	// values records its verdict (verification time, Entra's last
	// message), which changes their version.
	Settings Settings `json:"settings"`
}

// OrgTestInput is what to test: empty fields mean the stored value.
type OrgTestInput struct {
	OrgID  string  `json:"orgId"`
	APIKey *Secret `json:"apiKey"`
}

// EntraTestInput is what to test: empty fields mean the stored value.
type EntraTestInput struct {
	TenantID     string  `json:"tenantId"`
	ClientID     string  `json:"clientId"`
	ClientSecret *Secret `json:"clientSecret"`
}

// EntraCredentials are a Microsoft Entra ID app registration to connect
// with.
type EntraCredentials struct {
	TenantID, ClientID string
	Secret             Secret
}

// tester is what a connection test calls: an organization or an identity
// provider client.
type tester interface {
	TestConnection(ctx context.Context) error
}

// runTest connects with connect and tests the connection. It returns the
// verdict's message, "" for success; an unexpected failure is described
// without its details (logged instead). The error is ctx's only: every
// other failure, an unreachable remote included, is a verdict.
func runTest[T tester](ctx context.Context, s *Service, clientKey, what string, connect func() (T, error)) (string, error) {
	t, err := connect()
	if err == nil {
		err = t.TestConnection(ctx)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err == nil {
		return "", nil
	}
	msg := safeMessage(err)
	if msg == "internal error" {
		msg = "the connection test failed for an unexpected reason: see the app's log"
	}
	s.log.InfoContext(ctx, what+" connection test failed", "client_key", clientKey, "kind", KindOf(err).String(), "error", err.Error())
	return msg, nil
}

// TestConnection checks an organization id and API key: as typed (in's
// fields; an empty one is the stored value) or, when in holds nothing
// new, the stored ones, whose verification time it records on success.
func (s *Service) TestConnection(ctx context.Context, clientKey string, in OrgTestInput) (CredentialTest, error) {
	if err := requireOrgAdmin(ctx); err != nil {
		return CredentialTest{}, err
	}
	cur, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return CredentialTest{}, err
	}
	orgID := cmp.Or(strings.TrimSpace(in.OrgID), cur.OrgID)
	if in.APIKey == nil && orgID == cur.OrgID {
		return s.testStoredOrg(ctx, clientKey, cur)
	}
	if fe := (SettingsInput{Settings: Settings{OrgID: orgID}, APIKey: in.APIKey}).credentialErrors(); len(fe) > 0 {
		return CredentialTest{}, fe.Err()
	}
	key := Secret("")
	if in.APIKey != nil {
		key = Secret(strings.TrimSpace(in.APIKey.Reveal()))
	} else if cur.APIKeySet {
		cr, err := s.store.Credentials(ctx, clientKey)
		if err != nil {
			return CredentialTest{}, err
		}
		key = cr.APIKey
	}
	if orgID == "" || key == "" {
		return CredentialTest{}, &Error{Kind: KindNotConfigured, Field: "apiKey", Message: "enter the organization ID and API key to test"}
	}
	msg, err := runTest(ctx, s, clientKey, "typed organization", func() (OrgDirectory, error) {
		return s.conn.OrgWith(ctx, clientKey, OrgCredentials{OrgID: orgID, APIKey: key.Reveal()})
	})
	if err != nil {
		return CredentialTest{}, err
	}
	return CredentialTest{OK: msg == "", Message: msg, Typed: true, Settings: cur}, nil
}

func (s *Service) testStoredOrg(ctx context.Context, clientKey string, cur Settings) (CredentialTest, error) {
	if !cur.OrgConfigured() {
		return CredentialTest{}, &Error{Kind: KindNotConfigured, Field: "apiKey", Message: "enter the organization ID and API key to test"}
	}
	msg, err := runTest(ctx, s, clientKey, "organization", func() (OrgDirectory, error) { return s.conn.Org(ctx, clientKey) })
	if err != nil {
		return CredentialTest{}, err
	}
	if msg != "" {
		return CredentialTest{Message: msg, Settings: cur}, nil
	}
	saved, err := s.store.MarkAPIKeyVerified(ctx, clientKey, cur.OrgID, s.now().UTC())
	if err != nil {
		return CredentialTest{}, err
	}
	return CredentialTest{OK: true, Settings: saved}, nil
}

// TestEntraConnection gets a token with a Microsoft Entra ID app
// registration and checks the permissions the app needs: as typed (in's
// fields; an empty one is the stored value) or, when in holds nothing
// new, the stored registration, whose verdict it records (verified time,
// or the failure's message) unless the registration changed meanwhile.
func (s *Service) TestEntraConnection(ctx context.Context, clientKey string, in EntraTestInput) (CredentialTest, error) {
	if err := requireOrgAdmin(ctx); err != nil {
		return CredentialTest{}, err
	}
	cur, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return CredentialTest{}, err
	}
	ec := cur.IdentityProvider.Entra
	typed := EntraCredentials{TenantID: cmp.Or(strings.TrimSpace(in.TenantID), ec.TenantID), ClientID: cmp.Or(strings.TrimSpace(in.ClientID), ec.ClientID)}
	if in.ClientSecret == nil && typed.TenantID == ec.TenantID && typed.ClientID == ec.ClientID {
		return s.testStoredEntra(ctx, clientKey, cur)
	}
	probe := SettingsInput{EntraClientSecret: in.ClientSecret}
	probe.IdentityProvider.Entra = EntraConnection{TenantID: typed.TenantID, ClientID: typed.ClientID}
	if fe := probe.credentialErrors(); len(fe) > 0 {
		return CredentialTest{}, fe.Err()
	}
	if in.ClientSecret != nil {
		typed.Secret = Secret(strings.TrimSpace(in.ClientSecret.Reveal()))
	} else if ec.SecretSet {
		cr, err := s.store.Credentials(ctx, clientKey)
		if err != nil {
			return CredentialTest{}, err
		}
		typed.Secret = cr.EntraClientSecret
	}
	if typed.TenantID == "" || typed.ClientID == "" || typed.Secret == "" {
		return CredentialTest{}, &Error{Kind: KindNotConfigured, Field: "identityProvider.entra",
			Message: "enter the directory (tenant) ID, application (client) ID and client secret to test"}
	}
	msg, err := runTest(ctx, s, clientKey, "typed Microsoft Entra ID", func() (IdentityProvider, error) {
		return s.conn.IdPWith(ctx, clientKey, typed)
	})
	if err != nil {
		return CredentialTest{}, err
	}
	return CredentialTest{OK: msg == "", Message: msg, Typed: true, Settings: cur}, nil
}

func (s *Service) testStoredEntra(ctx context.Context, clientKey string, cur Settings) (CredentialTest, error) {
	ec := cur.IdentityProvider.Entra
	if !ec.Connected() {
		return CredentialTest{}, &Error{Kind: KindNotConfigured, Field: "identityProvider.entra",
			Message: "enter the directory (tenant) ID, application (client) ID and client secret to test"}
	}
	failure, err := runTest(ctx, s, clientKey, "Microsoft Entra ID", func() (IdentityProvider, error) { return s.conn.IdP(ctx, clientKey) })
	if err != nil {
		return CredentialTest{}, err
	}
	saved, err := s.store.MarkEntraTested(ctx, clientKey, ec.TenantID, ec.ClientID, s.now().UTC(), failure)
	if err != nil {
		return CredentialTest{}, err
	}
	return CredentialTest{OK: failure == "", Message: failure, Settings: saved}, nil
}
