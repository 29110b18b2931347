package cleanup

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"regexp"
	"strings"
	"time"
)

// Email is one message to send. The adapter adds the From address, the
// date and the message id.
type Email struct {
	To      string
	ToName  string
	ReplyTo string
	Subject string
	Text    string // text/plain body
	HTML    string // text/html alternative
}

// Mailer sends e-mail (the SMTP adapter). Dial opens one connection for a
// batch of messages.
type Mailer interface {
	Dial(ctx context.Context) (MailConn, error)
}

// MailConn is one open connection to the mail server.
type MailConn interface {
	// Send sends one message. A failure is a *MailError when the server
	// answered (or could not be reached); anything else is treated as
	// temporary.
	Send(ctx context.Context, m Email) error
	Close() error
}

// MailError is a failure to send: Temporary for a 4xx answer or a server
// that could not be reached (try again later), permanent for a 5xx answer
// (this address will not work). Answer is what the server said, safe to
// show.
type MailError struct {
	Temporary bool
	Code      int
	Answer    string
	Err       error
}

func (e *MailError) Error() string {
	if e.Answer != "" {
		return e.Answer
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return "sending failed"
}

func (e *MailError) Unwrap() error { return e.Err }

// mailFailure classifies a send error: temporary or not, and the answer.
func mailFailure(err error) (temporary bool, answer string) {
	var me *MailError
	if errors.As(err, &me) {
		return me.Temporary, me.Error()
	}
	return true, "the mail server could not be reached"
}

// WarningData fills the placeholders of one warning e-mail.
type WarningData struct {
	Name        string
	Product     string
	Site        string
	LastActive  time.Time // zero: never
	RemovalDate time.Time
	Reason      string
	// Location formats the dates (the schedule's time zone; nil: UTC).
	Location *time.Location
}

// DataOf returns the placeholder values of a warning on a site, dates in
// loc (nil: UTC).
func DataOf(w Warning, site string, loc *time.Location) WarningData {
	return WarningData{Name: w.Name, Product: w.Product, Site: site, LastActive: w.LastActive,
		RemovalDate: w.RemovalDate, Reason: w.Reason, Location: loc}
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// unknownPlaceholders lists the {word} tokens that are no placeholder.
func unknownPlaceholders(s string) []string {
	var bad []string
	known := WarningPlaceholders()
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		if !containsString(known, m[1]) && !containsString(bad, m[0]) {
			bad = append(bad, m[0])
		}
	}
	return bad
}

// fill replaces the placeholders in s.
func (d WarningData) fill(s string) string {
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	last := "never"
	if !d.LastActive.IsZero() {
		last = d.LastActive.In(loc).Format("2 January 2006")
	}
	name := strings.TrimSpace(d.Name)
	if name == "" {
		name = "there"
	}
	product := d.Product
	if product == "" {
		product = "the site's products"
	}
	values := map[string]string{
		"name": name, "product": product, "site": d.Site, "lastActive": last,
		"removalDate": d.RemovalDate.In(loc).Format("Monday 2 January 2006"), "reason": d.Reason,
	}
	return placeholderRE.ReplaceAllStringFunc(s, func(tok string) string {
		if v, ok := values[tok[1:len(tok)-1]]; ok {
			return v
		}
		return tok
	})
}

// warningHTML is the HTML alternative: the admin's text, escaped by
// html/template, in paragraphs (blank lines) and lines (<br>).
var warningHTML = template.Must(template.New("warning").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; font-size: 14px; line-height: 1.5; color: #172b4d;">
{{range .Paragraphs}}<p>{{range $i, $l := .}}{{if $i}}<br>
{{end}}{{$l}}{{end}}</p>
{{end}}</body></html>
`))

// RenderWarning renders the e-mail of one warning in the admin's words:
// subject and plain text with the placeholders filled, and the same text
// as escaped HTML. The subject is one line whatever the values hold.
func RenderWarning(o WarningOptions, d WarningData, to string) (Email, error) {
	o = o.normalized()
	subject := strings.Join(strings.Fields(d.fill(o.SubjectText())), " ")
	text := d.fill(o.MessageText())
	var paras [][]string
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.Trim(p, "\n"); p != "" {
			paras = append(paras, strings.Split(p, "\n"))
		}
	}
	var b bytes.Buffer
	if err := warningHTML.Execute(&b, struct {
		Subject    string
		Paragraphs [][]string
	}{subject, paras}); err != nil {
		return Email{}, err
	}
	return Email{To: to, ToName: d.Name, ReplyTo: o.ReplyTo, Subject: subject, Text: text + "\n", HTML: b.String()}, nil
}

// SampleWarningData is what the form's preview and the test e-mail fill
// the placeholders with: the admin's own name and this site, a sample
// product, activity and reason, and a removal date the options' days from
// now.
func SampleWarningData(o WarningOptions, name, site string, now time.Time) WarningData {
	days := o.Days
	if days < MinWarningDays || days > MaxWarningDays {
		days = DefaultWarningDays
	}
	return WarningData{Name: name, Product: "Jira Software", Site: site,
		LastActive: now.AddDate(0, 0, -120), RemovalDate: now.Add(time.Duration(days) * 24 * time.Hour),
		Reason: "inactive in Jira Software for 120 days (threshold 90)"}
}
