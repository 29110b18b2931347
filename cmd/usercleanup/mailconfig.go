package main

import (
	"log/slog"
	"net/mail"
	"strconv"
	"strings"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/mailer"
)

// Defaults of the mail settings.
const (
	defaultSMTPRate = 5.0 // e-mails per second, the whole instance
	maxSMTPRate     = 10000.0
)

// mailConfig is the SMTP server of the warning e-mails (SMTP_*). Without
// SMTP_HOST no e-mail is sent and cleanups cannot warn before removing.
type mailConfig struct {
	Enabled bool
	SMTP    mailer.Config
	// Rate is e-mails per second over the instance (SMTP_RATE).
	Rate float64
}

// LogValue describes the settings without the password.
func (c mailConfig) LogValue() slog.Value {
	if !c.Enabled {
		return slog.StringValue("off (SMTP_HOST unset: no warning e-mails)")
	}
	return slog.GroupValue(slog.Any("smtp", c.SMTP), slog.Float64("rate_per_second", c.Rate))
}

// loadMailConfig reads SMTP_HOST, SMTP_PORT, SMTP_TLS, SMTP_USERNAME,
// SMTP_PASSWORD, SMTP_FROM and SMTP_RATE. Messages never echo the
// password.
func loadMailConfig(getenv func(string) string) (mailConfig, configErrors) {
	var c mailConfig
	var errs configErrors
	host := strings.TrimSpace(getenv("SMTP_HOST"))
	if host == "" {
		for _, v := range []string{"SMTP_PORT", "SMTP_TLS", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_RATE"} {
			if strings.TrimSpace(getenv(v)) != "" {
				errs = append(errs, badVar(v, "is set but SMTP_HOST is not: set SMTP_HOST to send warning e-mails"))
			}
		}
		return c, errs
	}
	c.Enabled, c.Rate = true, defaultSMTPRate
	s := mailer.Config{Host: host, TLS: strings.ToLower(envOr(getenv, "SMTP_TLS", mailer.TLSStartTLS)),
		Username: strings.TrimSpace(getenv("SMTP_USERNAME")), Password: cleanup.Secret(getenv("SMTP_PASSWORD"))}
	defaultPort := 587
	switch s.TLS {
	case mailer.TLSStartTLS:
	case mailer.TLSImplicit:
		defaultPort = 465
	case mailer.TLSNone:
		defaultPort = 25
		if !isLocalHost(host) {
			errs = append(errs, badVar("SMTP_TLS", "none is allowed for a mail server on this machine only (localhost, 127.0.0.1); use starttls or tls"))
		}
	default:
		errs = append(errs, badVar("SMTP_TLS", "must be starttls, tls or none, got %q", s.TLS))
	}
	s.Port = defaultPort
	if raw := strings.TrimSpace(getenv("SMTP_PORT")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 65535 {
			errs = append(errs, badVar("SMTP_PORT", "must be a port number from 1 to 65535, got %q", raw))
		}
		s.Port = n
	}
	if (s.Username == "") != (s.Password == "") {
		errs = append(errs, badVar("SMTP_PASSWORD", "SMTP_USERNAME and SMTP_PASSWORD go together: set both or neither"))
	}
	s.From = strings.TrimSpace(getenv("SMTP_FROM"))
	if s.From == "" {
		errs = append(errs, badVar("SMTP_FROM", "required with SMTP_HOST: the sender address, e.g. User Cleanup <it@example.com>"))
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		errs = append(errs, badVar("SMTP_FROM", "must be an e-mail address such as User Cleanup <it@example.com>"))
	}
	if raw := strings.TrimSpace(getenv("SMTP_RATE")); raw != "" {
		r, err := strconv.ParseFloat(raw, 64)
		if err != nil || !(r > 0 && r <= maxSMTPRate) {
			errs = append(errs, badVar("SMTP_RATE", "must be e-mails per second, more than 0 and at most %g (e.g. 0.5 or 10), got %q", maxSMTPRate, raw))
		}
		c.Rate = r
	}
	c.SMTP = s
	return c, errs
}
