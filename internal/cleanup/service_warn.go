package cleanup

import (
	"context"
	"strings"
)

// WithWarnings returns a copy of the service that offers warnings before
// removal: ws stores them, m sends the e-mails. Without it a cleanup with
// warnings is refused (no mail server is configured).
func (s *Service) WithWarnings(ws WarningStore, m Mailer) *Service {
	cp := *s
	cp.warnings, cp.mail = ws, m
	return &cp
}

// WarningsAvailable reports whether the server can send warning e-mails.
func (s *Service) WarningsAvailable() bool { return s.warnings != nil && s.mail != nil }

// checkWarnings refuses warnings when the server cannot send them.
func (s *Service) checkWarnings(d Definition) error {
	if d.Warning.Enabled && !s.WarningsAvailable() {
		return FieldErrors{"warning.enabled": "this server has no mail server configured (SMTP_HOST): warnings cannot be sent"}.Err()
	}
	return nil
}

// WarningPreview is the e-mail as a user would get it, with sample
// values, and the texts the form edits.
type WarningPreview struct {
	SubjectTemplate string   `json:"subjectTemplate"`
	MessageTemplate string   `json:"messageTemplate"`
	Placeholders    []string `json:"placeholders"`
	To              string   `json:"to,omitempty"`
	Subject         string   `json:"subject"`
	Text            string   `json:"text"`
	HTML            string   `json:"html"`
}

// PreviewWarning renders the options' e-mail with sample values: the
// admin's name, this site, a sample product and activity.
func (s *Service) PreviewWarning(ctx context.Context, clientKey, accountID string, o WarningOptions) (WarningPreview, error) {
	o.Enabled = true
	if fe := validWarning(o); fe != nil {
		return WarningPreview{}, fe
	}
	site := ""
	if s.warnings != nil {
		var err error
		if site, err = s.warnings.SiteName(ctx, clientKey); err != nil {
			return WarningPreview{}, err
		}
	}
	me, _ := s.admin(ctx, clientKey, accountID) // the name is a nicety: a sample one does
	m, err := RenderWarning(o, SampleWarningData(o, me.Name, site, s.now().UTC()), me.Email)
	if err != nil {
		return WarningPreview{}, err
	}
	return WarningPreview{SubjectTemplate: o.SubjectText(), MessageTemplate: o.MessageText(), Placeholders: WarningPlaceholders(),
		To: me.Email, Subject: m.Subject, Text: m.Text, HTML: m.HTML}, nil
}

// SendTestWarning sends the options' e-mail with sample values to the
// admin who asks, at the address the Organizations API gives for their
// account (the same source as the warned users' addresses: the product
// REST APIs hide e-mail addresses by the user's profile visibility, and
// their e-mail endpoint is only for apps Atlassian approved). It returns
// the address.
func (s *Service) SendTestWarning(ctx context.Context, clientKey, accountID string, o WarningOptions) (string, error) {
	if !s.WarningsAvailable() {
		return "", &Error{Kind: KindNotConfigured, Message: "this server has no mail server configured (SMTP_HOST): no e-mail can be sent"}
	}
	o.Enabled = true
	if fe := validWarning(o); fe != nil {
		return "", fe
	}
	me, err := s.admin(ctx, clientKey, accountID)
	if err != nil {
		return "", err
	}
	if me.Email == "" {
		return "", &Error{Kind: KindNotFound, Message: "the Organizations API shows no e-mail address for your account"}
	}
	site, err := s.warnings.SiteName(ctx, clientKey)
	if err != nil {
		return "", err
	}
	m, err := RenderWarning(o, SampleWarningData(o, me.Name, site, s.now().UTC()), me.Email)
	if err != nil {
		return "", err
	}
	m.Subject = "[Test] " + m.Subject
	conn, err := s.mail.Dial(ctx)
	if err != nil {
		return "", mailRefusal(err)
	}
	defer conn.Close()
	if err := conn.Send(ctx, m); err != nil {
		return "", mailRefusal(err)
	}
	s.log.InfoContext(ctx, "test warning e-mail sent", "client_key", clientKey, "account_id", accountID)
	return me.Email, nil
}

// admin reads the account's name and e-mail from the Organizations API.
func (s *Service) admin(ctx context.Context, clientKey, accountID string) (OrgUser, error) {
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return OrgUser{}, err
	}
	if !set.OrgConfigured() || accountID == "" {
		return OrgUser{}, &Error{Kind: KindNotConfigured, Field: "settings", Message: "set the organization ID and API key in settings first: your address comes from the Organizations API"}
	}
	org, err := s.conn.Org(ctx, clientKey)
	if err != nil {
		return OrgUser{}, err
	}
	page, err := org.SearchUsers(ctx, UserQuery{AccountIDs: []string{accountID}}, "")
	if err != nil {
		return OrgUser{}, err
	}
	for _, u := range page.Users {
		if u.AccountID == accountID {
			return u, nil
		}
	}
	return OrgUser{}, &Error{Kind: KindNotFound, Message: "your account is not in the organization's directory"}
}

func validWarning(o WarningOptions) error {
	fe := FieldErrors{}
	o.normalized().Validate(fe, "warning", "")
	if len(fe) > 0 {
		return fe.Err()
	}
	return nil
}

// mailRefusal turns a failed test send into an error an admin can act on.
func mailRefusal(err error) error {
	_, answer := mailFailure(err)
	return &Error{Kind: KindUnavailable, Message: "the mail server did not take the e-mail: " + strings.TrimSpace(answer), Err: err}
}
