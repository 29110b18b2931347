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
	"github.com/example/usercleanup/internal/jobs"
	"github.com/example/usercleanup/internal/store"
)

// TestEntraDirectEndToEnd runs a direct-mode Microsoft Entra ID cleanup
// through the wiring of serve (jobs.Connector with the Graph client
// factory) against the Graph fake, which throttles writes inside $batch
// requests. The process "dies" (the step's context ends) once some
// removals reached Graph; the restarted run checks the rows in doubt
// against the group's members first. Every resolvable user, guests by
// their object id, is removed exactly once and every row has an outcome.
func TestEntraDirectEndToEnd(t *testing.T) {
	ctx := context.Background()
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
	conn := &jobs.Connector{Tenants: st, Credentials: cs,
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
	if res, err := svc.TestEntraConnection(ctx, clientKey); err != nil || !res.OK {
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
