package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cputime"
	"github.com/example/usercleanup/internal/idpexport"
	"github.com/example/usercleanup/internal/store"
)

// Targets of the export benchmark.
const (
	exportTargetRowsPerSec = 500_000
	exportTargetMiB        = 100
)

// exportBenchColumns are the run_users columns the benchmark fills.
const exportBenchColumns = `run_id, client_key, account_id, name, email, account_type, product, group_id, group_name,
	group_synced, identity_provider, last_active, reason, action, outcome, email_key, created_at, updated_at`

const exportBenchClientKey = "bench-tenant"

// runExport seeds a run with --rows idp-export rows across --groups groups
// in a fresh database, then times two things and prints rows/s and peak
// memory of each next to its floor (the time the database's own
// command-line client needs to dump the same rows as CSV):
//
//   - the run's export step: idpexport.Exporter generating the stored files
//     (Entra files, bundle) and recording the audit files;
//   - a download of each audit file (CSV, JSON), streamed from the run's
//     rows by idpexport.OpenAudit, as the download handler does, into a
//     byte counter.
//
// --vacuum-first vacuums the table between the seeding and the step on
// PostgreSQL, the state autovacuum may leave the rows in before a real
// run's export; without it the step reads rows no vacuum has visited.
//
// The floor is timed after the downloads by default, or before the step
// with --floor-first: on PostgreSQL the first of these reads after the
// settling UPDATE is the slower one (exportFloor).
//
// It is long on purpose: a benchmark reads as one script (flags, set-up,
// the timed part, the report), so what is measured and under which
// conditions stays visible in one place.
func runExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stdout)
	rows := fs.Int("rows", 1_000_000, "idp-export rows in the run")
	groups := fs.Int("groups", 100, "identity-provider groups the rows are spread over")
	db := fs.String("db", "sqlite", "database: sqlite or postgres")
	pgURL := fs.String("postgres-url", os.Getenv("TEST_POSTGRES_URL"), "PostgreSQL URL for --db postgres (a temporary schema is created and dropped)")
	batch := fs.Int("batch", idpexport.DefaultBatchSize, "rows per keyset query")
	chunk := fs.Int("chunk", store.DefaultExportChunkSize, "stored chunk size in bytes")
	entraWorkers := fs.Int("entra-workers", 0, "workers of the Entra pass (0: the exporter's default)")
	maxRows := fs.Int("max-rows-per-file", cleanup.DefaultMaxRowsPerFile, "Entra rows per file before splitting")
	dryRunRows := fs.Bool("dry-run-rows", false, "seed the rows settled, as a dry run commits them; by default they are committed pending and then settled by one UPDATE, as a removal run's apply phase does (on PostgreSQL that leaves a dead version of every row)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the export step to this file")
	downloadProfile := fs.String("download-cpuprofile", "", "write a CPU profile of the audit downloads to this file")
	floor := fs.Bool("floor", true, "also time the database client dumping the same rows (sqlite3 or psql)")
	vacuumFirst := fs.Bool("vacuum-first", false, "PostgreSQL: VACUUM run_users after seeding, as autovacuum may have done before a removal run's export step (it sets the settled rows' hint bits and visibility map; this benchmark's database may run without autovacuum)")
	floorFirst := fs.Bool("floor-first", false, "time the floor before the export step instead of after it: the floor then makes the first read of the freshly settled rows (on PostgreSQL that read also sets their hint bits and writes those pages) and the step reads rows read once already")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *vacuumFirst && *db != "postgres" {
		return errors.New("export: --vacuum-first is for --db postgres")
	}
	if *rows <= 0 || *groups <= 0 || *groups > *rows || *batch <= 0 || *chunk <= 0 || *maxRows <= 0 || *entraWorkers < 0 {
		return errors.New("export: --rows, --groups, --batch, --chunk and --max-rows-per-file must be positive, --groups at most --rows, --entra-workers not negative")
	}

	key := make([]byte, store.KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	cipher, err := store.NewCipher(key)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ucbench-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cfg := store.Config{Cipher: cipher}
	var dropSchema func()
	switch *db {
	case "sqlite":
		cfg.Driver, cfg.DSN = store.SQLite, filepath.Join(dir, "bench.db")
	case "postgres":
		if *pgURL == "" {
			return errors.New("export: --db postgres needs --postgres-url or TEST_POSTGRES_URL")
		}
		dsn, drop, err := benchSchema(ctx, *pgURL)
		if err != nil {
			return err
		}
		dropSchema = drop
		cfg.Driver, cfg.DSN = store.Postgres, dsn
	default:
		return fmt.Errorf("export: unknown --db %q (sqlite or postgres)", *db)
	}
	if dropSchema != nil {
		defer dropSchema()
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	seedStart := time.Now()
	runID, err := seedExportRun(ctx, st, *rows, *groups, *maxRows, *dryRunRows)
	if err != nil {
		return err
	}
	seeded := time.Since(seedStart)
	var vacuumed time.Duration
	if *vacuumFirst {
		start := time.Now()
		if _, err := st.SQLDB().ExecContext(ctx, "VACUUM run_users"); err != nil {
			return fmt.Errorf("export: vacuum: %w", err)
		}
		vacuumed = time.Since(start)
	}
	var fl exportFloor
	if *floor && *floorFirst {
		fl = measureExportFloor(ctx, *db, cfg.DSN, runID, "before the step")
	}

	// Measure the generation alone: collect the seeding's garbage and reset
	// the peak-RSS counter (Linux: writing 5 to clear_refs).
	runtime.GC()
	resetPeak := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	exp := idpexport.NewExporter(st, idpexport.ExporterConfig{BatchSize: *batch, ChunkSize: *chunk, EntraWorkers: *entraWorkers, Logger: log})
	loadBefore := loadAverage()
	cpuStart, _ := cputime.Process()
	start := time.Now()
	err = exp.GenerateRunExports(ctx, exportBenchClientKey, runID)
	elapsed := time.Since(start)
	cpuEnd, _ := cputime.Process()
	cpu := cpuEnd - cpuStart
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	list, err := st.RunExports(ctx, exportBenchClientKey, runID)
	if err != nil {
		return err
	}
	var entraFiles, entraRows, bytes int64
	sizes := map[string]int64{}
	for _, f := range list.Files {
		bytes += f.Size
		sizes[f.Kind] += f.Size
		if f.Kind == cleanup.ExportKindEntra {
			entraFiles++
			entraRows += f.Rows
		}
	}
	if entraRows != int64(*rows) {
		return fmt.Errorf("export: Entra files hold %d rows, want %d", entraRows, *rows)
	}

	// The audit downloads, each alone with its own peak.
	type download struct {
		kind    string
		bytes   int64
		elapsed time.Duration
		cpu     time.Duration
		hwm     int64
	}
	var downloads []download
	if *downloadProfile != "" {
		f, err := os.Create(*downloadProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	for _, f := range list.Files {
		if !f.Streamed {
			continue
		}
		runtime.GC()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		cpuStart, _ := cputime.Process()
		start := time.Now()
		a, err := idpexport.OpenAudit(ctx, st, f, *batch)
		if err != nil {
			return err
		}
		n, err := a.WriteTo(io.Discard)
		if cerr := a.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("export: download %s: %w", f.FileName, err)
		}
		elapsed := time.Since(start)
		cpuEnd, _ := cputime.Process()
		d := download{kind: f.Kind, bytes: n, elapsed: elapsed, cpu: cpuEnd - cpuStart}
		if d.hwm, err = peakRSS(); err != nil {
			return err
		}
		downloads = append(downloads, d)
		sizes[f.Kind] += n
	}
	if *downloadProfile != "" {
		pprof.StopCPUProfile()
	}

	rate := float64(*rows) / elapsed.Seconds()
	fmt.Fprintf(stdout, "database                %s\n", *db)
	fmt.Fprintf(stdout, "load average            %s before the export step, %s after the downloads\n", loadBefore, loadAverage())
	fmt.Fprintf(stdout, "rows / groups           %d / %d (seeded in %s)\n", *rows, *groups, seeded.Round(time.Millisecond))
	if *vacuumFirst {
		fmt.Fprintf(stdout, "vacuum before the step  %s (VACUUM run_users, not part of the step)\n", vacuumed.Round(time.Millisecond))
	}
	fmt.Fprintf(stdout, "files                   %d Entra (%d rows, %.1f MiB), bundle %.1f MiB stored; audit CSV %.1f MiB, audit JSON %.1f MiB streamed\n",
		entraFiles, entraRows, mib(sizes[cleanup.ExportKindEntra]), mib(sizes[cleanup.ExportKindBundle]),
		mib(sizes[cleanup.ExportKindAuditCSV]), mib(sizes[cleanup.ExportKindAuditJSON]))
	fmt.Fprintf(stdout, "export step             %s for %.1f MiB stored\n", elapsed.Round(time.Millisecond), mib(bytes))
	fmt.Fprintf(stdout, "throughput              %.0f rows/s (target >= %d: %s)\n", rate, exportTargetRowsPerSec, verdict(rate >= exportTargetRowsPerSec))
	fmt.Fprintf(stdout, "CPU (this process)      %s: %.0f rows per CPU-second%s\n", cpu.Round(time.Millisecond), float64(*rows)/cpu.Seconds(), cpuNote(*db))
	peakNote := ""
	if !resetPeak {
		peakNote = " (includes seeding: clear_refs unavailable)"
	}
	fmt.Fprintf(stdout, "peak memory (VmHWM)     %.1f MiB%s (target < %d MiB: %s)\n", mib(hwm), peakNote, exportTargetMiB, verdict(hwm < exportTargetMiB<<20))
	fmt.Fprintf(stdout, "Go allocations          %.1f MiB in %d objects (%.1f per row), %d GCs\n",
		mib(int64(after.TotalAlloc-before.TotalAlloc)), after.Mallocs-before.Mallocs,
		float64(after.Mallocs-before.Mallocs)/float64(*rows), after.NumGC-before.NumGC)
	for _, d := range downloads {
		r := float64(*rows) / d.elapsed.Seconds()
		fmt.Fprintf(stdout, "download %-14s %s, %.1f MiB: %.0f rows/s (target >= %d: %s), peak %.1f MiB%s (target < %d MiB: %s)\n",
			d.kind, d.elapsed.Round(time.Millisecond), mib(d.bytes), r, exportTargetRowsPerSec, verdict(r >= exportTargetRowsPerSec),
			mib(d.hwm), peakNote, exportTargetMiB, verdict(d.hwm < exportTargetMiB<<20))
		fmt.Fprintf(stdout, "  CPU (this process)    %s: %.0f rows per CPU-second%s\n", d.cpu.Round(time.Millisecond), float64(*rows)/d.cpu.Seconds(), cpuNote(*db))
	}

	if *floor {
		if !*floorFirst {
			fl = measureExportFloor(ctx, *db, cfg.DSN, runID, "after the step")
		}
		switch {
		case fl.err != nil:
			fmt.Fprintf(stdout, "floor                   not measured: %v\n", fl.err)
		default:
			fmt.Fprintf(stdout, "floor (%s CSV dump)  %s for the Entra read (Entra order, %s): %.0f rows/s; the export step takes %.2fx the floor\n",
				fl.tool, fl.entra.Round(time.Millisecond), fl.when, float64(*rows)/fl.entra.Seconds(), elapsed.Seconds()/fl.entra.Seconds())
			for _, d := range downloads {
				fmt.Fprintf(stdout, "floor (%s CSV dump)  %s for the audit read (id order, %s): %.0f rows/s; download %s takes %.2fx the floor\n",
					fl.tool, fl.audit.Round(time.Millisecond), fl.when, float64(*rows)/fl.audit.Seconds(), d.kind, d.elapsed.Seconds()/fl.audit.Seconds())
			}
		}
	}
	return nil
}

// exportFloor is the database client's time to dump the rows the export
// step and the audit downloads read (dumpFloor), and when it was taken.
// When matters on PostgreSQL: the first read of rows settled by an UPDATE
// sets the hint bits of both row versions and writes those pages, so
// whichever reads first (the floor with --floor-first, otherwise the
// step) pays for it.
type exportFloor struct {
	entra, audit time.Duration
	tool, when   string
	err          error
}

func measureExportFloor(ctx context.Context, db, dsn string, runID int64, when string) exportFloor {
	entra, audit, tool, err := dumpFloor(ctx, db, dsn, runID)
	return exportFloor{entra: entra, audit: audit, tool: tool, when: when, err: err}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// cpuNote says what the CPU figures leave out: on a shared machine they
// depend less on the load than rows/s, but PostgreSQL's work is the
// server's.
func cpuNote(db string) string {
	if db == "postgres" {
		return " (without the PostgreSQL server's)"
	}
	return ""
}

// loadAverage is the 1-, 5- and 15-minute load average (Linux), or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// seedExportRun inserts a finished run and its rows: 500-row INSERTs on
// PostgreSQL, one prepared single-row INSERT per row on SQLite, whose driver
// binds a statement's parameters in time quadratic in their number (a
// 500-row statement made the seed of a million rows take minutes). Unless
// dryRunRows, the rows are inserted pending and settled afterwards, as a
// removal run's are.
//
// It is long because it writes the seed's SQL for both databases inline,
// one statement after the other, as the floor measurement reads it.
func seedExportRun(ctx context.Context, st *store.Store, rows, groups, maxRows int, dryRunRows bool) (int64, error) {
	db := st.SQLDB()
	pg := st.Driver() == store.Postgres
	settings := cleanup.DefaultSettings()
	settings.IdentityProvider.Provider = cleanup.ProviderEntra
	settings.Export.MaxRowsPerFile = maxRows
	js, err := json.Marshal(settings)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	var runID int64
	err = db.QueryRowContext(ctx, rebind(pg, `INSERT INTO runs (client_key, cleanup_name, definition, settings, trigger, dry_run,
		status, phase, queued_at, started_at, finished_at, created_at, updated_at)
		VALUES (?, 'bench', '{}', ?, 'manual', ?, 'succeeded', 'done', ?, ?, ?, ?, ?) RETURNING id`),
		exportBenchClientKey, string(js), false, now, now, now, now, now).Scan(&runID)
	if err != nil {
		return 0, fmt.Errorf("seed run: %w", err)
	}

	perStmt := 500
	if !pg {
		perStmt = 1
	}
	const cols = 18
	var sb strings.Builder
	sb.WriteString("INSERT INTO run_users (" + exportBenchColumns + ") VALUES ")
	for i := 0; i < perStmt; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?" + strings.Repeat(",?", cols-1) + ")")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	full, err := tx.PrepareContext(ctx, rebind(pg, sb.String()))
	if err != nil {
		return 0, fmt.Errorf("seed rows: %w", err)
	}
	defer full.Close()
	args := make([]any, 0, perStmt*cols)
	lastActive := `{"confluence":null,"jira-software":"` + now.AddDate(-1, 0, 0).Format(time.RFC3339) + `"}`
	flush := func(n int) error {
		if n == perStmt {
			_, err := full.ExecContext(ctx, args...)
			return err
		}
		q := "INSERT INTO run_users (" + exportBenchColumns + ") VALUES " +
			strings.TrimSuffix(strings.Repeat("(?"+strings.Repeat(",?", cols-1)+"),", n), ",")
		_, err := tx.ExecContext(ctx, rebind(pg, q), args...)
		return err
	}
	outcome := cleanup.OutcomePending
	if dryRunRows {
		outcome = cleanup.OutcomeExported
	}
	n := 0
	for i := 0; i < rows; i++ {
		g := i % groups
		email := fmt.Sprintf("user%07d@example.com", i)
		if i%7 == 0 {
			email = fmt.Sprintf("User%07d@Example.com", i)
		}
		args = append(args, runID, exportBenchClientKey, fmt.Sprintf("557058:%08x", i), fmt.Sprintf("User %d", i), email,
			"atlassian", "jira-software", fmt.Sprintf("group-%03d", g), fmt.Sprintf("Entra Group %03d", g),
			true, cleanup.ProviderEntra, lastActive, fmt.Sprintf("inactive for %d days", 90+i%400),
			cleanup.ActionIdPExport, outcome, strings.ToLower(email), now, now)
		n++
		if n == perStmt {
			if err := flush(n); err != nil {
				return 0, fmt.Errorf("seed rows: %w", err)
			}
			args, n = args[:0], 0
		}
	}
	if n > 0 {
		if err := flush(n); err != nil {
			return 0, fmt.Errorf("seed rows: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if !dryRunRows {
		// What the apply phase's SettleRows does with a removal run's
		// export rows: one UPDATE in its own transaction.
		if _, err := db.ExecContext(ctx, rebind(pg, `UPDATE run_users SET outcome = ?, updated_at = ? WHERE run_id = ? AND action = ? AND outcome = ?`),
			cleanup.OutcomeExported, now, runID, cleanup.ActionIdPExport, cleanup.OutcomePending); err != nil {
			return 0, fmt.Errorf("settle rows: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		return 0, fmt.Errorf("analyze: %w", err)
	}
	return runID, nil
}

func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// dumpFloor times the database's command-line client writing the same two
// reads the export step and an audit download make (the idp-export rows in
// Entra order; all rows in id order), with the same query plans, as CSV to
// /dev/null, each alone.
func dumpFloor(ctx context.Context, db, dsn string, runID int64) (entraTook, auditTook time.Duration, tool string, err error) {
	cols := "id, account_id, name, email, account_type, product, group_id, group_name, group_synced, identity_provider, " +
		"last_active, reason, action, outcome, message, created_at, updated_at"
	entra := fmt.Sprintf("SELECT id, group_id, email, email_key FROM run_users WHERE run_id = %d AND action = 'idp-export' ORDER BY group_id, email_key, id", runID)
	audit := fmt.Sprintf("SELECT %s FROM run_users WHERE run_id = %d ORDER BY id", cols, runID)
	var cmds []*exec.Cmd
	switch db {
	case "sqlite":
		tool = "sqlite3"
		// The plans the exporter uses: the covering index, the id range.
		entra = strings.Replace(entra, "FROM run_users WHERE", "FROM run_users INDEXED BY run_users_export_members WHERE", 1)
		audit = strings.Replace(audit, "WHERE run_id = ", "WHERE +run_id = ", 1)
		if _, err := exec.LookPath(tool); err != nil {
			return 0, 0, tool, errors.New("sqlite3 is not installed (apt-get install sqlite3)")
		}
		for _, q := range []string{entra, audit} {
			cmds = append(cmds, exec.CommandContext(ctx, tool, "-readonly", "-csv", dsn, q))
		}
	case "postgres":
		tool = "psql"
		if _, err := exec.LookPath(tool); err != nil {
			return 0, 0, tool, errors.New("psql is not installed")
		}
		u, err := url.Parse(dsn)
		if err != nil {
			return 0, 0, tool, err
		}
		schema := u.Query().Get("search_path")
		q := u.Query()
		q.Del("search_path")
		u.RawQuery = q.Encode()
		entra = strings.Replace(entra, "ORDER BY group_id, email_key", `ORDER BY group_id COLLATE "C", email_key COLLATE "C"`, 1)
		for _, sqlText := range []string{entra, audit} {
			c := exec.CommandContext(ctx, tool, u.String(), "-X", "-q", "-c", "SET search_path TO "+schema, "-c", `\copy (`+sqlText+`) TO '/dev/null' CSV`)
			cmds = append(cmds, c)
		}
	}
	var took [2]time.Duration
	for i, c := range cmds {
		c.Stdout = io.Discard
		var stderr strings.Builder
		c.Stderr = &stderr
		start := time.Now()
		if err := c.Run(); err != nil {
			return 0, 0, tool, fmt.Errorf("%s: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
		}
		took[i] = time.Since(start)
	}
	return took[0], took[1], tool, nil
}

// benchSchema creates a temporary schema and returns a DSN that uses it
// and a function that drops it.
// The "pgx" database/sql driver is registered by the PostgreSQL driver the
// store uses.
func benchSchema(ctx context.Context, base string) (string, func(), error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	schema := "ucbench_export_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		_, _ = db.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		db.Close()
	}
	return u.String(), drop, nil
}
