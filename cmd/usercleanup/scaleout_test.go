package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// runLog reads the run ids of the "run started" and "run finished" lines
// of a serve log.
func runLog(logs string) (started, finished []int64) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg       string `json:"msg"`
			RunID     int64  `json:"run_id"`
			ClientKey string `json:"client_key"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.RunID == 0 {
			continue
		}
		switch rec.Msg {
		case "run started":
			started = append(started, rec.RunID)
		case "run finished":
			finished = append(finished, rec.RunID)
		}
	}
	return started, finished
}

// instanceID reads the job runtime's instance id from a serve log.
func instanceID(t *testing.T, logs string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg      string `json:"msg"`
			Instance string `json:"instance"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "job runtime started" && rec.Instance != "" {
			return rec.Instance
		}
	}
	t.Fatal("no job runtime instance id in the log")
	return ""
}

// leasedBy lists the unfinished runs whose lease an instance holds (run
// leases name the instance: "<instance>/job-N/attempt-M").
func leasedBy(t *testing.T, conn *pgx.Conn, instance string) []int64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT id FROM runs WHERE status IN ('queued', 'running') AND lease_owner LIKE $1`, instance+"/%")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestScaleOut runs three instances of the real program on one PostgreSQL
// database with 50 installed tenants whose 50 scheduled cleanups come due
// at the same moment. Each tenant's cleanup removes a disjoint slice of
// the organization's inactive users, so every removal the fake cloud sees
// belongs to exactly one run. One instance is SIGKILLed while the runs
// are under way. Every cleanup must run exactly once, the work must spread
// over the instances, the runs the killed instance was working on must
// finish on the others, and every planned removal must happen exactly once.
func TestScaleOut(t *testing.T) {
	base := os.Getenv("TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TEST_POSTGRES_URL not set: the scale-out test needs PostgreSQL")
	}
	if testing.Short() {
		t.Skip("runs three servers")
	}
	const tenants = 50
	began := time.Now()
	dsn := postgresSchemaURL(t, base)
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 23, Users: 1200, ExtraGroups: 2, Sites: []connect.Product{connect.Jira}})
	t.Cleanup(cloud.Close)
	env, ks := serveEnv(t, cloud, dsn, map[string]string{
		"JOB_RESCUE_AFTER": "3s", "JOB_SCHEDULE_EVERY": "1s", "JOB_WORKERS": "2",
	})
	appBase := env["BASE_URL"] // the three share it, as behind a load balancer
	var procs []*process
	for i := range 3 {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		if i > 0 {
			e["ADDR"] = freeAddr(t)
		}
		procs = append(procs, startServe(t, e))
	}

	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: appBase, AppKey: defaultAppKey}.App()
	jsw, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	inactive := inactiveMembers(cloud.Users(), jsw.ID, time.Now())
	if len(inactive) < 2*tenants {
		t.Fatalf("the seed has %d inactive members, too few for %d tenants", len(inactive), tenants)
	}
	var all []string
	for _, u := range inactive {
		all = append(all, u.AccountID)
	}
	admin := orgAdmin(t, cloud)
	want := map[string]string{} // account → tenant that removes it
	for j, id := range all {
		want[id] = fmt.Sprintf("scale-tenant-%02d", j%tenants)
	}
	setup := func(i int) {
		clientKey := fmt.Sprintf("scale-tenant-%02d", i)
		// The fake cloud serves one Jira site, which keeps one installation
		// per app key: the 50 tenants (50 sites in real life) share its
		// shared secret so that all of them can call it. The app stores
		// and uses each tenant on its own all the same.
		tenant := signedInstall(t, ks, site, app, clientKey, "shared-secret-of-the-scale-out-test-0123456789")
		api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: admin}
		settings := map[string]any{"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"}}
		if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
			t.Errorf("%s: patch settings: %d", clientKey, code)
			return
		}
		// This tenant's slice: every tenants-th inactive member; the
		// others are exceptions of its cleanup.
		var others []string
		for j, id := range all {
			if j%tenants != i {
				others = append(others, id)
			}
		}
		def := map[string]any{"name": "Nightly", "action": cleanup.ActionRemoveProductAccess, "daysInactive": 30,
			"licensingGroupIds":  []string{jsw.ID},
			"exceptionsOverride": map[string]any{"groupIds": []string{}, "accountIds": others},
			"schedule":           map[string]any{"active": true, "frequency": cleanup.FrequencyDaily, "timeOfDay": "03:00", "timeZone": "UTC"}}
		if code := api.do(http.MethodPost, "/cleanups", def, nil); code != http.StatusCreated {
			t.Errorf("%s: create cleanup: %d", clientKey, code)
		}
	}
	// Installs and set-up, five at a time.
	var wg sync.WaitGroup
	next := make(chan int)
	for range 5 {
		wg.Go(func() {
			for i := range next {
				setup(i)
			}
		})
	}
	for i := range tenants {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	cloud.SetLatency(40 * time.Millisecond) // runs long enough to be cut by the kill
	t.Logf("%d tenants installed in %s", tenants, time.Since(began).Round(time.Millisecond))

	// All 50 come due at the same moment.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Their daily 03:00 UTC last ran two days ago, so the latest 03:00 is
	// due now (the schedule's own rule; one run however many were missed).
	due, last := time.Now().UTC().Add(-time.Second), time.Now().UTC().Add(-48*time.Hour)
	if tag, err := conn.Exec(ctx, `UPDATE cleanups SET next_run_at = $1, last_scheduled_at = $2`, due, last); err != nil || tag.RowsAffected() != tenants {
		t.Fatalf("make the cleanups due: %v %v", tag, err)
	}
	dueAt := time.Now()

	count := func(q string) int {
		var n int
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	wait := func(what string, timeout time.Duration, ok func() bool) {
		deadline := time.Now().Add(timeout)
		for !ok() {
			if time.Now().After(deadline) {
				for i, p := range procs {
					_ = os.WriteFile(fmt.Sprintf("/tmp/scaleout-%d.log", i), []byte(p.logs.String()), 0o600)
				}
				rows, _ := conn.Query(ctx, `SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state`)
				for rows.Next() {
					var k, st string
					var n int
					_ = rows.Scan(&k, &st, &n)
					t.Logf("river_job %s %s %d", k, st, n)
				}
				rows.Close()
				rows, _ = conn.Query(ctx, `SELECT scheduled, next_run_at::text, now()::text FROM cleanups LIMIT 2`)
				for rows.Next() {
					var sch bool
					var nx, nw string
					_ = rows.Scan(&sch, &nx, &nw)
					t.Logf("cleanup scheduled=%v next=%s now=%s", sch, nx, nw)
				}
				rows.Close()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Kill the second instance once some runs finished but not all, at
	// a moment it holds the lease of a run under way (its in-flight
	// step dies with it).
	victim := procs[1]
	victimID := instanceID(t, victim.logs.String())
	var orphaned []int64
	wait("the first runs to finish with the second instance working", 30*time.Second, func() bool {
		if count(`SELECT COUNT(*) FROM runs WHERE status NOT IN ('queued', 'running')`) < tenants/5 {
			return false
		}
		orphaned = leasedBy(t, conn, victimID)
		return len(orphaned) > 0
	})
	killedAt := count(`SELECT COUNT(*) FROM runs WHERE status NOT IN ('queued', 'running')`)
	victim.kill(t)
	t.Logf("instance 2 killed after %d of %d runs finished (%s after they came due)", killedAt, tenants, time.Since(dueAt).Round(time.Millisecond))
	if killedAt >= tenants {
		t.Fatal("every run finished before the kill: the test proves nothing about it")
	}
	wait("every run to finish", 45*time.Second, func() bool {
		return count(`SELECT COUNT(*) FROM runs WHERE status NOT IN ('queued', 'running')`) == tenants
	})
	t.Logf("all %d runs finished %s after they came due", tenants, time.Since(dueAt).Round(time.Millisecond))
	// A run's "run finished" line is logged after its status is
	// committed, and log lines are written in batches: stop the surviving
	// instances cleanly before their logs are read.
	for _, p := range procs {
		if p != victim {
			p.stop(t, 30*time.Second)
		}
	}

	// Exactly once: one run per cleanup, all succeeded.
	if n := count(`SELECT COUNT(*) FROM runs`); n != tenants {
		t.Errorf("%d runs, want exactly one per cleanup (%d)", n, tenants)
	}
	if n := count(`SELECT COUNT(DISTINCT cleanup_id) FROM runs`); n != tenants {
		t.Errorf("runs of %d cleanups, want %d", n, tenants)
	}
	if n := count(`SELECT COUNT(*) FROM runs WHERE status <> 'succeeded'`); n != 0 {
		t.Errorf("%d runs did not succeed", n)
	}

	// No duplicate action: every planned removal exactly once.
	got := map[string]int{}
	for _, c := range cloud.Calls() {
		if c.GroupID != jsw.ID {
			t.Errorf("unexpected call %+v", c)
			continue
		}
		got[c.AccountID]++
		if c.Result != "removed" {
			t.Errorf("call %+v: a second removal of the same membership", c)
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("account %s (tenant %s) removed %d times, want once", id, want[id], got[id])
		}
	}
	for id, n := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("account %s removed %d times, but no cleanup selects it", id, n)
		}
	}

	// The work spread, and the runs the killed instance had begun
	// finished on the others.
	finishedBy := map[int64]int{}
	perInstance := make([]int, len(procs))
	for i, p := range procs {
		_, fin := runLog(p.logs.String())
		perInstance[i] = len(fin)
		for _, id := range fin {
			finishedBy[id]++
		}
	}
	t.Logf("runs finished per instance: %v (instance 2 killed)", perInstance)
	working := 0
	for _, n := range perInstance {
		if n > 0 {
			working++
		}
	}
	if working < 2 {
		t.Errorf("runs finished on %d instance(s), want the work spread over several", working)
	}
	if len(finishedBy) != tenants {
		t.Errorf("the logs show %d finished runs, want %d", len(finishedBy), tenants)
	}
	for id, n := range finishedBy {
		if n != 1 {
			t.Errorf("run %d finished %d times", id, n)
		}
	}
	// The runs whose lease the killed instance held finished on the
	// others.
	_, finishedByVictim := runLog(victim.logs.String())
	for _, id := range orphaned {
		if slices.Contains(finishedByVictim, id) {
			continue // it finished that run just before the kill
		}
		if finishedBy[id] != 1 {
			t.Errorf("run %d, cut short by the kill, finished %d times on the others", id, finishedBy[id])
		}
	}
	t.Logf("the killed instance held the lease of runs %v when it was killed; it had finished %d runs", orphaned, len(finishedByVictim))
	t.Logf("scale-out test took %s", time.Since(began).Round(time.Millisecond))
}
