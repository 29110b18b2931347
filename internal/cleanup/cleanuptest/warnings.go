package cleanuptest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Warnings is an in-memory cleanup.WarningStore for the e-mail side of
// warnings: like internal/store it claims an e-mail only while it is
// queued and records an outcome only for an e-mail marked sending.
type Warnings struct {
	mu   sync.Mutex
	ws   []cleanup.Warning
	def  cleanup.Definition
	site string
}

// NewWarnings returns a store of the warnings, all of run 1's cleanup
// with definition d, on the named site.
func NewWarnings(site string, d cleanup.Definition, ws ...cleanup.Warning) *Warnings {
	for i := range ws {
		ws[i].ID = int64(i + 1)
	}
	return &Warnings{ws: ws, def: d, site: site}
}

var _ cleanup.WarningStore = (*Warnings)(nil)

// All returns the warnings as stored.
func (s *Warnings) All() []cleanup.Warning {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ws)
}

func (s *Warnings) find(clientKey string, id int64) *cleanup.Warning {
	for i := range s.ws {
		if s.ws[i].ID == id && s.ws[i].ClientKey == clientKey {
			return &s.ws[i]
		}
	}
	return nil
}

// OpenWarnings implements cleanup.WarningStore.
func (s *Warnings) OpenWarnings(_ context.Context, clientKey string, cleanupID int64, accountIDs []string) ([]cleanup.Warning, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cleanup.Warning
	for _, w := range s.ws {
		if w.ClientKey == clientKey && w.CleanupID == cleanupID && w.State == cleanup.WarningWarned && slices.Contains(accountIDs, w.AccountID) {
			out = append(out, w)
		}
	}
	return out, nil
}

// UnseenWarnings implements cleanup.WarningStore (no rows are stored
// here: every open warning is unseen).
func (s *Warnings) UnseenWarnings(ctx context.Context, clientKey string, cleanupID, _ int64, limit int) ([]cleanup.Warning, error) {
	ws, _ := s.OpenWarnings(ctx, clientKey, cleanupID, s.accounts())
	return ws[:min(limit, len(ws))], nil
}

func (s *Warnings) accounts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, w := range s.ws {
		out = append(out, w.AccountID)
	}
	return out
}

// ClosingWarnings implements cleanup.WarningStore: none.
func (s *Warnings) ClosingWarnings(context.Context, string, int64, int) ([]cleanup.ClosingWarning, error) {
	return nil, nil
}

// QueueWarningEmails implements cleanup.WarningStore: nothing to queue.
func (s *Warnings) QueueWarningEmails(context.Context, string, int64, string, int, string, int) error {
	return nil
}

// HasOpenWarnings implements cleanup.WarningStore.
func (s *Warnings) HasOpenWarnings(ctx context.Context, clientKey string, cleanupID int64) (bool, error) {
	ws, err := s.OpenWarnings(ctx, clientKey, cleanupID, s.accounts())
	return len(ws) > 0, err
}

// AbandonEmails implements cleanup.WarningStore like internal/store.
func (s *Warnings) AbandonEmails(_ context.Context, clientKey string, runID int64, _, _ string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.ws {
		w := &s.ws[i]
		if w.ClientKey != clientKey || w.WarnRunID != runID {
			continue
		}
		switch w.EmailStatus {
		case cleanup.EmailSending:
			w.EmailStatus, w.EmailMessage = cleanup.EmailUnconfirmed, cleanup.Unconfirmed
		case cleanup.EmailQueued:
			w.EmailStatus, w.EmailMessage = cleanup.EmailFailed, cleanup.NotSentJobFailed
			if w.State == cleanup.WarningWarned {
				w.State, w.Message, w.CloseRunID = cleanup.WarningCancelled, cleanup.CancelledNotSent, runID
			}
		default:
			continue
		}
		n++
	}
	return n, nil
}

