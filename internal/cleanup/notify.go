package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// WarningStore is the persistence of warnings. Every method is scoped by
// client key. Warning changes of a run are written with its Commit.
type WarningStore interface {
	// OpenWarnings returns the open warnings of the cleanup for these
	// accounts.
	OpenWarnings(ctx context.Context, clientKey string, cleanupID int64, accountIDs []string) ([]Warning, error)
	// UnseenWarnings returns up to limit open warnings of the cleanup
	// whose account has no row in the run, in id order.
	UnseenWarnings(ctx context.Context, clientKey string, cleanupID, runID int64, limit int) ([]Warning, error)
	// ClosingWarnings returns up to limit open warnings the run acts on
	// (WarnClosing), with the outcomes of their rows in the run.
	ClosingWarnings(ctx context.Context, clientKey string, runID int64, limit int) ([]ClosingWarning, error)
	// QueueWarningEmails schedules the sending of the run's e-mails
	// still queued or sending (one job per batch of up to batch
	// warnings), moves the run to phase and records round as its
	// EmailRounds, in one transaction conditional on owner's lease.
	QueueWarningEmails(ctx context.Context, clientKey string, runID int64, owner string, batch int, phase string, round int) error
	// EmailProgress counts the run's e-mails still queued or sending.
	EmailProgress(ctx context.Context, clientKey string, runID int64) (open int, err error)
	// AbandonEmails settles the run's e-mails that no job will send any
	// more and moves the run to phase, in one transaction conditional on
	// owner's lease: sending ones become EmailUnconfirmed (they may have
	// reached the server), queued ones EmailFailed with NotSentJobFailed,
	// and their open warnings are cancelled (CancelledNotSent). It
	// returns how many e-mails it settled.
	AbandonEmails(ctx context.Context, clientKey string, runID int64, owner, phase string) (int, error)
	// HasOpenWarnings reports whether the cleanup has open warnings.
	HasOpenWarnings(ctx context.Context, clientKey string, cleanupID int64) (bool, error)
	// SiteName returns the site's address as the e-mails name it.
	SiteName(ctx context.Context, clientKey string) (string, error)
	// RunDefinition returns the definition snapshot of a run.
	RunDefinition(ctx context.Context, clientKey string, runID int64) (Definition, error)

	// EmailBatch returns the warnings of the run with ids in [fromID,
	// toID] whose e-mail is queued, in id order.
	EmailBatch(ctx context.Context, clientKey string, runID, fromID, toID int64) ([]Warning, error)
	// ExpireSending sets the e-mails of the batch still marked sending to
	// EmailUnconfirmed with message, and returns how many.
	ExpireSending(ctx context.Context, clientKey string, runID, fromID, toID int64, message string) (int, error)
	// ClaimEmail moves a queued e-mail to sending at the time; false when
	// it was not queued (someone else has it).
	ClaimEmail(ctx context.Context, clientKey string, id int64, at time.Time) (bool, error)
	// RecordEmail records the outcome of a sending e-mail: EmailSent,
	// EmailFailed, or EmailQueued again after a temporary failure (the
	// attempt is counted).
	RecordEmail(ctx context.Context, clientKey string, id int64, status, message string, at time.Time) error
}

// NotifierConfig configures a Notifier. Store and Mailer are required.
type NotifierConfig struct {
	Store  WarningStore
	Mailer Mailer
	// Pacer limits the e-mails per second of the process (nil: none).
	Pacer  *Pacer
	Logger *slog.Logger
	Now    func() time.Time
}

// Notifier sends the warning e-mails of a run, one batch at a time (each
// batch a job of its own).
//
// Each address gets at most one e-mail per warning: an e-mail is marked
// sending (committed) before it is handed to the server and sent (or
// failed) after. After a crash the batch's job runs again and finds the
// e-mails still marked sending: whether the server accepted them before
// the crash cannot be known (the answer to the end of DATA may have been
// lost with the process). They are not sent again but marked unconfirmed:
// a warning that may be missing is the lesser harm than a duplicate
// warning about someone's access, and the run's counts and Show users
// list them, so an admin can check the mail server's log. Only one
// message per batch can be in that state at a time.
type Notifier struct {
	cfg NotifierConfig
	log *slog.Logger
	now func() time.Time
}

