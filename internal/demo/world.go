package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra/entratest"
	"github.com/example/usercleanup/internal/mailer/mailertest"
)

// The demo organization. The seed is fixed so every start shows the same
// organization (last-active dates are relative to the start time).
const (
	Seed      = 2026
	OrgAPIKey = "demo-org-api-key"
)

// ClientKey is the client key of the app's installation on the product's
// fake site.
func ClientKey(p connect.Product) string { return "demo-" + string(p) }

// SettingsService is the part of the cleanup service (*cleanup.Service)
// that Prefill uses.
type SettingsService interface {
	GetSettings(ctx context.Context, clientKey string) (cleanup.Settings, error)
	SaveSettings(ctx context.Context, clientKey string, in cleanup.SettingsInput) (cleanup.Settings, error)
	TestConnection(ctx context.Context, clientKey string, in cleanup.OrgTestInput) (cleanup.CredentialTest, error)
	TestEntraConnection(ctx context.Context, clientKey string, in cleanup.EntraTestInput) (cleanup.CredentialTest, error)
}

// World is the outside world of the demo: the fake Atlassian cloud, the
// fake Microsoft Graph and the install-keys server.
type World struct {
	cloud *atlassiantest.Cloud
	graph *entratest.Server
	keys  *connecttest.KeyServer
	// mail is the local SMTP server of the warning e-mails; the host
	// page's Mailbox lists what it received.
	mail *mailertest.Server
	// admin and member are the accounts the host page acts as.
	admin, member atlassiantest.User
	// syncedGroups and syncedUsers count what the Graph fake holds.
	syncedGroups, syncedUsers int
}

// Start seeds an organization of the given number of users and starts
// the fakes.
func Start(users int) (*World, error) {
	keys, err := connecttest.NewKeyServer()
	if err != nil {
		return nil, fmt.Errorf("demo: install-keys server: %w", err)
	}
	mail, err := mailertest.Start(mailertest.Options{})
	if err != nil {
		keys.Close()
		return nil, fmt.Errorf("demo: mail server: %w", err)
	}
	w := &World{
		mail:  mail,
		keys:  keys,
		cloud: atlassiantest.New(atlassiantest.Options{Seed: Seed, Users: users, APIKey: OrgAPIKey}),
		graph: entratest.NewServer(entratest.Options{}),
	}
	for _, u := range w.cloud.Users() {
		switch {
		case w.admin.AccountID == "" && len(u.Roles) > 0:
			w.admin = u
		case w.member.AccountID == "" && len(u.Roles) == 0 && u.AccountType == cleanup.AccountAtlassian && u.Status == cleanup.StatusActive:
			w.member = u
		}
	}
	if w.admin.AccountID == "" || w.member.AccountID == "" {
		w.Close()
		return nil, errors.New("demo: the seeded organization has no admin or no plain user")
	}
	w.seedGraph()
	return w, nil
}

// seedGraph puts the organization's IdP-synced groups into the Graph fake
// under the same display names, with their members: every seeded user with
// a UPN (synced users: the e-mail; B2B guests: the #EXT# form).
func (w *World) seedGraph() {
	groupIDs := map[string]string{} // Atlassian group id → Graph object id
	for _, g := range w.cloud.Groups() {
		if g.Synced() {
			groupIDs[g.ID] = w.graph.AddGroup(g.Name, entratest.GroupFlags{})
		}
	}
	w.syncedGroups = len(groupIDs)
	for _, u := range w.cloud.Users() {
		if u.UPN == "" {
			continue
		}
		var id string
		for _, gid := range u.GroupIDs {
			graphGroup, ok := groupIDs[gid]
			if !ok {
				continue
			}
			if id == "" {
				id = w.graph.AddUser(u.UPN, u.Email, u.Guest)
				w.syncedUsers++
			}
			w.graph.AddMember(graphGroup, id)
		}
	}
}

// Close stops the fakes.
func (w *World) Close() {
	w.mail.Close()
	w.cloud.Close()
	w.graph.Close()
	w.keys.Close()
}

// HostUsers are the accounts a person can act as on the host page: an
// organization admin (the default) and a user without admin rights, who
// sees the pages refuse access.
func (w *World) HostUsers() []HostUser {
	return []HostUser{
		{AccountID: w.admin.AccountID, Name: w.admin.Name + " (organization admin)"},
		{AccountID: w.member.AccountID, Name: w.member.Name + " (no admin rights)"},
	}
}

// Install installs the app into the product's fake site the way the product
// does: the site learns the shared secret, and the key server signs the
// installed callback (RS256 with kid, aud = the app's baseUrl, qsh) that the
// app verifies against the key server, its only trusted key source.
func (w *World) Install(ctx context.Context, client *http.Client, app connect.App, clientKey string) error {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	secret := hex.EncodeToString(buf)
	site := w.cloud.Site(app.Product)
	site.RegisterApp(app.Key, clientKey, secret)
	return w.keys.Install(ctx, client, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(),
		ProductType: string(app.Product), CloudID: site.CloudID(), AccountID: w.admin.AccountID,
	})
}

