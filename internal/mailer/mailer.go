// Package mailer sends the app's e-mail over SMTP with
// github.com/wneessen/go-mail (the only importer of it): it implements
// the domain's cleanup.Mailer. The connection is STARTTLS (mandatory),
// implicit TLS, or plain only to a mail server on this machine; the
// credentials are used for SMTP AUTH when set and never logged.
//
// Failures are classified for the domain: a 4xx answer or a server that
// cannot be reached is temporary (the batch is tried again later), a 5xx
// answer is permanent for that address; the server's answer is kept.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/example/usercleanup/internal/cleanup"
)

// TLS modes.
const (
	TLSStartTLS = "starttls" // STARTTLS, required (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: a mail server on this machine only
)

// DefaultTimeout bounds one SMTP command.
const DefaultTimeout = 30 * time.Second

// Config configures the SMTP connection.
type Config struct {
	Host     string
	Port     int
	TLS      string
	Username string
	Password cleanup.Secret
	From     string // the From address (may carry a display name)
	Timeout  time.Duration
	// TLSConfig overrides the TLS settings (tests trust their server's
	// certificate with it); nil verifies Host.
	TLSConfig *tls.Config
	Logger    *slog.Logger
}

// LogValue describes the configuration without the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("tls", c.TLS),
		slog.String("username", c.Username), slog.Bool("password_set", c.Password != ""), slog.String("from", c.From))
}

// Mailer implements cleanup.Mailer over SMTP.
type Mailer struct {
	cfg Config
}

var _ cleanup.Mailer = (*Mailer)(nil)

// New checks cfg and returns a Mailer.
func New(cfg Config) (*Mailer, error) {
	switch {
	case cfg.Host == "":
		return nil, errors.New("mailer: the SMTP host is required")
	case cfg.Port <= 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("mailer: invalid port %d", cfg.Port)
	case cfg.From == "":
		return nil, errors.New("mailer: the From address is required")
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("mailer: unknown TLS mode %q", cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil {
		return nil, fmt.Errorf("mailer: the From address: %w", err)
	}
	return &Mailer{cfg: cfg}, nil
}

// Dial implements cleanup.Mailer: one connection, authenticated.
func (m *Mailer) Dial(ctx context.Context) (cleanup.MailConn, error) {
	c := m.cfg
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(c.Timeout)}
	switch c.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(c.TLSConfig))
	}
	if c.Username != "" {
		// The best mechanism the server offers; on a local server without
		// TLS that is PLAIN, which go-mail allows only to localhost.
		auth := gomail.SMTPAuthAutoDiscover
		if c.TLS == TLSNone {
			auth = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(c.Username), gomail.WithPassword(c.Password.Reveal()))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, &cleanup.MailError{Temporary: false, Answer: "invalid mail server settings", Err: err}
	}
	if err := client.DialWithContext(ctx); err != nil {
		return nil, classify(err, "connect to "+net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	}
	return &conn{m: m, client: client}, nil
}

type conn struct {
	m      *Mailer
	client *gomail.Client
}

// Send implements cleanup.MailConn.
func (c *conn) Send(ctx context.Context, e cleanup.Email) error {
	msg, err := c.m.message(e)
	if err != nil {
		return &cleanup.MailError{Temporary: false, Answer: "invalid address: " + err.Error(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = c.client.Send(msg)
	if err == nil || msg.IsDelivered() {
		// Delivered: a failure after the server accepted the message
		// (its RSET) is no reason to send it again.
		return nil
	}
	return classify(err, "send")
}

func (c *conn) Close() error { return c.client.Close() }

// message builds the MIME message: plain text with an HTML alternative.
func (m *Mailer) message(e cleanup.Email) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(m.cfg.From); err != nil {
		return nil, err
	}
	var err error
	if e.ToName != "" {
		err = msg.AddToFormat(e.ToName, e.To)
	} else {
		err = msg.To(e.To)
	}
	if err != nil {
		return nil, err
	}
	if e.ReplyTo != "" {
		if err := msg.ReplyTo(e.ReplyTo); err != nil {
			return nil, err
		}
	}
	msg.Subject(e.Subject)
	msg.SetMessageID()
	msg.SetDate()
	// An automatic message (RFC 3834): no out-of-office replies to it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	return msg, nil
}

// classify turns a go-mail error into a *cleanup.MailError: 5xx answers
// are permanent, 4xx answers and everything below SMTP (no connection,
// timeouts, TLS) temporary.
func classify(err error, op string) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		return &cleanup.MailError{Temporary: code < 500, Code: code, Answer: answerOf(se), Err: err}
	}
	return &cleanup.MailError{Temporary: true, Answer: op + ": " + strings.TrimSpace(err.Error()), Err: err}
}

// answerOf is the server's answer in a SendError, without go-mail's
// message ids.
func answerOf(se *gomail.SendError) string {
	s := se.Error()
	if i := strings.Index(s, ", affected message ID"); i >= 0 {
		s = s[:i]
	}
	return s
}
