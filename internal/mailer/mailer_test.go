package mailer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/mailer"
	"github.com/example/usercleanup/internal/mailer/mailertest"
)

func start(t *testing.T, o mailertest.Options) *mailertest.Server {
	t.Helper()
	s, err := mailertest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newMailer(t *testing.T, s *mailertest.Server, user, password string) *mailer.Mailer {
	t.Helper()
	m, err := mailer.New(mailer.Config{Host: s.Host(), Port: s.Port(), TLS: mailer.TLSNone, Username: user,
		Password: cleanup.Secret(password), From: "User Cleanup <cleanup@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSendAndClassify sends through the local SMTP server: an accepted
// message arrives with both bodies and the headers; a 550 is permanent
// with the server's answer, a 451 temporary; a wrong password fails the
// connection.
func TestSendAndClassify(t *testing.T) {
	ctx := context.Background()
	s := start(t, mailertest.Options{Username: "app", Password: "s3cret"})
	m := newMailer(t, s, "app", "s3cret")
	conn, err := m.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e := cleanup.Email{To: "ada@example.com", ToName: "Ada Lovelace", ReplyTo: "help@example.com",
		Subject: "Your access — ends soon", Text: "Hello Ada,\n\nlog in.\n", HTML: "<p>Hello Ada,</p>"}
	if err := conn.Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	s.Refuse("gone@example.com")
	s.Defer("busy@example.com", 1)
	e.To = "gone@example.com"
	var me *cleanup.MailError
	if err := conn.Send(ctx, e); !errors.As(err, &me) || me.Temporary || me.Code != 550 || !strings.Contains(me.Answer, "mailbox unavailable") {
		t.Errorf("refused address: %v (%+v)", err, me)
	}
	e.To = "busy@example.com"
	if err := conn.Send(ctx, e); !errors.As(err, &me) || !me.Temporary || me.Code != 451 {
		t.Errorf("deferred address: %v (%+v)", err, me)
	}
	if err := conn.Send(ctx, e); err != nil {
		t.Errorf("second try of the deferred address: %v", err)
	}
	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages received, want 2", len(msgs))
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != e.Subject || !strings.Contains(p.Text, "log in.") || !strings.Contains(p.HTML, "<p>Hello Ada,</p>") {
		t.Errorf("parsed %+v", p)
	}
	if got := p.Header.Get("Reply-To"); !strings.Contains(got, "help@example.com") {
		t.Errorf("Reply-To %q", got)
	}
	if got := p.Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if msgs[0].To[0] != "ada@example.com" || msgs[0].From != "cleanup@example.com" {
		t.Errorf("envelope %q → %q", msgs[0].From, msgs[0].To)
	}

	bad := newMailer(t, s, "app", "wrong")
	if _, err := bad.Dial(ctx); !errors.As(err, &me) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestUnreachableIsTemporary: no server at the address is a temporary
// failure (the batch is tried again later).
func TestUnreachableIsTemporary(t *testing.T) {
	s := start(t, mailertest.Options{})
	m := newMailer(t, s, "", "")
	s.Close()
	_, err := m.Dial(context.Background())
	var me *cleanup.MailError
	if !errors.As(err, &me) || !me.Temporary {
		t.Fatalf("dial a closed server: %v", err)
	}
}

func TestConfigChecked(t *testing.T) {
	for _, c := range []mailer.Config{
		{Port: 25, TLS: mailer.TLSNone, From: "a@example.com"},
		{Host: "h", Port: 0, TLS: mailer.TLSNone, From: "a@example.com"},
		{Host: "h", Port: 25, TLS: "ssl3", From: "a@example.com"},
		{Host: "h", Port: 25, TLS: mailer.TLSNone, From: "not an address"},
	} {
		if _, err := mailer.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
