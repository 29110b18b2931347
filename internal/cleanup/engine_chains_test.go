package cleanup_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cleanup/cleanuptest"
)

// chainWorld is a directory of n users over three groups of the cleanup
// (many in two or three of them) and one group outside it, managed and
// unmanaged mixed, with pages of 7 users.
func chainWorld(n int) *world {
	w := newWorld()
	users := make([]cleanup.OrgUser, 0, n)
	for i := range n {
		var groups []string
		if i%2 == 0 {
			groups = append(groups, gJira)
		}
		if i%3 == 0 {
			groups = append(groups, gSynced)
		}
		if i%5 == 0 || len(groups) == 0 {
			groups = append(groups, gOther)
		}
		if i%11 == 0 {
			groups = []string{"g-outside"}
		}
		u := user(fmt.Sprintf("u%03d", i), 20+i%150, groups...)
		u.Managed = i%3 != 1
		users = append(users, u)
	}
	w.dir = cleanuptest.NewDirectory(users, []cleanup.OrgGroup{
		{ID: gJira, Name: "jira-software-users", ManagedBy: "admins", Modifiable: true},
		{ID: gSynced, Name: "Sales", ExternalSynced: true},
		{ID: gOther, Name: "Support", ExternalSynced: true},
		{ID: "g-outside", Name: "Outside", ManagedBy: "admins"},
	}, []cleanup.ProductAccess{{Key: cleanup.ProductJiraSoftware, Name: "Jira Software", GroupIDs: []string{gJira, gSynced, gOther}}})
	w.dir.PageSize = 7
	return w
}

func (w *world) chainEngine(t *testing.T, chains int, conn cleanup.Connector) *cleanup.Engine {
	t.Helper()
	if conn == nil {
		conn = w.dir.Connector()
	}
	en, err := cleanup.NewEngine(cleanup.EngineConfig{
		Store: w.store, Connector: conn, Exporter: w.exporter, Now: w.clock.Now,
		StepBudget: time.Hour, LeaseFor: time.Minute, EvalChains: chains,
	})
	if err != nil {
		t.Fatal(err)
	}
	return en
}

func chainDefinition() cleanup.Definition {
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "Inactive", cleanup.ActionRemoveProductAccess, true, 60
	d.LicensingGroupIDs = []string{gJira, gSynced}
	d.ExtraGroupIDs = []string{gOther}
	return d
}

// rowKeys returns the run's rows as sorted "account group action outcome"
// strings.
func rowKeys(s *cleanuptest.RunStore, runID int64) []string {
	var out []string
	for _, r := range s.Rows(runID) {
		out = append(out, strings.Join([]string{r.AccountID, r.GroupID, r.Action, r.Outcome}, " "))
	}
	slices.Sort(out)
	return out
}

// dryRun runs a dry run of d to the end and returns it.
func dryRun(t *testing.T, w *world, en *cleanup.Engine, d cleanup.Definition) cleanup.Run {
	t.Helper()
	id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w.settings, DryRun: true})
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("the run does not end")
		}
		res, err := en.Step(context.Background(), tenant, id, fmt.Sprintf("o%d", i))
		if err != nil {
			t.Fatalf("step: %v", err)
		}
		if res.Done {
			break
		}
		if res.RetryAfter > 0 {
			w.clock.Add(res.RetryAfter)
		}
	}
	run, _ := w.store.Run(id)
	return run
}

