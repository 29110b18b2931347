package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/internal/cleanup"
)

// WarningService is the part of the cleanup service behind the warning
// e-mail's preview and test e-mail (*cleanup.Service).
type WarningService interface {
	WarningsAvailable() bool
	PreviewWarning(ctx context.Context, clientKey, accountID string, o cleanup.WarningOptions) (cleanup.WarningPreview, error)
	SendTestWarning(ctx context.Context, clientKey, accountID string, o cleanup.WarningOptions) (string, error)
}

// warningRequest returns the caller's tenant and account and the
// options of {"warning": {...}} (the form's).
func warningRequest(c echo.Context) (clientKey, accountID string, o cleanup.WarningOptions, err error) {
	if clientKey, accountID, err = tenantOf(c); err != nil {
		return "", "", o, err
	}
	var in struct {
		Warning cleanup.WarningOptions `json:"warning"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return "", "", o, err
	}
	return clientKey, accountID, in.Warning, nil
}

// previewWarning answers POST /api/warnings/preview: the e-mail of the
// submitted options with sample values (the caller's name, this site),
// the texts in force and whether the server can send e-mail.
func (s *Server) previewWarning(c echo.Context) error {
	ck, account, o, err := warningRequest(c)
	if err != nil {
		return err
	}
	p, err := s.cfg.Cleanup.PreviewWarning(c.Request().Context(), ck, account, o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		cleanup.WarningPreview
		Available bool `json:"available"`
	}{p, s.cfg.Cleanup.WarningsAvailable()})
}

// testWarning answers POST /api/warnings/test: sends the submitted
// options' e-mail, with sample values, to the caller's own address.
func (s *Server) testWarning(c echo.Context) error {
	ck, account, o, err := warningRequest(c)
	if err != nil {
		return err
	}
	to, err := s.cfg.Cleanup.SendTestWarning(c.Request().Context(), ck, account, o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"sentTo": to})
}

// rowWarningBody is a row's warning in Show users.
type rowWarningBody struct {
	WarnedAt     string `json:"warnedAt"`
	RemovalDate  string `json:"removalDate"`
	State        string `json:"state"`
	EmailStatus  string `json:"emailStatus"`
	EmailMessage string `json:"emailMessage,omitempty"`
}

func toRowWarningBody(w *cleanup.RowWarning) *rowWarningBody {
	if w == nil {
		return nil
	}
	const layout = "2006-01-02T15:04:05Z07:00"
	return &rowWarningBody{WarnedAt: w.WarnedAt.UTC().Format(layout), RemovalDate: w.RemovalDate.UTC().Format(layout),
		State: w.State, EmailStatus: w.EmailStatus, EmailMessage: w.EmailMessage}
}
