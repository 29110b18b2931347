package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// problem is an error translated for the client.
type problem struct {
	Status     int
	Message    string            // safe to show
	Fields     map[string]string // for 400: per-field messages
	RetryAfter time.Duration     // for 503
	Log        bool              // log the cause at error level
	Warn       bool              // log the cause at warn level
}

// classify is the one error→status table of the app. Rejections by the
// connect package take their status from connect's own table
// (connect.HTTPStatus, one row per connect error, with the reason for each
// status) and their message from connectMessages; domain errors map by
// kind.
func classify(err error) problem {
	var (
		httpErr  *echo.HTTPError
		tooLarge *http.MaxBytesError
		auth     *authError
		denied   *forbiddenError
	)
	switch {
	// Request too large, from our limit (connect's lifecycle limit is in
	// connect's table).
	case errors.As(err, &tooLarge):
		return problem{Status: http.StatusRequestEntityTooLarge, Message: "The request is too large."}

	// Connect verification: lifecycle and authenticated routes. connect's
	// own failures (500: a redirect on a signed request, a bad
	// descriptor) are classified like any other error below, so a domain
	// error that wraps one keeps its kind.
	case connect.Reason(err) != nil && connect.HTTPStatus(err) != http.StatusInternalServerError:
		return connectProblem(err)
	// Any other failure to authenticate (for example the tenant could not
	// be loaded while verifying) is still a failed authentication.
	case errors.As(err, &auth):
		return problem{Status: http.StatusUnauthorized, Message: connectMessages(http.StatusUnauthorized)}

	// Authenticated but not allowed.
	case errors.As(err, &denied):
		return problem{Status: http.StatusForbidden, Message: denied.msg}

	// Echo's own errors (unknown route, wrong method) pass through.
	case errors.As(err, &httpErr):
		msg := http.StatusText(httpErr.Code)
		if m, ok := httpErr.Message.(string); ok && m != "" {
			msg = m
		}
		return problem{Status: httpErr.Code, Message: msg, Log: httpErr.Code >= 500}
	}
	return classifyDomain(err)
}

// connectProblem is the problem of a rejection by the connect package:
// connect.HTTPStatus decides the status.
func connectProblem(err error) problem {
	status := connect.HTTPStatus(err)
	p := problem{Status: status, Message: connectMessages(status)}
	if status == http.StatusServiceUnavailable {
		// Atlassian's key servers did not answer: worth a retry soon and
		// an operator's look, but not our failure, and not an attack (a
		// kid they deny is ErrUnknownKey, a 401).
		p.RetryAfter, p.Warn = 5*time.Second, true
	}
	return p
}

// connectMessages is the client-safe message for each status connect's
// table uses (TestClassifyEveryConnectError fails when a new one has
// none).
func connectMessages(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "The request is malformed."
	case http.StatusUnauthorized:
		return "Authentication failed. Reload the page to sign in again."
	case http.StatusForbidden:
		return "This site's address is not one this app accepts."
	case http.StatusRequestEntityTooLarge:
		return "The request is too large."
	case http.StatusServiceUnavailable:
		return "Atlassian's signing keys could not be fetched; try again."
	}
	return "The request was refused."
}

// genericFailure is the message of an unclassified error.
const genericFailure = "Something went wrong. Try again, and contact support if it keeps happening."

