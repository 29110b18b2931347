package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra/entratest"
	"github.com/example/usercleanup/internal/store"
)

// TestEntraDirectEndToEnd runs a direct-mode Microsoft Entra ID cleanup
// through the wiring of serve (atlassian.Connector with the Graph client
// factory) against the Graph fake, which throttles writes inside $batch
// requests. The process "dies" (the step's context ends) once some
// removals reached Graph; the restarted run checks the rows in doubt
// against the group's members first. Every resolvable user, guests by
// their object id, is removed exactly once and every row has an outcome.
func TestEntraDirectEndToEnd(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	graph := entratest.NewServer(entratest.Options{WritesPerWindow: 12, Window: time.Second})
	t.Cleanup(graph.Close)
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 11, Users: 400})
	t.Cleanup(cloud.Close)
	cipher, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const clientKey = "entra-e2e"
	tenant := cloud.Site(connect.Jira).Install("com.example.usercleanup", clientKey, "shared-secret-of-the-entra-e2e-tenant-0123456789")
	if err := st.SaveTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	cs := st.Cleanups(nil)
	conn := &atlassian.Connector{Tenants: st, Credentials: cs,
		Atlassian: atlassian.Options{OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL()},
		NewIdP:    newGraphClients(graphConfig{APIURL: graph.URL, LoginURL: graph.URL}, graph.Client(), nil).IdP,
	}
	svc, err := cleanup.NewService(cs, conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Mirror the synced group in Entra ID; every third member is a guest.
	atl, _ := cloud.GroupByName(atlassiantest.GroupEntraJira)
	entraGroup := graph.AddGroup(atlassiantest.GroupEntraJira, entratest.GroupFlags{})
	objectID := map[string]string{} // e-mail -> object id
	guest := map[string]bool{}      // object id -> B2B guest
	for i, acc := range cloud.Members(atl.ID) {
		u, _ := cloud.User(acc)
		if u.Email == "" || objectID[u.Email] != "" {
			continue
		}
		upn := u.Email
		if i%3 == 0 {
			upn = "" // the fake gives guests the mail_domain#EXT#@tenant form
		}
		id := graph.AddUser(upn, u.Email, i%3 == 0)
		guest[id] = i%3 == 0
		graph.AddMember(entraGroup, id)
		objectID[u.Email] = id
	}

	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = cloud.OrgID()
	apiKey, secret := cleanup.Secret("test-org-api-key"), cleanup.Secret(graph.ClientSecret())
	in.APIKey, in.EntraClientSecret = &apiKey, &secret
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.IdentityProvider.Entra.TenantID, in.IdentityProvider.Entra.ClientID = graph.TenantID(), graph.ClientID()
	if _, err := svc.SaveSettings(ctx, clientKey, in); err != nil {
		t.Fatal(err)
	}
	if res, err := svc.TestEntraConnection(ctx, clientKey, cleanup.EntraTestInput{}); err != nil || !res.OK {
		t.Fatalf("test connection: %+v, %v", res, err)
	}
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.EntraMode, d.Manual, d.DaysInactive = "entra direct", cleanup.ActionEntra, cleanup.EntraModeDirect, true, 30
	d.LicensingGroupIDs = []string{atl.ID}
	c, err := svc.CreateCleanup(ctx, clientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := svc.StartRun(ctx, clientKey, c.ID, false, "admin")
	if err != nil {
		t.Fatal(err)
	}
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: cs, Connector: conn, StepBudget: time.Hour, LeaseFor: time.Hour, ApplyBatch: 100})
	if err != nil {
		t.Fatal(err)
	}

	// First attempt: killed once 15 removals reached Graph (more than one
	// $batch, some sent after a throttled wait).
	kctx, kill := context.WithCancel(ctx)
	defer kill()
	go func() {
		for kctx.Err() == nil && graph.Stats().Writes < 15 {
			time.Sleep(time.Millisecond)
		}
		kill()
	}()
	steps := 0
	for ; steps < 100; steps++ {
		res, err := en.Step(kctx, clientKey, runID, fmt.Sprintf("first/%d", steps))
		if err != nil {
			break
		}
		if res.Done {
			t.Fatal("the run finished before the kill")
		}
	}
	killedAt := graph.Stats().Writes
	// Restart.
	for i := 0; ; i++ {
		res, err := en.Step(ctx, clientKey, runID, fmt.Sprintf("second/%d", i))
		if err != nil {
			t.Fatalf("step after restart: %v", err)
		}
		if res.Done {
			break
		}
		if i > 100 || res.RetryAfter > 0 {
			t.Fatalf("run did not finish: %+v", res)
		}
	}

	removed := map[string]int{}
	for _, r := range graph.Removals() {
		removed[r.UserID]++
	}
	stats := graph.Stats()
	if stats.RepeatedDeletes != 0 || stats.Throttled == 0 || killedAt < 15 {
		t.Errorf("stats %+v (killed after %d writes): want no repeated DELETE and some throttling", stats, killedAt)
	}
	done, guestsDone, verified := 0, 0, 0
	for p := 1; ; p++ {
		rows, total, err := svc.RunUsers(ctx, clientKey, runID, cleanup.RunUserFilter{}, cleanup.Page{Page: p, PerPage: cleanup.MaxPerPage})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Outcome == cleanup.OutcomePending {
				t.Errorf("row %s still pending", r.Email)
			}
			if r.Action != cleanup.ActionIdPRemove || r.Outcome == cleanup.OutcomeSkipped {
				continue
			}
			id := objectID[r.Email]
			if r.Email == "" && r.Outcome == cleanup.OutcomeManual {
				continue // not findable in Entra without an e-mail address
			}
			if id == "" {
				t.Errorf("row %s %s %q: not in Entra", r.Email, r.Outcome, r.Message)
				continue
			}
			if r.Outcome != cleanup.OutcomeDone || removed[id] != 1 {
				t.Errorf("row %s: %s %q, removed %d times", r.Email, r.Outcome, r.Message, removed[id])
			}
			done++
			if strings.HasPrefix(r.Message, "verified after a restart") {
				verified++
			}
			if guest[id] {
				guestsDone++
			}
		}
		if p*cleanup.MaxPerPage >= total {
			break
		}
	}
	if done < 20 || done != len(removed) || guestsDone == 0 || verified == 0 {
		t.Errorf("%d rows removed (%d guests, %d verified after the restart), %d users removed in Entra", done, guestsDone, verified, len(removed))
	}
	run, err := svc.GetRun(ctx, clientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != cleanup.RunSucceeded || run.Counts.RemovedInIdP != done {
		t.Errorf("run %s %+v", run.Status, run.Counts)
	}
	if len(cloud.Calls()) != 0 {
		t.Errorf("Atlassian changed: %+v", cloud.Calls())
	}
}

