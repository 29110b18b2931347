package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/internal/cleanup"
)

// EntraService is the Microsoft Entra ID part of the cleanup service
// (*cleanup.Service): the connection test, the group mapping and the runs'
// follow-up verdicts.
type EntraService interface {
	TestEntraConnection(ctx context.Context, clientKey string, in cleanup.EntraTestInput) (cleanup.CredentialTest, error)
	EntraMappings(ctx context.Context, clientKey string) (cleanup.EntraMappingReport, error)
	GetFollowUpUsers(ctx context.Context, clientKey string, runID int64, stillPresent *bool, p cleanup.Page) ([]cleanup.FollowUpUser, int, error)
}

// entraMapping answers GET /api/entra/mapping: every IdP-synced group with
// its Microsoft Entra ID group and the validation state.
func (s *Server) entraMapping(c echo.Context) error {
	return tenantJSON(c, s.cfg.Cleanup.EntraMappings)
}

// followUpUserBody is a run row with its follow-up verdict.
type followUpUserBody struct {
	runUserBody
	StillPresent    bool   `json:"stillPresent"`
	FollowUpMessage string `json:"followUpMessage"`
}

// followUpUsers answers GET /api/runs/:id/follow-up/users
// (?stillPresent=true|false, page, perPage): the follow-up verdicts of a
// run's removed and exported users. The follow-up itself (due and check
// times, counts) is part of GET /api/runs/:id.
func (s *Server) followUpUsers(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	var present *bool
	switch v := c.QueryParam("stillPresent"); v {
	case "":
	case "true", "false":
		b := v == "true"
		present = &b
	default:
		return cleanup.Invalid("stillPresent", "must be true or false")
	}
	users, total, err := s.cfg.Cleanup.GetFollowUpUsers(c.Request().Context(), ck, id, present, p)
	if err != nil {
		return err
	}
	items := make([]followUpUserBody, len(users))
	for i, u := range users {
		items[i] = followUpUserBody{runUserBody: toRunUserBody(u.AffectedUser), StillPresent: u.StillPresent, FollowUpMessage: u.FollowUpMessage}
	}
	return c.JSON(http.StatusOK, newPage(items, p, total))
}
