package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Classifier names the API of an outgoing request (a fixed set of names,
// for example "atlassian_site", "atlassian_org", "graph").
type Classifier func(*http.Request) string

// Transport wraps next (nil: http.DefaultTransport) so that every request
// it carries is counted by API and status, timed, and counted as
// throttled when the remote answers 429, or 503 with Retry-After. Wrap the
// outgoing client's transport once: every adapter shares it.
func (m *Metrics) Transport(next http.RoundTripper, api Classifier) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{m: m, next: next, api: api}
}

type transport struct {
	m    *Metrics
	next http.RoundTripper
	api  Classifier
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	api := t.api(req)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.m.outDuration.WithLabelValues(api).Observe(time.Since(start).Seconds())
	if err != nil {
		t.m.outgoing.WithLabelValues(api, "error").Inc()
		return resp, err
	}
	t.m.outgoing.WithLabelValues(api, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "") {
		t.m.throttled.WithLabelValues(api).Inc()
	}
	return resp, nil
}

// Mailer wraps a cleanup.Mailer so that every message its connections
// send is counted: sent, failed (the server refused it for good) or
// temporary (it will be retried).
func (m *Metrics) Mailer(next cleanup.Mailer) cleanup.Mailer {
	return &mailer{m: m, next: next}
}

type mailer struct {
	m    *Metrics
	next cleanup.Mailer
}

func (ml *mailer) Dial(ctx context.Context) (cleanup.MailConn, error) {
	c, err := ml.next.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return &mailConn{m: ml.m, next: c}, nil
}

type mailConn struct {
	m    *Metrics
	next cleanup.MailConn
}

func (c *mailConn) Send(ctx context.Context, e cleanup.Email) error {
	err := c.next.Send(ctx, e)
	var me *cleanup.MailError
	switch {
	case err == nil:
		c.m.emails.WithLabelValues("sent").Inc()
	case errors.As(err, &me) && !me.Temporary:
		c.m.emails.WithLabelValues("failed").Inc()
	default:
		c.m.emails.WithLabelValues("temporary").Inc()
	}
	return err
}

func (c *mailConn) Close() error { return c.next.Close() }
