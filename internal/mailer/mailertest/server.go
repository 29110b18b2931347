// Package mailertest is an in-process SMTP server (github.com/emersion/go-smtp)
// that records what it receives, for tests and the demo's mailbox. It
// answers like a real server: 250 for accepted messages, and the replies
// a test asks for per recipient (a 550 that refuses an address for good,
// a 451 that asks to try again later), with an optional delay per message
// and optional AUTH PLAIN credentials. It listens on 127.0.0.1 without
// TLS (the app allows that for a local server only).
package mailertest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one received message.
type Message struct {
	From     string
	To       []string
	Data     []byte
	Received time.Time
}

// Server is the SMTP server.
type Server struct {
	srv  *smtp.Server
	ln   net.Listener
	mu   sync.Mutex
	msgs []Message
	// replies per recipient (lower case): consumed one by one
	replies  map[string][]*smtp.SMTPError
	delay    time.Duration
	dropData bool
	user     string
	password string
	sessions int
}

// Options configure a Server.
type Options struct {
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// Delay is how long each message takes to accept.
	Delay time.Duration
	// DropData keeps the envelope of each message but not its content
	// (benchmarks: memory then measures the sender, not this server).
	DropData bool
}

// Start starts a server on 127.0.0.1 at a free port.
func Start(o Options) (*Server, error) {
	return StartAt("127.0.0.1:0", o)
}

// StartAt starts a server on addr.
func StartAt(addr string, o Options) (*Server, error) {
	s := &Server{replies: map[string][]*smtp.SMTPError{}, delay: o.Delay, dropData: o.DropData, user: o.Username, password: o.Password}
	srv := smtp.NewServer(s)
	srv.Domain = "mail.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 50
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.srv, s.ln = srv, ln
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// Host and Port are where the server listens.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server.
func (s *Server) Close() {
	_ = s.ln.Close() // Serve may not have taken the listener yet
	_ = s.srv.Close()
}

// SetDelay changes the time each message takes.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Refuse makes the server answer RCPT TO for the address with a
// permanent 550 every time.
func (s *Server) Refuse(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[strings.ToLower(addr)] = []*smtp.SMTPError{{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}}
}

// Defer makes the server answer RCPT TO for the address with a temporary
// 451 the next n times.
func (s *Server) Defer(addr string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.replies[strings.ToLower(addr)] = append(s.replies[strings.ToLower(addr)],
			&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"})
	}
}

// Messages returns what was received, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Reset forgets the messages received.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

// Sessions counts the connections that sent MAIL FROM.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: s, authed: s.user == ""}, nil
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.user || password != ss.s.password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.s.mu.Lock()
	ss.s.sessions++
	ss.s.mu.Unlock()
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	key := strings.ToLower(to)
	if rs := ss.s.replies[key]; len(rs) > 0 {
		r := rs[0]
		if r.Code == 451 {
			ss.s.replies[key] = rs[1:]
		}
		return r
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	delay := ss.s.delay
	ss.s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.dropData {
		b = nil
	}
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: b, Received: time.Now()})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// Parsed is a message's headers and bodies, decoded.
type Parsed struct {
	Header mail.Header
	// Subject is decoded (RFC 2047).
	Subject string
	Text    string
	HTML    string
}

// Parse decodes a received message: headers, and the text and HTML
// parts of a multipart/alternative body (quoted-printable or base64).
func (m Message) Parse() (Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return Parsed{}, err
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: msg.Header, Subject: subject}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Parsed{}, err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := decodeBody(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		p.Text = body
		return p, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return Parsed{}, err
		}
		body, err := decodeBody(part.Header.Get("Content-Transfer-Encoding"), part)
		if err != nil {
			return Parsed{}, err
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = body
		case "text/html":
			p.HTML = body
		}
	}
}

func decodeBody(cte string, r io.Reader) (string, error) {
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		b, err := io.ReadAll(r)
		if err != nil {
			return "", err
		}
		return decodeBase64(b)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

func decodeBase64(b []byte) (string, error) {
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	return string(out), err
}