// TestEvaluationChainsEqualOneChain: the parallel chains evaluate exactly
// the users one chain does, each once: same rows, same counts, for every
// bound on the chains.
func TestEvaluationChainsEqualOneChain(t *testing.T) {
	d := chainDefinition()
	ref := chainWorld(300)
	one := dryRun(t, ref, ref.chainEngine(t, 1, nil), d)
	if one.Status != cleanup.RunSucceeded || one.Counts.Evaluated < 200 || one.Counts.Matched < 50 {
		t.Fatalf("reference run %s %+v: want succeeded with 200+ evaluated, 50+ matched", one.Status, one.Counts)
	}
	wantRows := rowKeys(ref.store, one.ID)
	for _, chains := range []int{2, 3, 4, 6, 8, 64} {
		t.Run(fmt.Sprint(chains), func(t *testing.T) {
			w := chainWorld(300)
			got := dryRun(t, w, w.chainEngine(t, chains, nil), d)
			if got.Counts.Evaluation != one.Counts.Evaluation {
				t.Errorf("counts %+v, want %+v", got.Counts.Evaluation, one.Counts.Evaluation)
			}
			if diff := cmp.Diff(wantRows, rowKeys(w.store, got.ID)); diff != "" {
				t.Errorf("rows (-one chain +chains):\n%s", diff)
			}
			// The searches were split: claim status set on every one.
			var cursors int
			for _, c := range w.store.Commits() {
				if c.Cursor != nil {
					cursors++
				}
			}
			if cursors < 2 {
				t.Errorf("%d evaluation commits, want several", cursors)
			}
		})
	}
}

// failingOrg fails every search made once the run store holds failAfter
// commits, until healed, as an unavailable API would: the step ends with
// the pages committed so far while other chains' pages are in flight, as
// after a crash.
type failingOrg struct {
	cleanup.OrgDirectory
	mu        sync.Mutex
	commits   func() int
	failAfter int
	healed    bool
	searches  []string // "claim groups cursor" of every search
}

func (f *failingOrg) SearchUsers(ctx context.Context, q cleanup.UserQuery, cursor string) (cleanup.UserPage, error) {
	n := f.commits()
	f.mu.Lock()
	fail := !f.healed && n >= f.failAfter
	f.searches = append(f.searches, fmt.Sprintf("%s %v %s", q.ClaimStatus, q.GroupIDs, cursor))
	f.mu.Unlock()
	if fail {
		return cleanup.UserPage{}, &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "down", RetryAfter: time.Second}
	}
	return f.OrgDirectory.SearchUsers(ctx, q, cursor)
}

func (f *failingOrg) FollowUsers(ctx context.Context, q cleanup.UserQuery, cursor string, fn func(cleanup.UserPage) error) error {
	return cleanup.FollowUserPages(ctx, f, q, cursor, fn)
}

type failingConnector struct {
	cleanup.Connector
	org *failingOrg
}

