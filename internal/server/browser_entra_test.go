package server_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestBrowserEntraConnection: the admin saves a Microsoft Entra ID
// connection, tests it, sees the group mapping checked against the
// directory, maps a group to another Entra group by object id, and the
// cleanup form then offers removing in Entra ID directly.
func TestBrowserEntraConnection(t *testing.T) {
	e := newUIEnv(t)
	dir := &entraDirectory{groups: []cleanup.IdPGroup{
		{ID: "g-jira", Name: atlassiantest.GroupEntraJira},
		{ID: "g-onprem", Name: "Jira (on-premises)", OnPremSynced: true},
	}}
	e.conn.NewIdP = dir.factory
	jira, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	ctx := e.tab(t)
	const p = connect.Jira

	e.open(t, ctx, p, "settings", e.admin)
	f := e.frame(t, ctx, "/jira/admin/settings")
	waitJS(t, f, "settings form", `!document.getElementById('settings-form').hidden`)
	// Before a connection the direct mode is not offered (checked below
	// after connecting). The values are tested as typed, before saving.
	setValue(t, f, "orgId", e.cloud.OrgID())
	setValue(t, f, "apiKey", "test-org-api-key")
	act(t, f, "save the organization", press(chromedp.ID("save-organization")))
	waitJS(t, f, "organization saved", `document.getElementById('status-organization').textContent === 'Saved'`)
	act(t, f, "identity provider", press(chromedp.ID("tab-identityProvider")))
	evalJS[bool](t, f, `(() => { const s = document.getElementById('provider'); s.value = 'entra'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	setValue(t, f, "entraTenantId", entraTenant)
	setValue(t, f, "entraClientId", entraClient)
	setValue(t, f, "entraClientSecret", entraSecret)
	act(t, f, "test before saving", press(chromedp.ID("test-entra")))
	waitJS(t, f, "typed values tested", `document.getElementById('entra-test-result').textContent === 'Connected to Microsoft Entra ID with the values as typed. Save to keep them.'`)
	var before cleanup.Settings
	e.apiGet(t, p, "/settings", &before)
	if before.IdentityProvider.Entra.SecretSet || before.IdentityProvider.Entra.TenantID != "" {
		t.Fatalf("testing typed values saved them: %+v", before.IdentityProvider.Entra)
	}

	// A secret that fails its test is saved only when the admin confirms.
	dir.mu.Lock()
	dir.testErr = &cleanup.Error{Kind: cleanup.KindUnauthorized, Message: "the client secret is wrong or expired"}
	dir.mu.Unlock()
	act(t, f, "save a failing secret", press(chromedp.ID("save-identityProvider")))
	waitJS(t, f, "asked to confirm", `!document.getElementById('confirm-identityProvider').hidden && document.getElementById('confirm-identityProvider').textContent.includes('The Microsoft Entra ID connection failed its test: the client secret is wrong or expired')`)
	act(t, f, "keep the stored one", press(chromedp.ID("save-cancel")))
	waitJS(t, f, "nothing saved", `document.getElementById('status-identityProvider').textContent === 'Nothing was saved.'`)
	e.apiGet(t, p, "/settings", &before)
	if before.IdentityProvider.Entra.SecretSet || before.IdentityProvider.Provider != "" {
		t.Fatalf("a cancelled save stored something: %+v", before)
	}
	dir.mu.Lock()
	dir.testErr = nil
	dir.mu.Unlock()
	act(t, f, "save settings", press(chromedp.ID("save-identityProvider")))
	waitJS(t, f, "mapping checked", `document.querySelector('#entra-mapping tr[data-group="`+jira.ID+`"][data-status="found"]') !== null`)
	if got := evalJS[string](t, f, `document.getElementById('entraClientSecret').value + '|' + document.getElementById('entraClientSecret').placeholder`); got != "|•••••••• (stored)" {
		t.Errorf("secret field after save = %q, want empty with the stored placeholder", got)
	}
	if got := evalJS[string](t, f, unlabelledJS); got != "" {
		t.Errorf("settings controls without a label: %s", got)
	}

	// Test connection: a missing permission is explained, then it works.
	dir.mu.Lock()
	dir.testErr = &cleanup.Error{Kind: cleanup.KindForbidden, Message: "the app registration lacks GroupMember.ReadWrite.All: add it and grant admin consent"}
	dir.mu.Unlock()
	act(t, f, "test entra (fails)", press(chromedp.ID("test-entra")))
	waitJS(t, f, "failure message", `document.getElementById('entra-test-result').textContent === 'Connection failed: the app registration lacks GroupMember.ReadWrite.All: add it and grant admin consent'`)
	dir.mu.Lock()
	dir.testErr = nil
	dir.mu.Unlock()
	act(t, f, "test entra", press(chromedp.ID("test-entra")))
	waitJS(t, f, "connected", `document.getElementById('entra-test-result').className === 'uc-result-ok'`)
	// A successful test re-checks the mapping and replaces the table's
	// rows: type into the new ones only.
	waitJS(t, f, "mapping re-checked", `document.getElementById('entra-mapping').getAttribute('aria-busy') === 'false'`)

	// Map the group to an on-premises synced group: saved, and flagged.
	setValue(t, f, "entra-map-"+jira.ID, "g-onprem")
	act(t, f, "save mapping", press(chromedp.ID("save-identityProvider")))
	waitJS(t, f, "unchangeable", `document.querySelector('#entra-mapping tr[data-group="`+jira.ID+`"][data-status="unchangeable"]') !== null`)
	axeCheck(t, f, "settings: Microsoft Entra ID connection and group mapping")
	var set cleanup.Settings
	e.apiGet(t, p, "/settings", &set)
	if got := set.IdentityProvider.GroupMappings[jira.ID]; got != "g-onprem" || set.IdentityProvider.Entra.VerifiedAt == nil {
		t.Errorf("stored mapping %q, verified %v", got, set.IdentityProvider.Entra.VerifiedAt)
	}
	screenshot(t, ctx, f, "settings-entra")

	// The cleanup form offers the direct mode now.
	e.open(t, ctx, p, "cleanup", e.admin)
	f = e.frame(t, ctx, "/jira/admin/cleanup")
	waitJS(t, f, "schedules", `document.querySelector('#schedules .uc-state-empty') !== null`)
	act(t, f, "add schedule", press(chromedp.ID("add-schedule")))
	waitJS(t, f, "creation form", `document.getElementById('sched-form') !== null`)
	if !evalJS[bool](t, f, `(() => { const o = [...document.getElementById('sched-entraMode').options].find(o => o.value === 'direct'); return !!o && !o.disabled; })()`) {
		t.Error("the direct Entra mode is not offered with a connection")
	}
}
