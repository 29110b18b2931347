package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

// usersTargetMs is the users screen's target for its first page.
const usersTargetMs = 100

// runUsers stores a snapshot of --users users in a fresh database and
// times the users screen's queries, as GET /api/users makes them (the
// latest snapshot, the count and the page: what cleanup.Snapshots.Users
// asks the store), over --repeat repetitions: the first page, a search,
// the filters, a sort on another column and a deep page. HTTP and the
// token check add a few microseconds (BenchmarkVerifyPageRequest).
func runUsers(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	fs.SetOutput(stdout)
	users := fs.Int("users", 100_000, "users in the snapshot")
	repeat := fs.Int("repeat", 20, "repetitions of each query (the median and the slowest are printed)")
	perPage := fs.Int("per-page", 50, "users per page")
	db := fs.String("db", "sqlite", "database: sqlite or postgres")
	pgURL := fs.String("postgres-url", os.Getenv("TEST_POSTGRES_URL"), "PostgreSQL URL for --db postgres (a temporary schema is created and dropped)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users <= 0 || *repeat <= 0 || *perPage <= 0 || *perPage > cleanup.MaxPerPage {
		return fmt.Errorf("users: --users and --repeat must be positive, --per-page 1 to %d", cleanup.MaxPerPage)
	}
	key := make([]byte, store.KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	cipher, err := store.NewCipher(key)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ucbench-users-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := store.Config{Cipher: cipher}
	switch *db {
	case "sqlite":
		cfg.Driver, cfg.DSN = store.SQLite, filepath.Join(dir, "bench.db")
	case "postgres":
		if *pgURL == "" {
			return errors.New("users: --db postgres needs --postgres-url or TEST_POSTGRES_URL")
		}
		dsn, drop, err := benchSchema(ctx, *pgURL)
		if err != nil {
			return err
		}
		defer drop()
		cfg.Driver, cfg.DSN = store.Postgres, dsn
	default:
		return fmt.Errorf("users: unknown --db %q (sqlite or postgres)", *db)
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	const ck = "bench-tenant"
	if err := st.SaveTenant(cleanup.AsOperator(ctx), &connect.Tenant{ClientKey: ck, SharedSecret: "bench-secret-0123456789abcdef",
		ProductType: connect.Jira, BaseURL: "https://bench.atlassian.net", AppKey: "com.example.usercleanup.jira", Enabled: true}); err != nil {
		return err
	}
	snaps := st.Snapshots(nil)
	seedStart := time.Now()
	if err := seedSnapshot(ctx, snaps, ck, *users); err != nil {
		return err
	}
	seeded := time.Since(seedStart)

	type query struct {
		name string
		f    cleanup.SnapshotUserFilter
		page int
	}
	queries := []query{
		{"first page (by name)", cleanup.SnapshotUserFilter{}, 1},
		{"search \"user 04242\"", cleanup.SnapshotUserFilter{Search: "user 04242"}, 1},
		{"inactive, not protected", cleanup.SnapshotUserFilter{Band: cleanup.BandInactive, Protected: "no"}, 1},
		{"Confluence, by last active", cleanup.SnapshotUserFilter{Product: cleanup.ProductConfluence, Sort: cleanup.UserSortLastActive, Desc: true}, 1},
		{"synced group, by e-mail", cleanup.SnapshotUserFilter{GroupID: "g-entra", Sort: cleanup.UserSortEmail}, 1},
		{"page 100", cleanup.SnapshotUserFilter{}, 100},
	}
	fmt.Fprintf(stdout, "database                %s\n", *db)
	fmt.Fprintf(stdout, "users in the snapshot   %d (stored in %s)\n", *users, seeded.Round(time.Millisecond))
	fmt.Fprintf(stdout, "repetitions             %d, %d users per page\n", *repeat, *perPage)
	var firstMedian time.Duration
	for i, q := range queries {
		times := make([]time.Duration, 0, *repeat)
		total := 0
		for range *repeat {
			start := time.Now()
			latest, _, err := snaps.LatestSnapshots(ctx, ck)
			if err != nil {
				return err
			}
			if latest == nil {
				return errors.New("users: no snapshot")
			}
			_, n, err := snaps.SnapshotUsers(ctx, ck, latest.ID, q.f, cleanup.Page{Page: q.page, PerPage: *perPage})
			if err != nil {
				return err
			}
			times = append(times, time.Since(start))
			total = n
		}
		slices.Sort(times)
		median := times[len(times)/2]
		if i == 0 {
			firstMedian = median
		}
		fmt.Fprintf(stdout, "%-28s median %7.2f ms, slowest %7.2f ms, %d matching\n", q.name, ms(median), ms(times[len(times)-1]), total)
	}
	fmt.Fprintf(stdout, "first page              %.2f ms (target < %d ms: %s)\n", ms(firstMedian), usersTargetMs, verdict(firstMedian < usersTargetMs*time.Millisecond))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// seedSnapshot stores a succeeded snapshot of n users with the spread of
// a real site: every band, two products, three licensing groups (one
// synced), a few protected users.
func seedSnapshot(ctx context.Context, snaps *store.SnapshotStore, ck string, n int) error {
	id, _, err := snaps.CreateSnapshot(ctx, ck, cleanup.TriggerManual, "bench")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := snaps.BeginSnapshot(ctx, ck, id, now); err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	bands := cleanup.ActivityBands{ActiveDays: 30, LowUsageDays: 90}
	const batch = 2000
	page := make([]cleanup.SnapshotUser, 0, batch)
	for i := range n {
		u := cleanup.SnapshotUser{AccountID: fmt.Sprintf("557058:%08x-%06d", rng.Uint32(), i),
			Name: fmt.Sprintf("User %05d %c", i, 'a'+rune(rng.IntN(26))), Email: fmt.Sprintf("user%05d@example.com", i),
			AccountType: cleanup.AccountAtlassian, Status: cleanup.StatusActive, LastActive: map[string]time.Time{},
			Products: []string{cleanup.ProductJiraSoftware}, Groups: []cleanup.SnapshotGroup{{ID: "g-jira", Name: "jira-software-users"}}}
		if i%3 == 0 {
			u.Products = append(u.Products, cleanup.ProductConfluence)
			u.Groups = append(u.Groups, cleanup.SnapshotGroup{ID: "g-conf", Name: "confluence-users"})
		}
		if i%5 == 0 {
			u.Groups = append(u.Groups, cleanup.SnapshotGroup{ID: "g-entra", Name: "entra-jira-software", Synced: true})
			u.Synced = true
		}
		var last time.Time
		if rng.IntN(10) > 0 {
			for _, p := range u.Products {
				at := now.Add(-time.Duration(rng.IntN(700*24)) * time.Hour)
				u.LastActive[p] = at
				if at.After(last) {
					last = at
				}
			}
			u.LastActiveAt = &last
		}
		u.Band = bands.Band(last, now)
		if i%97 == 0 {
			u.Protected, u.ProtectedWhy = cleanup.ProtectedAdmin, "site or organization admin"
		}
		page = append(page, u)
		if len(page) == batch || i == n-1 {
			if err := snaps.AddSnapshotUsers(ctx, ck, id, page, i+1); err != nil {
				return err
			}
			page = page[:0]
		}
	}
	return snaps.FinishSnapshot(ctx, ck, id, cleanup.SnapshotSucceeded, "", &cleanup.SnapshotStats{Users: n}, nil, now, now.AddDate(0, 0, -cleanup.SnapshotKeepDays))
}