// TestEntraConnectionMessages: "Test connection" through serve's wiring
// against the Graph fake records a message that says what is wrong for
// each failure, and the verified time when it works.
func TestEntraConnectionMessages(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	cipher, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 1, Users: 10})
	t.Cleanup(cloud.Close)
	const clientKey = "entra-test"
	if err := st.SaveTenant(ctx, cloud.Site(connect.Jira).Install("com.example.usercleanup", clientKey, "shared-secret-of-the-entra-test-tenant-0123456789")); err != nil {
		t.Fatal(err)
	}
	cs := st.Cleanups(nil)

	for _, tc := range []struct {
		name    string
		roles   []string // nil: the fake's default (both permissions)
		tenant  string   // "" : the fake's
		secret  string   // "" : the fake's
		wantMsg string   // substring; "" = works
	}{
		{name: "works"},
		{name: "wrong tenant", tenant: "99999999-9999-4999-8999-999999999999", wantMsg: "does not know this directory (tenant) ID"},
		{name: "wrong secret", secret: "not-the-secret", wantMsg: "the client secret is wrong"},
		{name: "no admin consent", roles: []string{}, wantMsg: "no application permissions with admin consent"},
		{name: "missing permission", roles: []string{"User.Read.All"}, wantMsg: "lacks the application permission GroupMember.ReadWrite.All"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			graph := entratest.NewServer(entratest.Options{Roles: tc.roles})
			t.Cleanup(graph.Close)
			conn := &atlassian.Connector{Tenants: st, Credentials: cs,
				Atlassian: atlassian.Options{OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL()},
				NewIdP:    newGraphClients(graphConfig{APIURL: graph.URL, LoginURL: graph.URL}, graph.Client(), nil).IdP,
			}
			svc, err := cleanup.NewService(cs, conn, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
			in.IdentityProvider.Provider = cleanup.ProviderEntra
			in.IdentityProvider.Entra.TenantID = graph.TenantID()
			if tc.tenant != "" {
				in.IdentityProvider.Entra.TenantID = tc.tenant
			}
			in.IdentityProvider.Entra.ClientID = graph.ClientID()
			secret := cleanup.Secret(graph.ClientSecret())
			if tc.secret != "" {
				secret = cleanup.Secret(tc.secret)
			}
			in.EntraClientSecret = &secret
			if _, err := svc.SaveSettings(ctx, clientKey, in); err != nil {
				t.Fatal(err)
			}
			res, err := svc.TestEntraConnection(ctx, clientKey, cleanup.EntraTestInput{})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != (tc.wantMsg == "") || !strings.Contains(res.Message, tc.wantMsg) {
				t.Errorf("got ok=%v %q, want a message with %q", res.OK, res.Message, tc.wantMsg)
			}
			e := res.Settings.IdentityProvider.Entra
			if (e.VerifiedAt != nil) != res.OK || e.LastTestNote != res.Message {
				t.Errorf("recorded %+v", e)
			}
			if strings.Contains(res.Message, string(secret)) {
				t.Error("the message contains the secret")
			}
			// The same values as typed (not saved): the same verdict,
			// recorded nowhere.
			typed, err := svc.TestEntraConnection(ctx, clientKey, cleanup.EntraTestInput{
				TenantID: in.IdentityProvider.Entra.TenantID, ClientID: in.IdentityProvider.Entra.ClientID, ClientSecret: &secret})
			if err != nil {
				t.Fatal(err)
			}
			after, _ := svc.GetSettings(ctx, clientKey)
			if typed.OK != res.OK || typed.Message != res.Message || !typed.Typed || after.Version != res.Settings.Version {
				t.Errorf("typed test: %+v (version %d after, %d before)", typed, after.Version, res.Settings.Version)
			}
		})
	}
}
