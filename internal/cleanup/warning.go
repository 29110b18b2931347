package cleanup

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Warnings before removal ("Warn users before removing access").
//
// A cleanup with warnings works in two steps per user. The first run that
// matches a user e-mails them (when they have an address) and records a
// Warning with the date their access will be removed (RemovalDate: the
// warning's time plus WarningOptions.Days). No action is taken for them in
// that run: their rows get outcome OutcomeWarned. Runs before the removal
// date leave them alone (OutcomeGrace). The first run on or after the
// removal date (the schedule's next due run, or the admin's Run now)
// evaluates them again like anyone else: a user still matched is acted on
// (remove access, deactivate, export or remove in the identity provider;
// the IdP file is written then, not at the warning) and the warning closes
// as removed, or failed when an action failed or needs manual work; a user
// no longer matched (active since the warning, protected, out of the
// selection) is spared (OutcomeSpared) and the warning closes. Users
// without an e-mail address follow the same two steps, without an e-mail.
// A dry run records nothing and sends nothing: its rows say who would be
// warned, spared or removed.
//
// A failed e-mail does not stop the removal on the removal date, like a
// user without an address; the run's counts and Show users list the
// failures, so an admin who wants everyone informed can pause the
// schedule and reach those users another way. The exception is an
// e-mail that was never handed to the mail server because its sending
// job failed repeatedly (engine_warn.go): nobody was told, through no
// fault of the user, so the warning is cancelled (nobody is removed for
// it) and the next run warns again.
//
// A warning, once given, binds the cleanup to its removal date: the
// e-mail announced it. Switching the option off, or changing its days,
// changes nothing for open warnings: PlanWarnings still holds their users
// until the date and re-evaluates them on or after it (removed if still
// matched, spared if not); only users without an open warning are acted
// on at once (warnings off) or warned with the new days. Deleting the
// cleanup cancels its open warnings (WarningCancelled): nobody is removed
// for them.

// Warning option limits.
const (
	MinWarningDays        = 1
	MaxWarningDays        = 90
	MaxWarningSubjectLen  = 200
	MaxWarningMessageLen  = 10000
	DefaultWarningDays    = 14
	defaultWarningSubject = "Your {product} access on {site} will be removed on {removalDate}"
	defaultWarningMessage = `Hello {name},

you have not used {product} on {site} for a while ({reason}; last active: {lastActive}). To keep the site tidy and its licences for people who use them, your access will be removed on {removalDate}.

Want to keep your access? Just log in to {site} and use {product} before {removalDate}: you will be kept, and nothing else is needed.

If you no longer need it, there is nothing to do. Your work stays on the site.

This message was sent by the site's administrators with User Cleanup.`
)

// WarningOptions is the cleanup option "Warn users before removing
// access". Subject and Message may use the placeholders of
// WarningPlaceholders; empty means the default text.
type WarningOptions struct {
	Enabled bool   `json:"enabled"`
	Days    int    `json:"days"`
	Subject string `json:"subject"`
	Message string `json:"message"`
	// ReplyTo is the address replies go to ("" for none: replies go to
	// the server's From address).
	ReplyTo string `json:"replyTo"`
}

// WarningPlaceholders are the placeholders the subject and message may
// use, in the order the form lists them.
func WarningPlaceholders() []string {
	return []string{"name", "product", "site", "lastActive", "removalDate", "reason"}
}

// DefaultWarningSubject and DefaultWarningMessage return the default
// texts (used when the options leave them empty).
func DefaultWarningSubject() string { return defaultWarningSubject }

// DefaultWarningMessage returns the default message: why, when and how to
// keep access.
func DefaultWarningMessage() string { return defaultWarningMessage }

// SubjectText returns the subject template in force.
func (o WarningOptions) SubjectText() string {
	if strings.TrimSpace(o.Subject) == "" {
		return defaultWarningSubject
	}
	return o.Subject
}

// MessageText returns the message template in force.
func (o WarningOptions) MessageText() string {
	if strings.TrimSpace(o.Message) == "" {
		return defaultWarningMessage
	}
	return o.Message
}

func (o WarningOptions) normalized() WarningOptions {
	o.Subject = strings.TrimSpace(o.Subject)
	o.Message = strings.TrimSpace(strings.ReplaceAll(o.Message, "\r\n", "\n"))
	o.ReplyTo = strings.TrimSpace(o.ReplyTo)
	return o
}

