package demo

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// MailboxMessage is one e-mail the demo's mail server received.
type MailboxMessage struct {
	From, To, ReplyTo, Subject string
	Text, HTML                 string
	Received                   time.Time
}

// mailboxPage is the host page's Mailbox: the e-mails the app sent (the
// warning e-mails and test e-mails), newest first, each with its text and
// its HTML in a sandboxed frame.
var mailboxPage = template.Must(template.New("mailbox").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Mailbox · local host page</title>
<style>
 body { font-family: -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color:#172b4d; margin:0; }
 header { display:flex; gap:24px; align-items:center; height:56px; padding:0 16px; border-bottom:1px solid #dfe1e6; }
 main { padding:16px 24px; max-width:960px; }
 article { border:1px solid #dfe1e6; border-radius:3px; margin:0 0 16px; padding:8px 16px; }
 h2 { font-size:16px; margin:8px 0; }
 dl { display:grid; grid-template-columns:max-content 1fr; gap:2px 12px; margin:0 0 8px; font-size:13px; }
 dt { color:#44546f; } dd { margin:0; }
 pre { white-space:pre-wrap; font-size:13px; background:#f7f8f9; padding:8px; }
 iframe { width:100%; height:260px; border:1px solid #ebecf0; }
 a { color:#0c66e4; }
</style></head>
<body>
<header><strong>Mailbox</strong><a href="{{.Back}}">Back to the products</a></header>
<main>
<h1>E-mails sent by the app ({{len .Messages}})</h1>
<p>The demo's local mail server received these. Nothing leaves this computer.</p>
{{range $i, $m := .Messages}}
<article aria-labelledby="mail-{{$i}}">
 <h2 id="mail-{{$i}}">{{$m.Subject}}</h2>
 <dl><dt>To</dt><dd>{{$m.To}}</dd><dt>From</dt><dd>{{$m.From}}</dd>{{if $m.ReplyTo}}<dt>Reply-To</dt><dd>{{$m.ReplyTo}}</dd>{{end}}<dt>Received</dt><dd>{{$m.Received.Format "2006-01-02 15:04:05"}}</dd></dl>
 {{if $m.HTML}}<iframe sandbox="" title="HTML of: {{$m.Subject}}" srcdoc="{{$m.HTML}}"></iframe>{{end}}
 <details><summary>Plain text</summary><pre>{{$m.Text}}</pre></details>
</article>
{{else}}<p>No e-mails yet: run a cleanup that warns users before removing access, or send a test e-mail from its form.</p>
{{end}}
</main></body></html>
`))

// mailbox serves the Mailbox page.
func (h *HostPage) mailbox(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Mailbox == nil {
		return &hostError{http.StatusNotFound, "no mailbox"}
	}
	var buf bytes.Buffer
	if err := mailboxPage.Execute(&buf, struct {
		Back     string
		Messages []MailboxMessage
	}{h.cfg.Prefix, h.cfg.Mailbox()}); err != nil {
		return fmt.Errorf("render mailbox: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err := w.Write(buf.Bytes())
	return err
}