func (c failingConnector) Org(ctx context.Context, clientKey string) (cleanup.OrgDirectory, error) {
	o, err := c.Connector.Org(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	c.org.mu.Lock()
	c.org.OrgDirectory = o
	c.org.mu.Unlock()
	return c.org, nil
}

// TestEvaluationChainsResume interrupts the evaluation at several points
// (every search after the nth commit fails, so the step ends with what it
// committed, the chains at different pages) and checks that the resumed run evaluates exactly the users
// of an uninterrupted one-chain run: no page skipped, none counted twice.
func TestEvaluationChainsResume(t *testing.T) {
	// A commit holds at most one batch: as many pages as there are chains
	// (8 here). With 300 users (about 40 pages of 7) the pages of a loaded
	// machine could coalesce into fewer than 10 commits, so failAfter 10
	// was never reached; 1,000 users are about 130 pages, at least 17
	// commits however they coalesce.
	const users = 1000
	d := chainDefinition()
	ref := chainWorld(users)
	one := dryRun(t, ref, ref.chainEngine(t, 1, nil), d)
	wantRows := rowKeys(ref.store, one.ID)
	for _, failAfter := range []int{1, 3, 6, 10} {
		t.Run(fmt.Sprint(failAfter), func(t *testing.T) {
			w := chainWorld(users)
			org := &failingOrg{failAfter: failAfter, commits: func() int { return len(w.store.Commits()) }}
			en := w.chainEngine(t, 8, failingConnector{Connector: w.dir.Connector(), org: org})
			id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w.settings, DryRun: true})
			res := step(t, en, id, "crashing")
			if res.RetryAfter == 0 || res.Done {
				t.Fatalf("first step = %+v, want a retry after the failure", res)
			}
			mid, _ := w.store.Run(id)
			if mid.Phase != cleanup.PhaseEvaluate && mid.Phase != "" || mid.Counts.Evaluated == 0 {
				t.Fatalf("interrupted at phase %q with %d evaluated, want evaluate with some evaluated", mid.Phase, mid.Counts.Evaluated)
			}
			t.Logf("interrupted after %d evaluated (cursor %s)", mid.Counts.Evaluated, mid.Cursor)
			org.mu.Lock()
			org.healed = true
			resumeFrom := len(org.searches)
			org.mu.Unlock()
			for i := 0; ; i++ {
				res := step(t, en, id, fmt.Sprintf("resume-%d", i))
				if res.Done {
					break
				}
				if i > 100 {
					t.Fatal("the run does not end")
				}
				w.clock.Add(res.RetryAfter)
			}
			got, _ := w.store.Run(id)
			if got.Status != cleanup.RunSucceeded {
				t.Fatalf("run %s: %s", got.Status, got.Error)
			}
			if got.Counts.Evaluation != one.Counts.Evaluation {
				t.Errorf("counts %+v, want %+v", got.Counts.Evaluation, one.Counts.Evaluation)
			}
			if diff := cmp.Diff(wantRows, rowKeys(w.store, id)); diff != "" {
				t.Errorf("rows (-uninterrupted +resumed):\n%s", diff)
			}
			// The resume read each chain from its committed cursor on: no
			// search of it was repeated more than once (the page in flight
			// at the failure).
			org.mu.Lock()
			defer org.mu.Unlock()
			asked := map[string]int{}
			for _, s := range org.searches[resumeFrom:] {
				asked[s]++
			}
			for s, n := range asked {
				if n > 1 {
					t.Errorf("search %q asked %d times after the resume", s, n)
				}
			}
		})
	}
}

// TestEvaluationLegacyCursor: a run evaluated by one chain before chains
// existed (its cursor is the API's) resumes as that one chain.
func TestEvaluationLegacyCursor(t *testing.T) {
	d := chainDefinition()
	ref := chainWorld(60)
	one := dryRun(t, ref, ref.chainEngine(t, 1, nil), d)

	w2 := chainWorld(60)
	// The first page of the single search, committed the old way.
	org, _ := w2.dir.Connector().Org(context.Background(), tenant)
	page, err := org.SearchUsers(context.Background(), cleanup.UserQuery{GroupIDs: []string{gJira, gSynced, gOther}}, "")
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %v, next %q", err, page.Next)
	}
	ev, err := cleanup.NewEvaluator(w2.settings, d, one.Groups, *one.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	rows, counts := ev.Evaluate(page.Users)
	started := *one.StartedAt
	rc := cleanup.RunCounts{Evaluation: counts, Evaluated: counts.Evaluated, Matched: counts.Matched, Protected: counts.Protected}
	id := w2.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w2.settings, DryRun: true,
		Status: cleanup.RunRunning, Phase: cleanup.PhaseEvaluate, StartedAt: &started, Groups: one.Groups, Cursor: page.Next, Counts: rc})
	w2.store.AddRows(id, nil, rows...)
	en := w2.chainEngine(t, 8, nil)
	for i := 0; ; i++ {
		if res := step(t, en, id, fmt.Sprintf("o%d", i)); res.Done {
			break
		}
	}
	got, _ := w2.store.Run(id)
	if got.Counts.Evaluation != one.Counts.Evaluation {
		t.Errorf("counts %+v, want %+v", got.Counts.Evaluation, one.Counts.Evaluation)
	}
	if diff := cmp.Diff(rowKeys(ref.store, one.ID), rowKeys(w2.store, id)); diff != "" {
		t.Errorf("rows (-one chain +legacy resume):\n%s", diff)
	}
}