// Validate adds the options' field errors under prefix (e.g. "warning").
// Disabled options are not checked beyond their shape.
func (o WarningOptions) Validate(fe FieldErrors, prefix, action string) {
	if !o.Enabled {
		return
	}
	if o.Days < MinWarningDays || o.Days > MaxWarningDays {
		fe.Add(prefix+".days", "must be between %d and %d days", MinWarningDays, MaxWarningDays)
	}
	if action == ActionReview {
		fe.Add(prefix+".enabled", "the review action removes nothing: there is nothing to warn about")
	}
	switch {
	case utf8.RuneCountInString(o.Subject) > MaxWarningSubjectLen:
		fe.Add(prefix+".subject", "must be at most %d characters", MaxWarningSubjectLen)
	case strings.ContainsAny(o.Subject, "\r\n"):
		fe.Add(prefix+".subject", "must be one line")
	default:
		if bad := unknownPlaceholders(o.Subject); len(bad) > 0 {
			fe.Add(prefix+".subject", "unknown placeholder(s) %s: use %s", strings.Join(bad, ", "), placeholderList())
		}
	}
	if utf8.RuneCountInString(o.Message) > MaxWarningMessageLen {
		fe.Add(prefix+".message", "must be at most %d characters", MaxWarningMessageLen)
	} else if bad := unknownPlaceholders(o.Message); len(bad) > 0 {
		fe.Add(prefix+".message", "unknown placeholder(s) %s: use %s", strings.Join(bad, ", "), placeholderList())
	}
	if o.ReplyTo != "" {
		if a, err := mail.ParseAddress(o.ReplyTo); err != nil || a.Name != "" || strings.ContainsAny(o.ReplyTo, "\r\n<>") {
			fe.Add(prefix+".replyTo", "must be one e-mail address such as it-help@example.com")
		}
	}
}

func placeholderList() string {
	ps := WarningPlaceholders()
	for i, p := range ps {
		ps[i] = "{" + p + "}"
	}
	return strings.Join(ps, ", ")
}

// Warning states.
const (
	WarningWarned  = "warned"  // open: e-mailed (or not, without an address), waiting for the removal date
	WarningSpared  = "spared"  // closed: no longer matched when re-evaluated (active again, protected, out of scope)
	WarningRemoved = "removed" // closed: the cleanup acted on the removal date
	WarningFailed  = "failed"  // closed: the action on the removal date failed or needs manual work
	// WarningCancelled: closed without acting: the cleanup was deleted,
	// or the e-mail was never sent (its job failed repeatedly). Nobody is
	// removed for a cancelled warning.
	WarningCancelled = "cancelled"
)

// Messages of cancelled warnings and their e-mails.
const (
	CancelledDeleted      = "the cleanup was deleted: nobody is removed for this warning"
	CancelledNotSent      = "not warned: the e-mail was not sent, so nobody is removed for this warning; the next run warns again"
	NotSentJobFailed      = "not sent: the sending job failed repeatedly"
	NotSentCleanupDeleted = "not sent: the cleanup was deleted"
)

// E-mail outcomes of a warning.
const (
	EmailQueued      = "queued"      // to be sent (again, after a temporary failure)
	EmailSending     = "sending"     // handed to the SMTP server; no answer recorded yet
	EmailSent        = "sent"        // the server accepted it
	EmailFailed      = "failed"      // refused for good (5xx), or temporary failures until the last attempt
	EmailUnconfirmed = "unconfirmed" // the app stopped while sending it: not sent again (see Notifier)
	EmailNoAddress   = "no-address"  // the user has no visible e-mail address
)

// Outcomes of rows of cleanups with warnings, and the action of the rows
// that record a spared user.
const (
	OutcomeWarned = "warned" // warned in this run; no action before the removal date
	OutcomeGrace  = "grace"  // warned earlier; the removal date has not come
	OutcomeSpared = "spared" // warned earlier and no longer matched: spared, the warning closed
	ActionWarn    = "warn"   // a row that only records a warning's outcome
)

// Warning is one warning of one cleanup to one account.
type Warning struct {
	ID          int64
	ClientKey   string
	CleanupID   int64
	AccountID   string
	Name        string
	Email       string
	Product     string // product names, e.g. "Jira Software, Jira Service Management"
	Reason      string
	LastActive  time.Time // the latest activity in those products; zero: never
	State       string
	WarnRunID   int64
	CloseRunID  int64
	WarnedAt    time.Time
	RemovalDate time.Time
	ClosedAt    *time.Time
	Message     string // why the warning closed
	// E-mail
	EmailStatus   string
	EmailMessage  string // the server's answer for a failure, or why it was not sent
	EmailAttempts int
	EmailSentAt   *time.Time
}

// Due reports whether the removal date has come at t.
func (w Warning) Due(t time.Time) bool { return !t.Before(w.RemovalDate) }

// Warning change operations of a Commit. Every change also links the
// commit's rows of the warning's account to the warning.
const (
	WarnCreate  = "create"  // insert an open warning (nothing when one is open already)
	WarnLink    = "link"    // only link the rows
	WarnClosing = "closing" // due: this run acts and closes it when it ends
	WarnSpare   = "spare"   // close it as spared now
	WarnClose   = "close"   // close it as State (removed or failed) with Message
)

