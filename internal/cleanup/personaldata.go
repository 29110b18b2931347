package cleanup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Personal data reporting (Atlassian's "User privacy guide for app
// developers"): an app that stores personal data of Atlassian accounts
// reports their account ids, with when it stored or last refreshed the
// data (updatedAt), to Atlassian's personal data reporting API at least
// once per reporting cycle, and acts on the answer: an account "closed"
// must have its personal data erased, an account "updated" has changed its
// profile, so the data shown must be refreshed.
//
// This app stores, per tenant, the account ids, names and e-mail addresses
// of the users its runs matched (run rows), of the users it warned
// (warnings) and of the organization's users in the licence snapshots
// (the dashboard and users screen), the account ids of the admins who
// started runs and snapshots by hand or decided review marks, the
// accounts a restore was limited to, and export files built from the run
// rows. Erasing a closed account replaces
// its name with ClosedAccountName, its e-mail address with nothing and its
// account id with a random tombstone (the same within one erasure, so the
// rows of one account in a run stay distinct from another's) everywhere,
// keeps every count and outcome, and regenerates the export files of the
// finished runs it changed from the tombstoned rows: the Entra files leave
// the erased rows out, the audit files and the bundle's README show the
// tombstone. Each erasure writes an audit entry with the tombstone and how
// many rows changed, never the erased data.

// ReportBatchMax is the most accounts one request to the personal data
// reporting API may carry (the guide: "up to 90 accounts").
const ReportBatchMax = 90

// DefaultReportEvery is the default reporting cycle: the guide's default
// cycle is 7 days.
const DefaultReportEvery = 7 * 24 * time.Hour

// ClosedAccountName is the name erased rows show in place of a closed
// account's name.
const ClosedAccountName = "closed account"

// ClosedAccountPrefix starts the account id that replaces a closed
// account's (a tombstone): a random suffix, never derived from the id.
const ClosedAccountPrefix = "closed-account-"

// ClosedAccountMessage is why a restore does not restore a row erased for
// a closed account.
const ClosedAccountMessage = "the account was closed and its personal data erased: not restored"

// Statuses the personal data reporting API answers per account.
const (
	ReportedClosed  = "closed"
	ReportedUpdated = "updated"
)

// ReportedAccount is one account id the app stores personal data for and
// when that data was stored or last refreshed.
type ReportedAccount struct {
	AccountID string
	UpdatedAt time.Time
}

// AccountReport is the answer to one report: the accounts that need
// action (none: the API's 204), and the reporting cycle the API asked for
// (0: none given).
type AccountReport struct {
	Closed  []string
	Updated []string
	Cycle   time.Duration
}

// AccountReporter calls the personal data reporting API in the name of a
// tenant's installation. A rate limit it could not wait out is a
// KindUnavailable *Error with RetryAfter.
type AccountReporter interface {
	ReportAccounts(ctx context.Context, clientKey string, accounts []ReportedAccount) (AccountReport, error)
}

// Erasure is what erasing one closed account from a tenant changed.
type Erasure struct {
	Tombstone string // the account id that replaced the account's
	RunRows   int    // run rows tombstoned
	Warnings  int    // warnings tombstoned
	Runs      int    // runs whose "started by" was the account, or restores limited to it
	// OtherRows are the licence snapshots' users, the snapshots it started
	// and the review decisions (about it or made by it) tombstoned.
	OtherRows int
	// StaleRuns are the finished runs whose export files were deleted to
	// be generated again from the tombstoned rows.
	StaleRuns []int64
	// Deferred is true when the account is in a run that has not finished:
	// nothing was erased; a later report erases it.
	Deferred bool
}

// PersonalDataStore persists what reporting needs. Every method but
// DueReports and StaleExportRuns is scoped to one tenant.
type PersonalDataStore interface {
	// DueReports lists installed tenants whose next report is due at now
	// (tenants never reported first), at most limit.
	DueReports(ctx context.Context, now time.Time, limit int) ([]string, error)
	// PersonalDataAccounts lists every account id the tenant stores
	// personal data for, once, in account id order, with the latest time
	// its data was stored or refreshed.
	PersonalDataAccounts(ctx context.Context, clientKey string) ([]ReportedAccount, error)
	// ErasePersonalData replaces the account's personal data with the
	// tombstone in one transaction, marks the finished runs it changed
	// whose exports exist as stale (deleting their files), and records the
	// audit entry; nothing when the account is in an unfinished run
	// (Deferred).
	ErasePersonalData(ctx context.Context, clientKey, accountID, tombstone string, at time.Time) (Erasure, error)
	// RefreshPersonalData sets the name and e-mail address of the
	// account's rows and warnings that are not erased, and their refresh
	// time, and marks the finished runs that show them whose exports exist
	// as stale (deleting their files), in one transaction; it returns how
	// many rows changed.
	RefreshPersonalData(ctx context.Context, clientKey, accountID, name, email string, at time.Time) (int, error)
	// StaleExportRuns lists runs whose exports must be generated again,
	// at most limit.
	StaleExportRuns(ctx context.Context, limit int) ([]RunRef, error)
	// ExportsRegenerated clears a run's stale mark.
	ExportsRegenerated(ctx context.Context, clientKey string, runID int64) error
	// ReportDone records a tenant's report: when it happened, when the
	// next is due, the cycle the API asked for and the failure ("" when
	// it succeeded).
	ReportDone(ctx context.Context, clientKey string, at, next time.Time, cycle time.Duration, failure string) error
}

// PersonalDataRecorder counts reporting's work (metrics); the zero
// implementation is NopPersonalDataRecorder.
type PersonalDataRecorder interface {
	// PersonalData adds n to an event: "reported", "closed", "updated",
	// "erased_rows", "deferred", "report_failed".
	PersonalData(event string, n int)
}

// NopPersonalDataRecorder records nothing.
type NopPersonalDataRecorder struct{}

// PersonalData implements PersonalDataRecorder.
func (NopPersonalDataRecorder) PersonalData(string, int) {}

// PersonalDataConfig wires a PersonalData.
type PersonalDataConfig struct {
	Store    PersonalDataStore
	Reporter AccountReporter
	// Orgs gives the tenant's Organizations API client, to refresh the
	// name and e-mail address of updated accounts (Connector.Org).
	Orgs interface {
		Org(ctx context.Context, clientKey string) (OrgDirectory, error)
	}
	Exporter Exporter
	// Every is the reporting cycle (default DefaultReportEvery); a longer
	// cycle the API asks for wins.
	Every    time.Duration
	Recorder PersonalDataRecorder // nil: none
	Logger   *slog.Logger         // nil: discard
	Now      func() time.Time     // nil: time.Now
}

// PersonalData reports a tenant's stored accounts and erases or refreshes
// them as the API answers.
type PersonalData struct {
	cfg PersonalDataConfig
	log *slog.Logger
	now func() time.Time
	rec PersonalDataRecorder
}

// NewPersonalData checks cfg and returns the reporter.
func NewPersonalData(cfg PersonalDataConfig) (*PersonalData, error) {
	if cfg.Store == nil || cfg.Reporter == nil || cfg.Orgs == nil || cfg.Exporter == nil {
		return nil, errors.New("cleanup: personal data reporting needs a Store, a Reporter, Orgs and an Exporter")
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultReportEvery
	}
	p := &PersonalData{cfg: cfg, log: cfg.Logger, now: cfg.Now, rec: cfg.Recorder}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rec == nil {
		p.rec = NopPersonalDataRecorder{}
	}
	return p, nil
}

// ReportResult sums one tenant's report.
type ReportResult struct {
	Reported, Requests, Closed, Updated, Deferred, Refreshed int
	Cycle                                                    time.Duration
}

// ReportDue regenerates the exports erasures left stale, then reports
// every tenant that is due, until deadline; it returns how many tenants
// it reported. A tenant whose report fails is logged and retried later
// (after the API's Retry-After, or an hour); the others go on.
func (p *PersonalData) ReportDue(ctx context.Context, deadline time.Time) (int, error) {
	if err := p.regenerateStale(ctx, deadline); err != nil {
		return 0, err
	}
	done := 0
	for p.now().Before(deadline) {
		due, err := p.cfg.Store.DueReports(ctx, p.now(), 20)
		if err != nil || len(due) == 0 {
			return done, err
		}
		for _, clientKey := range due {
			if !p.now().Before(deadline) {
				return done, nil
			}
			if err := p.reportAndRecord(ctx, clientKey); err != nil {
				return done, err
			}
			done++
		}
	}
	return done, nil
}

// reportAndRecord reports one tenant and records when the next report is
// due. Only a failure to record is returned.
func (p *PersonalData) reportAndRecord(ctx context.Context, clientKey string) error {
	now := p.now()
	res, err := p.Report(ctx, clientKey)
	next := now.Add(max(p.cfg.Every, res.Cycle))
	failure := ""
	if err != nil {
		p.rec.PersonalData("report_failed", 1)
		retry := RetryAfterOf(err)
		if retry <= 0 {
			retry = time.Hour
		}
		next = p.now().Add(retry)
		failure = "the report failed"
		var e *Error
		if errors.As(err, &e) && e.Message != "" {
			failure = e.Message // safe to show, never a secret
		}
		p.log.WarnContext(ctx, "personal data report failed", "client_key", clientKey, "error", err.Error(), "retry_in", retry.String())
	} else {
		p.log.InfoContext(ctx, "personal data reported", "client_key", clientKey, "accounts", res.Reported,
			"requests", res.Requests, "closed", res.Closed, "updated", res.Updated, "deferred", res.Deferred,
			"next_report_at", next.UTC().Format(time.RFC3339))
	}
	if rerr := p.cfg.Store.ReportDone(ctx, clientKey, now, next, res.Cycle, failure); rerr != nil {
		return fmt.Errorf("record personal data report of %s: %w", clientKey, rerr)
	}
	return nil
}

// Report reports every account the tenant stores personal data for, in
// batches of ReportBatchMax, and acts on each batch's answer before the
// next: erases closed accounts, refreshes updated ones.
func (p *PersonalData) Report(ctx context.Context, clientKey string) (ReportResult, error) {
	var res ReportResult
	accounts, err := p.cfg.Store.PersonalDataAccounts(ctx, clientKey)
	if err != nil {
		return res, err
	}
	for start := 0; start < len(accounts); start += ReportBatchMax {
		batch := accounts[start:min(start+ReportBatchMax, len(accounts))]
		ans, err := p.cfg.Reporter.ReportAccounts(ctx, clientKey, batch)
		if err != nil {
			return res, fmt.Errorf("report accounts: %w", err)
		}
		res.Requests++
		res.Reported += len(batch)
		p.rec.PersonalData("reported", len(batch))
		res.Cycle = max(res.Cycle, ans.Cycle)
		for _, id := range ans.Closed {
			if err := p.erase(ctx, clientKey, id, &res); err != nil {
				return res, err
			}
		}
		if len(ans.Updated) > 0 {
			if err := p.refresh(ctx, clientKey, ans.Updated, &res); err != nil {
				return res, err
			}
		}
	}
	if err := p.regenerateStale(ctx, time.Time{}); err != nil {
		return res, err
	}
	return res, nil
}

// erase erases one closed account.
func (p *PersonalData) erase(ctx context.Context, clientKey, accountID string, res *ReportResult) error {
	tomb, err := NewTombstone()
	if err != nil {
		return err
	}
	er, err := p.cfg.Store.ErasePersonalData(ctx, clientKey, accountID, tomb, p.now())
	if err != nil {
		return fmt.Errorf("erase a closed account: %w", err)
	}
	if er.Deferred {
		res.Deferred++
		p.rec.PersonalData("deferred", 1)
		p.log.InfoContext(ctx, "closed account is in a run under way: erased at the next report", "client_key", clientKey)
		return nil
	}
	res.Closed++
	p.rec.PersonalData("closed", 1)
	p.rec.PersonalData("erased_rows", er.RunRows+er.Warnings+er.OtherRows)
	// The audit entry is the store's (personal_data_erasures); the log
	// line carries the same, never the account id.
	p.log.InfoContext(ctx, "closed account erased", "client_key", clientKey, "tombstone", er.Tombstone,
		"run_rows", er.RunRows, "warnings", er.Warnings, "runs", er.Runs, "other_rows", er.OtherRows, "stale_exports", len(er.StaleRuns))
	return nil
}

// refresh sets the current name and e-mail address of updated accounts
// from the Organizations API. Without an organization API key there is
// nothing to refresh from: the accounts stay as stored and are reported
// updated again next cycle.
func (p *PersonalData) refresh(ctx context.Context, clientKey string, ids []string, res *ReportResult) error {
	org, err := p.cfg.Orgs.Org(ctx, clientKey)
	if err != nil {
		if KindOf(err) == KindNotConfigured {
			p.log.InfoContext(ctx, "updated accounts not refreshed: no organization API key", "client_key", clientKey, "accounts", len(ids))
			return nil
		}
		return fmt.Errorf("refresh updated accounts: %w", err)
	}
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := org.SearchUsers(ctx, UserQuery{AccountIDs: ids}, cursor)
		if err != nil {
			return fmt.Errorf("refresh updated accounts: %w", err)
		}
		for _, u := range page.Users {
			if seen[u.AccountID] {
				continue
			}
			seen[u.AccountID] = true
			n, err := p.cfg.Store.RefreshPersonalData(ctx, clientKey, u.AccountID, u.Name, u.Email, p.now())
			if err != nil {
				return fmt.Errorf("refresh an updated account: %w", err)
			}
			res.Updated++
			res.Refreshed += n
			p.rec.PersonalData("updated", 1)
		}
		if page.Next == "" || page.Next == cursor {
			return nil
		}
		cursor = page.Next
	}
}

// regenerateStale generates again the exports erasures deleted, until
// deadline (zero: all of them).
func (p *PersonalData) regenerateStale(ctx context.Context, deadline time.Time) error {
	for deadline.IsZero() || p.now().Before(deadline) {
		runs, err := p.cfg.Store.StaleExportRuns(ctx, 20)
		if err != nil || len(runs) == 0 {
			return err
		}
		for _, r := range runs {
			if err := p.cfg.Exporter.GenerateRunExports(ctx, r.ClientKey, r.ID); err != nil {
				return fmt.Errorf("regenerate exports of run %d after an erasure: %w", r.ID, err)
			}
			if err := p.cfg.Store.ExportsRegenerated(ctx, r.ClientKey, r.ID); err != nil {
				return err
			}
			p.log.InfoContext(ctx, "exports regenerated after an erasure", "client_key", r.ClientKey, "run_id", r.ID)
		}
	}
	return nil
}

// NewTombstone returns a fresh tombstone account id: ClosedAccountPrefix
// and 12 random hex digits.
func NewTombstone() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cleanup: tombstone: %w", err)
	}
	return ClosedAccountPrefix + hex.EncodeToString(b[:]), nil
}
