package cleanup_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
)

// finishedRun stores a finished (not dry) run of the world with rows as
// its apply phase left them.
func (w *world) finishedRun(t *testing.T, rows ...cleanup.AffectedUser) int64 {
	t.Helper()
	started := engineNow
	id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: "c", Definition: cleanup.DefaultDefinition(),
		Settings: w.settings, Groups: w.groups(t), Status: cleanup.RunSucceeded, Phase: cleanup.PhaseDone, StartedAt: &started})
	w.store.AddRows(id, nil, rows...)
	return id
}

// restoreRun stores a queued restore of run orig.
func (w *world) restoreRun(t *testing.T, orig int64, dryRun bool, accounts ...string) int64 {
	t.Helper()
	o, _ := w.store.Run(orig)
	return w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: "c", Definition: o.Definition, Settings: w.settings,
		Groups: o.Groups, Trigger: cleanup.TriggerRestore, DryRun: dryRun, Phase: cleanup.PhaseRestorePlan,
		RestoreOf: orig, RestoreAccounts: accounts})
}

// finish steps the run until it is done.
func finish(t *testing.T, en *cleanup.Engine, runID int64) {
	t.Helper()
	for i := 0; ; i++ {
		if step(t, en, runID, fmt.Sprintf("o%d", i)).Done {
			return
		}
		if i > 20 {
			t.Fatal("the run does not finish")
		}
	}
}

func row(account, group, action, outcome, msg string) cleanup.AffectedUser {
	r := pending(account, group, action)
	r.Outcome, r.Message = outcome, msg
	return r
}

// restoreMessages returns the run's rows as "account group action outcome:
// message" in id order.
func restoreMessages(w *world, runID int64) []string {
	var out []string
	for _, r := range w.store.Rows(runID) {
		out = append(out, strings.TrimSuffix(r.AccountID+" "+r.GroupID+" "+r.Action+" "+r.Outcome+": "+r.Message, ": "))
	}
	return out
}