// WarningChange is one change of a Commit.
type WarningChange struct {
	Op      string
	Warning Warning // Create: the new warning; others: ID, AccountID, State, Message
}

// WarningContext is what planning a page of warnings needs to know.
type WarningContext struct {
	Options   WarningOptions
	CleanupID int64
	RunID     int64
	At        time.Time // the run's start: warnings and due dates are judged at it
	DryRun    bool
	// Products names product keys (from the run's groups).
	Products map[string]string
}

// WarnedPage is a page planned with warnings: the rows to commit and the
// changes of the warnings.
type WarnedPage struct {
	Rows    []AffectedUser
	Changes []WarningChange
}

// PlanWarnings applies the warning rules to one evaluated page. users is
// the page, rows the evaluator's rows for it (all rows of a user
// together) and open the account's open warnings of this cleanup. It is
// pure: the same page gives the same result, also when it is planned
// again after a crash (a warning this run created counts as new).
//
// With the option off (wc.Options.Enabled false) nobody new is warned:
// a matched user without an open warning keeps the evaluator's rows (the
// action as usual), while open warnings are honoured exactly as with the
// option on (held until their date, re-evaluated on or after it).
func PlanWarnings(wc WarningContext, users []OrgUser, rows []AffectedUser, open map[string]Warning) WarnedPage {
	byAccount := make(map[string][]int, len(users))
	for i, r := range rows {
		byAccount[r.AccountID] = append(byAccount[r.AccountID], i)
	}
	out := WarnedPage{}
	var spared []AffectedUser
	for _, u := range users {
		idx := byAccount[u.AccountID]
		matched := false
		for _, i := range idx {
			matched = matched || rows[i].Outcome != OutcomeSkipped
		}
		w, hasOpen := open[u.AccountID]
		switch {
		case !matched && hasOpen:
			spared = append(spared, out.spare(wc, w, spareReason(rows, idx)))
		case !matched:
		case hasOpen && w.WarnRunID != wc.RunID && w.Due(wc.At):
			op := WarnClosing
			if wc.DryRun {
				op = WarnLink
			}
			out.Changes = append(out.Changes, WarningChange{Op: op, Warning: w})
		case hasOpen && w.WarnRunID != wc.RunID:
			for _, i := range idx {
				if rows[i].Outcome != OutcomeSkipped {
					rows[i].Outcome = OutcomeGrace
					rows[i].Message = fmt.Sprintf("warned on %s; removal on %s unless active before", dateOf(w.WarnedAt), dateOf(w.RemovalDate))
				}
			}
			out.Changes = append(out.Changes, WarningChange{Op: WarnLink, Warning: w})
		case wc.Options.Enabled:
			out.warn(wc, u, rows, idx)
		}
	}
	out.Rows = append(rows, spared...)
	return out
}

// warn records a new warning for a matched user and holds the user's rows.
func (p *WarnedPage) warn(wc WarningContext, u OrgUser, rows []AffectedUser, idx []int) {
	removal := wc.At.Add(time.Duration(wc.Options.Days) * 24 * time.Hour)
	w := Warning{
		CleanupID: wc.CleanupID, AccountID: u.AccountID, Name: u.Name, Email: strings.TrimSpace(u.Email),
		State: WarningWarned, WarnRunID: wc.RunID, WarnedAt: wc.At, RemovalDate: removal, EmailStatus: EmailQueued,
	}
	if w.Email == "" {
		w.EmailStatus, w.EmailMessage = EmailNoAddress, "no visible e-mail address: not e-mailed"
	}
	var products []string
	for _, i := range idx {
		r := rows[i]
		if r.Outcome == OutcomeSkipped {
			continue
		}
		if w.Reason == "" {
			w.Reason = r.Reason
		}
		keys := strings.Split(r.Product, ",")
		if r.Product == "" {
			keys = nil
		}
		for _, k := range keys {
			name := wc.Products[k]
			if name == "" {
				name = k
			}
			if !containsString(products, name) {
				products = append(products, name)
			}
		}
		for k, t := range r.LastActive {
			if (len(keys) == 0 || containsString(keys, k)) && t.After(w.LastActive) {
				w.LastActive = t
			}
		}
	}
	w.Product = strings.Join(products, ", ")
	msg := "warned by e-mail; removal on " + dateOf(removal)
	switch {
	case wc.DryRun:
		msg = "dry run, nothing sent or recorded: would be warned, removal on " + dateOf(removal)
	case w.Email == "":
		msg = "warned without e-mail (no address); removal on " + dateOf(removal)
	}
	for _, i := range idx {
		if rows[i].Outcome != OutcomeSkipped {
			rows[i].Outcome, rows[i].Message = OutcomeWarned, msg
		}
	}
	if !wc.DryRun {
		p.Changes = append(p.Changes, WarningChange{Op: WarnCreate, Warning: w})
	}
}

