package main

import (
	"strings"
	"testing"

	"github.com/example/usercleanup/internal/mailer"
)

// TestLoadMailConfig: the SMTP settings are checked at start with one
// message per variable, and the password never appears in a message or
// in the logged configuration.
func TestLoadMailConfig(t *testing.T) {
	const password = "pw-never-printed-0123"
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, errs := loadMailConfig(env())
	if len(errs) > 0 || c.Enabled {
		t.Fatalf("unset: %+v %v", c, errs)
	}
	c, errs = loadMailConfig(env("SMTP_HOST", "smtp.example.com", "SMTP_USERNAME", "app", "SMTP_PASSWORD", password,
		"SMTP_FROM", "User Cleanup <it@example.com>"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !c.Enabled || c.SMTP.Port != 587 || c.SMTP.TLS != mailer.TLSStartTLS || c.Rate != defaultSMTPRate || c.SMTP.Password.Reveal() != password {
		t.Errorf("defaults: %+v", c)
	}
	c, errs = loadMailConfig(env("SMTP_HOST", "smtp.example.com", "SMTP_TLS", "tls", "SMTP_FROM", "it@example.com", "SMTP_RATE", "0.5"))
	if len(errs) > 0 || c.SMTP.Port != 465 || c.Rate != 0.5 {
		t.Errorf("implicit TLS: %+v %v", c, errs)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"SMTP_FROM", "it@example.com"}, "SMTP_FROM: is set but SMTP_HOST is not"},
		{[]string{"SMTP_HOST", "smtp.example.com"}, "SMTP_FROM: required"},
		{[]string{"SMTP_HOST", "smtp.example.com", "SMTP_FROM", "nobody"}, "SMTP_FROM: must be an e-mail address"},
		{[]string{"SMTP_HOST", "smtp.example.com", "SMTP_FROM", "a@b.c", "SMTP_TLS", "none"}, "SMTP_TLS: none is allowed for a mail server on this machine only"},
		{[]string{"SMTP_HOST", "smtp.example.com", "SMTP_FROM", "a@b.c", "SMTP_TLS", "ssl"}, "SMTP_TLS: must be starttls, tls or none"},
		{[]string{"SMTP_HOST", "smtp.example.com", "SMTP_FROM", "a@b.c", "SMTP_PORT", "70000"}, "SMTP_PORT: must be a port number"},
		{[]string{"SMTP_HOST", "smtp.example.com", "SMTP_FROM", "a@b.c", "SMTP_PASSWORD", password}, "SMTP_PASSWORD: SMTP_USERNAME and SMTP_PASSWORD go together"},
		{[]string{"SMTP_HOST", "smtp.example.com", "SMTP_FROM", "a@b.c", "SMTP_RATE", "0"}, "SMTP_RATE: must be e-mails per second"},
	} {
		_, errs := loadMailConfig(env(tc.env...))
		if len(errs) == 0 || !strings.Contains(errs.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.env, errs, tc.want)
		}
		if strings.Contains(errs.Error(), password) {
			t.Errorf("%v: the message shows the password", tc.env)
		}
	}
	c, _ = loadMailConfig(env("SMTP_HOST", "127.0.0.1", "SMTP_TLS", "none", "SMTP_USERNAME", "u", "SMTP_PASSWORD", password, "SMTP_FROM", "a@b.c"))
	var b strings.Builder
	newLogger(&b, 0).Info("mail", "mail", c)
	if strings.Contains(b.String(), password) || !strings.Contains(b.String(), "password_set") {
		t.Errorf("logged configuration: %s", b.String())
	}
}