// TestEngineRestore: a restore of a run that removed users in Atlassian and
// through Graph and exported one gives back exactly the rows that changed
// someone: it re-adds in Atlassian and in Entra ID, writes the exported
// user to the bulk-add file, leaves a user already back alone and does
// not restore a user no longer in the organization; rows that changed
// nobody get no restore row. A second restore finds nothing to do.
func TestEngineRestore(t *testing.T) {
	w := idpWorld(t)
	ctx := context.Background()
	site, _ := w.dir.Connector().Site(ctx, tenant)
	if err := site.RemoveGroupMember(ctx, gJira, "u1-old"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.idp.RemoveMembers(ctx, "oid-sales", []string{"oid-u3"}); err != nil {
		t.Fatal(err)
	}
	orig := w.finishedRun(t,
		row("u1-old", gJira, cleanup.ActionRemoveProductAccess, cleanup.OutcomeDone, "removed from the group"),
		row("u3-older", gSynced, cleanup.ActionIdPRemove, cleanup.OutcomeDone, "removed in the identity provider"),
		row("u6", gSynced, cleanup.ActionIdPRemove, cleanup.OutcomeDone, "removed in the identity provider"),
		row("u2-active", gJira, cleanup.ActionRemoveProductAccess, cleanup.OutcomeDone, "removed from the group"),
		row("u1-old", gSynced, cleanup.ActionIdPRemove, cleanup.OutcomeDone, "already not a member in the identity provider"),
		row("u3-older", gJira, cleanup.ActionRemoveProductAccess, cleanup.OutcomeSkipped, "protected"),
		row("u4-old", gOther, cleanup.ActionIdPExport, cleanup.OutcomeExported, ""),
		row("u5-admin", gJira, cleanup.ActionRemoveProductAccess, cleanup.OutcomeFailed, "HTTP 500"),
	)
	w.dir.IdP = w.idp
	calls := len(w.dir.Calls())
	first := w.restoreRun(t, orig, false)
	finish(t, w.engine(t), first)
	want := []string{
		"u1-old g-jira restore-group done: re-added to the group",
		"u3-older g-entra idp-add done: re-added in Microsoft Entra ID",
		"u6 g-entra idp-add not-restored: no longer in the organization (removed since by someone else): not restored",
		"u2-active g-jira restore-group has-access: already back in the group",
		"u4-old g-other idp-add-export exported: written to the bulk-add file of the group: upload it in Microsoft Entra ID",
	}
	if diff := cmp.Diff(want, restoreMessages(w, first)); diff != "" {
		t.Errorf("restore rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"AddGroupMember u1-old " + gJira}, w.dir.Calls()[calls:]); diff != "" {
		t.Errorf("directory calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"oid-sales oid-u3"}, w.idp.Added()); diff != "" {
		t.Errorf("Entra additions (-want +got):\n%s", diff)
	}
	run, _ := w.store.Run(first)
	if run.Status != cleanup.RunSucceeded || run.Counts.Restored != 2 || run.Counts.HasAccess != 1 || run.Counts.NotRestored != 1 || run.Counts.ExportedForIdP != 1 {
		t.Errorf("restore %s counts %+v", run.Status, run.Counts)
	}
	if !slices.Contains(w.exporter.runs, first) {
		t.Errorf("the restore's exports were not generated (exported runs %v)", w.exporter.runs)
	}

	// Again: everything is already restored, nothing is called.
	calls = len(w.dir.Calls())
	second := w.restoreRun(t, orig, false)
	finish(t, w.engine(t), second)
	for _, m := range restoreMessages(w, second) {
		if !strings.Contains(m, fmt.Sprintf("not-restored: already restored by run #%d", first)) && !strings.HasPrefix(m, "u6 ") {
			t.Errorf("second restore: %s", m)
		}
	}
	if got := w.dir.Calls()[calls:]; len(got) != 0 || len(w.idp.Added()) != 1 {
		t.Errorf("the second restore acted: %v, Entra additions %v", got, w.idp.Added())
	}
}

// TestEngineRestoreReactivates: a restore of a deactivation reactivates
// the account it deactivated and leaves one already active again alone;
// an account of a group now managed by an identity provider needs manual
// action; selected users only.
func TestEngineRestoreReactivates(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	org, _ := w.dir.Connector().Org(ctx, tenant)
	site, _ := w.dir.Connector().Site(ctx, tenant)
	if err := org.Deactivate(ctx, "u4-old", ""); err != nil {
		t.Fatal(err)
	}
	if err := site.RemoveGroupMember(ctx, gJira, "u3-older"); err != nil {
		t.Fatal(err)
	}
	deact := w.finishedRun(t,
		row("u4-old", "", cleanup.ActionDeactivate, cleanup.OutcomeDone, "deactivated"),
		row("u1-old", "", cleanup.ActionDeactivate, cleanup.OutcomeDone, "deactivated"),
		row("u3-older", gJira, cleanup.ActionRemoveProductAccess, cleanup.OutcomeDone, "removed from the group"),
	)
	w.dir.ManageExternally(gJira)
	id := w.restoreRun(t, deact, false, "u1-old", "u3-older", "u4-old")
	finish(t, w.engine(t), id)
	want := []string{
		"u4-old  reactivate done: reactivated",
		"u1-old  reactivate has-access: the account is active again",
		"u3-older g-jira restore-group manual: managed by an identity provider: the group is managed by an identity provider; give the access back there",
	}
	if diff := cmp.Diff(want, restoreMessages(w, id)); diff != "" {
		t.Errorf("restore rows (-want +got):\n%s", diff)
	}
	if u, _ := w.dir.User("u4-old"); u.Status != cleanup.StatusActive {
		t.Errorf("u4-old is %s", u.Status)
	}

	// Only the selected user: the others get no row.
	sel := w.restoreRun(t, deact, true, "u1-old")
	finish(t, w.engine(t), sel)
	if diff := cmp.Diff([]string{"u1-old  reactivate not-restored: already restored by run #" + fmt.Sprint(id)}, restoreMessages(w, sel)); diff != "" {
		t.Errorf("selected restore rows (-want +got):\n%s", diff)
	}
}

// TestEngineRestoreInDoubt: a restore row an earlier attempt may have
// acted on (the process died before recording it) is checked first: a
// user already back in the group is done without a second call.
func TestEngineRestoreInDoubt(t *testing.T) {
	w := newWorld()
	orig := w.finishedRun(t, row("u1-old", gJira, cleanup.ActionRemoveProductAccess, cleanup.OutcomeDone, "removed from the group"))
	started := engineNow
	id := w.store.AddRun(cleanup.Run{ClientKey: tenant, Definition: cleanup.DefaultDefinition(), Settings: w.settings,
		Groups: w.groups(t), Trigger: cleanup.TriggerRestore, Status: cleanup.RunRunning, Phase: cleanup.PhaseApply,
		StartedAt: &started, RestoreOf: orig})
	attempted := engineNow.Add(-time.Minute)
	w.store.AddRows(id, &attempted, pending("u1-old", gJira, cleanup.ActionRestoreGroup)) // u1 is a member: the attempt worked
	finish(t, w.engine(t), id)
	if diff := cmp.Diff([]string{"u1-old g-jira restore-group done: verified after a restart: re-added to the group"}, restoreMessages(w, id)); diff != "" {
		t.Errorf("restore rows (-want +got):\n%s", diff)
	}
	for _, c := range w.dir.Calls() {
		if strings.HasPrefix(c, "AddGroupMember") {
			t.Errorf("acted again: %s", c)
		}
	}
}