// classifyDomain maps the cleanup domain's errors by kind; anything else
// is an unclassified 500.
func classifyDomain(err error) problem {
	var de *cleanup.Error
	hasDomain := errors.As(err, &de)
	safe := "The request failed."
	if hasDomain && de.Message != "" {
		safe = de.Message
	}
	switch cleanup.KindOf(err) {
	case cleanup.KindInvalid:
		p := problem{Status: http.StatusBadRequest, Message: safe}
		var fe cleanup.FieldErrors
		if errors.As(err, &fe) {
			p.Fields = map[string]string(fe)
		} else if de.Field != "" {
			p.Fields = map[string]string{de.Field: de.Message}
		}
		return p
	case cleanup.KindNotFound:
		return problem{Status: http.StatusNotFound, Message: safe}
	case cleanup.KindConflict, cleanup.KindExternallyManaged:
		return problem{Status: http.StatusConflict, Message: safe}
	case cleanup.KindForbidden:
		return problem{Status: http.StatusForbidden, Message: safe}
	case cleanup.KindUnauthorized, cleanup.KindNotConfigured:
		// Stored credentials or settings are missing or rejected: the
		// admin must fix the configuration. Not 401, which the pages
		// treat as an expired session.
		return problem{Status: http.StatusUnprocessableEntity, Message: safe}
	case cleanup.KindUnavailable:
		return problem{Status: http.StatusServiceUnavailable, Message: safe, RetryAfter: cleanup.RetryAfterOf(err), Log: true}
	}
	return problem{Status: http.StatusInternalServerError, Message: genericFailure, Log: true}
}

// errorBody is the JSON error response.
type errorBody struct {
	Error     string            `json:"error"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"requestId,omitempty"`
}

// handleError is the echo.HTTPErrorHandler: it classifies err, logs it and
// writes an HTML page (page routes) or JSON (everything else).
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.WarnContext(c.Request().Context(), "error after response started",
			"error", err.Error(), "path", c.Request().URL.Path, "request_id", requestIDOf(c))
		return
	}
	p := classify(err)
	ctx := c.Request().Context()
	lifecycle, _ := c.Get(keyLifecycle).(bool)
	if s.cfg.Metrics != nil && !lifecycle && p.Status == http.StatusUnauthorized {
		// Lifecycle refusals are counted by countLifecycle.
		s.cfg.Metrics.AuthRefused(refusalReason(err))
	}
	switch {
	case p.Log:
		s.log.ErrorContext(ctx, "request failed", "error", err.Error(), "status", p.Status,
			"path", c.Request().URL.Path, "request_id", requestIDOf(c), "client_key", clientKeyOf(c))
	case p.Warn, lifecycle && p.Status < http.StatusInternalServerError:
		// A refused lifecycle callback (a forged or broken install) is
		// worth a look, but it is not a failure of the app.
		s.log.WarnContext(ctx, "request refused", "reason", err.Error(), "status", p.Status,
			"path", c.Request().URL.Path, "request_id", requestIDOf(c), "client_key", clientKeyOf(c))
	case p.Status == http.StatusUnauthorized || p.Status == http.StatusForbidden:
		// The reason is safe to log (connect errors never carry tokens).
		s.log.InfoContext(ctx, "request rejected", "reason", err.Error(), "status", p.Status,
			"path", c.Request().URL.Path, "request_id", requestIDOf(c), "client_key", clientKeyOf(c))
	default:
		s.log.DebugContext(ctx, "request error", "error", err.Error(), "status", p.Status, "request_id", requestIDOf(c))
	}
	if p.RetryAfter > 0 {
		secs := int((p.RetryAfter + time.Second - 1) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	} else if p.Status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "30")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	var werr error
	if html, _ := c.Get(keyHTML).(bool); html {
		werr = s.renderError(c, p)
	} else {
		werr = c.JSON(p.Status, errorBody{Error: p.Message, Fields: p.Fields, RequestID: requestIDOf(c)})
	}
	if werr != nil {
		s.log.WarnContext(ctx, "write error response", "error", werr.Error(), "request_id", requestIDOf(c))
	}
}

func (s *Server) renderError(c echo.Context, p problem) error {
	heading := http.StatusText(p.Status)
	if heading == "" {
		heading = fmt.Sprintf("Error %d", p.Status)
	}
	data := s.pageData(c)
	data.Status = p.Status
	data.Heading = heading
	data.Message = p.Message
	data.Fields = p.Fields
	data.RequestID = requestIDOf(c)
	return s.render(c, p.Status, "error.html", data)
}