// EmailProgress implements cleanup.WarningStore.
func (s *Warnings) EmailProgress(_ context.Context, clientKey string, runID int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.ws {
		if w.ClientKey == clientKey && w.WarnRunID == runID && (w.EmailStatus == cleanup.EmailQueued || w.EmailStatus == cleanup.EmailSending) {
			n++
		}
	}
	return n, nil
}

// SiteName implements cleanup.WarningStore.
func (s *Warnings) SiteName(context.Context, string) (string, error) { return s.site, nil }

// RunDefinition implements cleanup.WarningStore.
func (s *Warnings) RunDefinition(context.Context, string, int64) (cleanup.Definition, error) {
	return s.def, nil
}

// EmailBatch implements cleanup.WarningStore.
func (s *Warnings) EmailBatch(_ context.Context, clientKey string, runID, fromID, toID int64) ([]cleanup.Warning, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cleanup.Warning
	for _, w := range s.ws {
		if w.ClientKey == clientKey && w.WarnRunID == runID && w.ID >= fromID && w.ID <= toID && w.EmailStatus == cleanup.EmailQueued {
			out = append(out, w)
		}
	}
	return out, nil
}

// ExpireSending implements cleanup.WarningStore.
func (s *Warnings) ExpireSending(_ context.Context, clientKey string, runID, fromID, toID int64, message string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.ws {
		w := &s.ws[i]
		if w.ClientKey == clientKey && w.WarnRunID == runID && w.ID >= fromID && w.ID <= toID && w.EmailStatus == cleanup.EmailSending {
			w.EmailStatus, w.EmailMessage = cleanup.EmailUnconfirmed, message
			n++
		}
	}
	return n, nil
}

// ClaimEmail implements cleanup.WarningStore.
func (s *Warnings) ClaimEmail(_ context.Context, clientKey string, id int64, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.find(clientKey, id)
	if w == nil || w.EmailStatus != cleanup.EmailQueued {
		return false, nil
	}
	w.EmailStatus = cleanup.EmailSending
	return true, nil
}

// RecordEmail implements cleanup.WarningStore.
func (s *Warnings) RecordEmail(_ context.Context, clientKey string, id int64, status, message string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.find(clientKey, id)
	if w == nil || w.EmailStatus != cleanup.EmailSending {
		return nil
	}
	w.EmailStatus, w.EmailMessage = status, message
	w.EmailAttempts++
	if status == cleanup.EmailSent {
		t := at
		w.EmailSentAt = &t
	}
	return nil
}

// Mailer is an in-memory cleanup.Mailer: it records what it sends and
// answers per address as told (a *cleanup.MailError), like the SMTP
// adapter.
type Mailer struct {
	mu      sync.Mutex
	sent    []cleanup.Email
	answers map[string][]error
	dialErr error
	// BeforeSend, when set, is called before each message (tests stop
	// the "process" there).
	BeforeSend func(cleanup.Email)
}

var _ cleanup.Mailer = (*Mailer)(nil)

// Answer makes the next sends to addr fail with errs, one each.
func (m *Mailer) Answer(addr string, errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.answers == nil {
		m.answers = map[string][]error{}
	}
	m.answers[strings.ToLower(addr)] = append(m.answers[strings.ToLower(addr)], errs...)
}

// FailDial makes Dial fail with err (nil: succeed).
func (m *Mailer) FailDial(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dialErr = err
}

// Sent returns the messages sent, in order.
func (m *Mailer) Sent() []cleanup.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

// Dial implements cleanup.Mailer.
func (m *Mailer) Dial(context.Context) (cleanup.MailConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dialErr != nil {
		return nil, m.dialErr
	}
	return mailConn{m}, nil
}

type mailConn struct{ m *Mailer }

func (c mailConn) Send(ctx context.Context, e cleanup.Email) error {
	if c.m.BeforeSend != nil {
		c.m.BeforeSend(e)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	key := strings.ToLower(e.To)
	if errs := c.m.answers[key]; len(errs) > 0 {
		c.m.answers[key] = errs[1:]
		return errs[0]
	}
	c.m.sent = append(c.m.sent, e)
	return nil
}

func (c mailConn) Close() error { return nil }