// Prefill saves the demo organization's ID and API key and the Microsoft
// Entra ID connection, unless the settings already name an organization
// (kept from an earlier start), and tests both connections.
func (w *World) Prefill(ctx context.Context, svc SettingsService, clientKey string, log *slog.Logger) error {
	cur, err := svc.GetSettings(ctx, clientKey)
	if err != nil {
		return err
	}
	if cur.OrgID != "" {
		log.Info("demo: keeping the saved settings (start with --reset to pre-fill them again)", "client_key", clientKey)
		return nil
	}
	in := cleanup.SettingsInput{Settings: cur}
	in.OrgID = w.cloud.OrgID()
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.IdentityProvider.Entra.TenantID = w.graph.TenantID()
	in.IdentityProvider.Entra.ClientID = w.graph.ClientID()
	apiKey, graphSecret := cleanup.Secret(OrgAPIKey), cleanup.Secret(w.graph.ClientSecret())
	in.APIKey, in.EntraClientSecret = &apiKey, &graphSecret
	// The demo fills in the organization and Entra credentials itself,
	// and tests them, as the program (not a user of the product).
	ctx = cleanup.AsOperator(ctx)
	if _, err := svc.SaveSettings(ctx, clientKey, in); err != nil {
		return err
	}
	// Both connections are tested as an admin's "Test connection" would;
	// the settings page shows the verdicts. A failure is logged and the
	// demo goes on.
	orgOK := w.logTest(log, clientKey, "Organizations API", func() (cleanup.CredentialTest, error) {
		return svc.TestConnection(ctx, clientKey, cleanup.OrgTestInput{})
	})
	entraOK := w.logTest(log, clientKey, "Microsoft Entra ID", func() (cleanup.CredentialTest, error) {
		return svc.TestEntraConnection(ctx, clientKey, cleanup.EntraTestInput{})
	})
	log.Info("demo: pre-filled the settings: organization ID and API key of the fake organization, Microsoft Entra ID connection to the fake Graph",
		"client_key", clientKey, "org_id", in.OrgID, "org_verified", orgOK,
		"entra_tenant_id", in.IdentityProvider.Entra.TenantID, "entra_verified", entraOK)
	return nil
}

// logTest runs a connection test of the pre-filled settings and logs a
// failure; it reports whether the test passed.
func (w *World) logTest(log *slog.Logger, clientKey, what string, test func() (cleanup.CredentialTest, error)) bool {
	res, err := test()
	switch {
	case err != nil:
		log.Warn("demo: the pre-filled "+what+" connection could not be tested", "client_key", clientKey, "error", err.Error())
		return false
	case !res.OK:
		log.Warn("demo: the pre-filled "+what+" connection failed its test", "client_key", clientKey, "message", res.Message)
		return false
	}
	return true
}

// Announce prints what the demo started and where to go: the app at
// baseURL with its data in dataDir, and an organization of users.
func (w *World) Announce(out io.Writer, baseURL, dataDir string, users int) {
	jira, conf := w.cloud.Site(connect.Jira), w.cloud.Site(connect.Confluence)
	types := w.cloud.AccountTypes()
	fmt.Fprintf(out, `
User Cleanup demo is running. Open %s/ in your browser.

  App                 %s (Jira and Confluence apps, SQLite in %s)
  Fake Jira site      %s (app installed through the signed install)
  Fake Confluence     %s (app installed through the signed install)
  Organizations API   %s: organization %s, %d accounts (%d people, %d bots, %d customers)
  Microsoft Graph     %s: %d groups synced from Entra ID, %d of their users
  Install keys        %s

Pre-filled for the demo: the organization ID and API key, and the Microsoft
Entra ID connection. Walkthrough: README.md ("Try it"). Ctrl-C stops the demo;
--reset starts from fresh data.

`, baseURL, baseURL, dataDir, jira.BaseURL(), conf.BaseURL(), w.cloud.APIURL(), w.cloud.OrgID(),
		users, types[cleanup.AccountAtlassian], types[cleanup.AccountApp], types[cleanup.AccountCustomer],
		w.graph.URL, w.syncedGroups, w.syncedUsers, w.keys.URL)
}

// InstallKeysURL is the URL of the install-keys server that signs the
// demo's installs.
func (w *World) InstallKeysURL() string { return w.keys.URL }

// OrgAPIURL is the base URL of the fake Organizations API.
func (w *World) OrgAPIURL() string { return w.cloud.APIURL() }

// OrgID is the demo organization's id.
func (w *World) OrgID() string { return w.cloud.OrgID() }

// SiteURL is the base URL of the product's fake site.
func (w *World) SiteURL(p connect.Product) string { return w.cloud.Site(p).BaseURL() }

// GraphURL is the base URL of the fake Microsoft Graph (and of its token
// endpoint).
func (w *World) GraphURL() string { return w.graph.URL }

// GraphTransport trusts the fake Microsoft Graph's TLS certificate; the
// demo sends every outbound request through it.
func (w *World) GraphTransport() http.RoundTripper { return w.graph.Client().Transport }

// SMTPAddr is where the demo's mail server listens (127.0.0.1, no TLS).
func (w *World) SMTPAddr() (host string, port int) { return w.mail.Host(), w.mail.Port() }

// Mailbox lists the e-mails the demo's mail server received, newest
// first (the host page's Mailbox).
func (w *World) Mailbox() []MailboxMessage {
	msgs := w.mail.Messages()
	out := make([]MailboxMessage, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		mm := MailboxMessage{From: m.From, To: strings.Join(m.To, ", "), Received: m.Received}
		if p, err := m.Parse(); err == nil {
			mm.Subject, mm.Text, mm.HTML = p.Subject, p.Text, p.HTML
			mm.ReplyTo = p.Header.Get("Reply-To")
		} else {
			mm.Subject = "(unreadable message: " + err.Error() + ")"
		}
		out = append(out, mm)
	}
	return out
}