// NewNotifier returns a Notifier.
func NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	if cfg.Store == nil || cfg.Mailer == nil {
		return nil, errors.New("cleanup: notifier needs a Store and a Mailer")
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// pauseReserve is the time left before a job's deadline at which a batch
// stops between two e-mails and asks to go on in a new execution.
const pauseReserve = 500 * time.Millisecond

// errPaused asks for the batch to go on at once in a new execution of its
// job (the job's time is up; no attempt is used: nothing failed).
func errPaused() error {
	return &Error{Kind: KindUnavailable, RetryAfter: time.Millisecond, Message: "the batch goes on in its next execution"}
}

// pausing reports whether the batch should stop before the next e-mail:
// the context's deadline is close.
func pausing(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < pauseReserve
}

// Unconfirmed is the message of an e-mail in doubt after a crash.
const Unconfirmed = "the app stopped while this e-mail was being sent: not sent again, so nobody gets it twice; check the mail server's log"

// SendBatch sends the queued e-mails of the run's batch [fromID, toID].
// It returns an error when e-mails are left to retry (a temporary
// failure: the job is retried later) unless lastAttempt, when those are
// recorded as failed with the server's last answer. When the context's
// deadline comes close it stops between two e-mails with a KindUnavailable
// error whose RetryAfter asks to go on at once (a paused batch, not a
// failure).
func (n *Notifier) SendBatch(ctx context.Context, clientKey string, runID, fromID, toID int64, lastAttempt bool) error {
	st := n.cfg.Store
	if k, err := st.ExpireSending(ctx, clientKey, runID, fromID, toID, Unconfirmed); err != nil {
		return err
	} else if k > 0 {
		n.log.WarnContext(ctx, "warning e-mails in doubt after a restart: not sent again", "client_key", clientKey, "run_id", runID, "count", k)
	}
	ws, err := st.EmailBatch(ctx, clientKey, runID, fromID, toID)
	if err != nil || len(ws) == 0 {
		return err
	}
	run, err := n.runOptions(ctx, clientKey, runID)
	if err != nil {
		return err
	}
	site, err := st.SiteName(ctx, clientKey)
	if err != nil {
		return err
	}
	conn, err := n.cfg.Mailer.Dial(ctx)
	if err != nil {
		return n.retryLater(ctx, clientKey, ws, err, lastAttempt)
	}
	defer conn.Close()
	var retry []Warning
	var lastErr error
	for i, w := range ws {
		if pausing(ctx) {
			return errPaused()
		}
		if err := n.cfg.Pacer.Wait(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return errPaused()
			}
			return err
		}
		ok, err := st.ClaimEmail(ctx, clientKey, w.ID, n.now().UTC())
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		status, msg, sendErr := n.sendOne(ctx, conn, run, w, site)
		if sendErr != nil && status == EmailQueued && lastAttempt {
			status = EmailFailed
		}
		if err := st.RecordEmail(context.WithoutCancel(ctx), clientKey, w.ID, status, msg, n.now().UTC()); err != nil {
			return err
		}
		if status == EmailQueued {
			retry, lastErr = append(retry, w), sendErr
			var me *MailError
			if !errors.As(sendErr, &me) || me.Code == 0 {
				// The connection is gone: the rest wait for the retry.
				return n.retryLater(ctx, clientKey, ws[i+1:], sendErr, lastAttempt)
			}
		}
	}
	if len(retry) > 0 {
		return fmt.Errorf("%d warning e-mails failed temporarily, retried later: %w", len(retry), lastErr)
	}
	return nil
}

// sendOne renders and sends one warning's e-mail and returns its status
// and message.
func (n *Notifier) sendOne(ctx context.Context, conn MailConn, o runWarning, w Warning, site string) (string, string, error) {
	m, err := RenderWarning(o.options, DataOf(w, site, o.loc), w.Email)
	if err != nil {
		return EmailFailed, "the message could not be rendered", err
	}
	err = conn.Send(ctx, m)
	if err == nil {
		return EmailSent, "", nil
	}
	temporary, answer := mailFailure(err)
	if temporary {
		return EmailQueued, answer, err
	}
	n.log.WarnContext(ctx, "warning e-mail refused", "client_key", w.ClientKey, "warning_id", w.ID, "answer", answer)
	return EmailFailed, answer, nil
}

// retryLater gives up on a batch that could not reach the server: an
// error for the job's retry, or on the last attempt the e-mails failed.
func (n *Notifier) retryLater(ctx context.Context, clientKey string, ws []Warning, cause error, lastAttempt bool) error {
	_, answer := mailFailure(cause)
	if !lastAttempt {
		return fmt.Errorf("send warning e-mails: %w", cause)
	}
	for _, w := range ws {
		if ok, err := n.cfg.Store.ClaimEmail(ctx, clientKey, w.ID, n.now().UTC()); err != nil || !ok {
			continue
		}
		msg := "gave up after the last attempt: " + answer
		if err := n.cfg.Store.RecordEmail(ctx, clientKey, w.ID, EmailFailed, msg, n.now().UTC()); err != nil {
			return err
		}
	}
	return nil
}

// runWarning is a run's warning options and the time zone of its dates.
type runWarning struct {
	options WarningOptions
	loc     *time.Location
}

// runOptions reads the warning options of the run's definition snapshot.
func (n *Notifier) runOptions(ctx context.Context, clientKey string, runID int64) (runWarning, error) {
	d, err := n.cfg.Store.RunDefinition(ctx, clientKey, runID)
	if err != nil {
		return runWarning{}, err
	}
	return runWarning{options: d.Warning, loc: scheduleLocation(d)}, nil
}

func scheduleLocation(d Definition) *time.Location {
	if d.Schedule.TimeZone == "" || d.Manual {
		return time.UTC
	}
	loc, err := time.LoadLocation(d.Schedule.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Pacer spaces e-mails evenly: at most perSecond per second over the
// process, whatever number of batches run at once. A nil Pacer does not
// wait.
type Pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// NewPacer returns a pacer of perSecond messages per second (0 or less:
// nil, no limit).
func NewPacer(perSecond float64) *Pacer {
	if perSecond <= 0 {
		return nil
	}
	return &Pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

// Wait blocks until the next message may go.
func (p *Pacer) Wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