// spare closes the warning and returns the row that records the spared
// user.
func (p *WarnedPage) spare(wc WarningContext, w Warning, why string) AffectedUser {
	msg := "spared: " + why + "; the warning of " + dateOf(w.WarnedAt) + " is closed"
	op := WarnSpare
	if wc.DryRun {
		msg, op = "dry run: would be spared ("+why+")", WarnLink
	}
	w.Message = why
	p.Changes = append(p.Changes, WarningChange{Op: op, Warning: w})
	return SparedRow(w, wc.RunID, msg)
}

// SparedRow is the row that records a spared user in a run.
func SparedRow(w Warning, runID int64, msg string) AffectedUser {
	return AffectedUser{
		RunID: runID, AccountID: w.AccountID, Name: w.Name, Email: w.Email, Product: "",
		Reason: "warned on " + dateOf(w.WarnedAt) + ": " + w.Reason, Action: ActionWarn, Outcome: OutcomeSpared, Message: msg,
	}
}

// spareReason says why a warned user in the page is no longer matched.
func spareReason(rows []AffectedUser, idx []int) string {
	for _, i := range idx {
		if strings.HasPrefix(rows[i].Message, "protected") {
			return rows[i].Message
		}
	}
	return "active since the warning, or no longer selected"
}

// ClosingWarning is a warning this run acts on, with the outcomes of its
// rows in the run.
type ClosingWarning struct {
	Warning
	Outcomes []string
}

// CloseState decides how a due warning closes from its rows' outcomes:
// removed when every row was done or exported, failed otherwise (a row
// failed or needs manual action), with the message to record.
func CloseState(outcomes []string) (state, message string) {
	if len(outcomes) == 0 {
		return WarningSpared, "no longer selected on the removal date"
	}
	for _, o := range outcomes {
		switch o {
		case OutcomeDone, OutcomeExported:
		case OutcomeManual:
			return WarningFailed, "needs manual action (see the run's rows)"
		default:
			return WarningFailed, "the action did not succeed (" + o + ")"
		}
	}
	return WarningRemoved, "removed on the removal date"
}

// WarningCounts are a run's warning counters: users (not rows).
type WarningCounts struct {
	Warned           int `json:"warned"`           // warned in this run (dry run: would be)
	Grace            int `json:"grace"`            // warned earlier, removal date not reached
	Spared           int `json:"spared"`           // spared in this run
	Removed          int `json:"removed"`          // warnings this run closed as removed
	RemovalFailed    int `json:"removalFailed"`    // warnings this run closed as failed
	Cancelled        int `json:"cancelled"`        // warnings of this run cancelled (e-mail never sent)
	EmailSent        int `json:"emailSent"`        // of the warnings this run created
	EmailFailed      int `json:"emailFailed"`      //
	EmailPending     int `json:"emailPending"`     // queued or sending
	EmailUnconfirmed int `json:"emailUnconfirmed"` //
	NoAddress        int `json:"noAddress"`        //
}

// Empty reports whether nothing was counted.
func (c WarningCounts) Empty() bool { return c == WarningCounts{} }

// CleanupWarnings summarizes a cleanup's open warnings for the schedule
// list: "N warned, removal on DATE".
type CleanupWarnings struct {
	Open        int       `json:"open"`
	NextRemoval time.Time `json:"nextRemoval"`
}

// RowWarning is the warning of a row, as history and the audit show it.
type RowWarning struct {
	WarnedAt     time.Time `json:"warnedAt"`
	RemovalDate  time.Time `json:"removalDate"`
	State        string    `json:"state"`
	EmailStatus  string    `json:"emailStatus"`
	EmailMessage string    `json:"emailMessage,omitempty"`
	// Message says why the warning closed (e.g. why it was cancelled).
	Message string `json:"message,omitempty"`
}

// EmailOutcome is the e-mail outcome in one cell: the status and, for a
// failure, the server's answer.
func (w RowWarning) EmailOutcome() string {
	if w.EmailMessage == "" || w.EmailStatus == EmailSent || w.EmailStatus == EmailNoAddress {
		return w.EmailStatus
	}
	return w.EmailStatus + ": " + w.EmailMessage
}

// AuditOutcome is the audit files' e-mail outcome cell: EmailOutcome,
// and for a cancelled warning that nobody is removed for it and why.
func (w RowWarning) AuditOutcome() string {
	out := w.EmailOutcome()
	if w.State == WarningCancelled {
		out += "; warning cancelled: " + w.Message
	}
	return out
}

func dateOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
