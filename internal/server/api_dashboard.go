package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/internal/cleanup"
)

// SnapshotService is the licence snapshot behind the dashboard and the
// users screen (*cleanup.Snapshots). Every call is scoped by the
// authenticated tenant's client key.
type SnapshotService interface {
	Dashboard(ctx context.Context, clientKey string) (cleanup.Dashboard, error)
	Refresh(ctx context.Context, clientKey, accountID string) (int64, error)
	Snapshot(ctx context.Context, clientKey string, id int64) (cleanup.Snapshot, error)
	Users(ctx context.Context, clientKey string, f cleanup.SnapshotUserFilter, p cleanup.Page) ([]cleanup.SnapshotUser, int, *cleanup.Snapshot, error)
	ApproveReviews(ctx context.Context, clientKey string, in cleanup.ReviewDecision, by string) ([]int64, error)
	DismissReviews(ctx context.Context, clientKey string, in cleanup.ReviewDecision, by string) (int, error)
}

// dashboard answers the latest snapshot's figures, the snapshot in
// progress and the trend. It never waits for a scan.
func (s *Server) dashboard(c echo.Context) error {
	return tenantJSON(c, s.cfg.Snapshots.Dashboard)
}

// refreshSnapshot queues a snapshot (or finds the one in progress) and
// answers 202 with its id.
func (s *Server) refreshSnapshot(c echo.Context) error {
	ck, account, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := s.cfg.Snapshots.Refresh(c.Request().Context(), ck, account)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int64{"snapshotId": id})
}

// getSnapshot answers one snapshot: its status and progress.
func (s *Server) getSnapshot(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	snap, err := s.cfg.Snapshots.Snapshot(c.Request().Context(), ck, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, snap)
}

// usersBody is a page of the users screen and the snapshot it comes from
// (null before the first snapshot).
type usersBody struct {
	pageBody[cleanup.SnapshotUser]
	Snapshot *cleanup.Snapshot `json:"snapshot"`
}

// listUsers answers a page of the latest snapshot's users. Query: q
// (name or e-mail), band, product, group, synced (true/false),
// protected (yes, no or a kind), review (true: marked for review), sort,
// desc (true/false), page, perPage. Each user carries its open review
// mark.
func (s *Server) listUsers(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	f := cleanup.SnapshotUserFilter{
		Search: c.QueryParam("q"), Band: c.QueryParam("band"), Product: c.QueryParam("product"),
		GroupID: c.QueryParam("group"), Protected: c.QueryParam("protected"), Sort: c.QueryParam("sort"),
	}
	if f.Synced, err = boolParam(c, "synced"); err != nil {
		return err
	}
	review, err := boolParam(c, "review")
	if err != nil {
		return err
	}
	f.Review = review != nil && *review
	desc, err := boolParam(c, "desc")
	if err != nil {
		return err
	}
	f.Desc = desc != nil && *desc
	users, total, snap, err := s.cfg.Snapshots.Users(c.Request().Context(), ck, f, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, usersBody{pageBody: newPage(users, p, total), Snapshot: snap})
}

// boolParam reads an optional true/false query parameter (nil when absent).
func boolParam(c echo.Context, name string) (*bool, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return nil, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return nil, cleanup.Invalid(name, "must be true or false")
	}
	return &v, nil
}

// startUserAction runs a bulk action of the users screen as a run
// (History, dry run, progress, audit) and answers 202 with its id.
func (s *Server) startUserAction(c echo.Context) error {
	ck, account, err := tenantOf(c)
	if err != nil {
		return err
	}
	var in struct {
		Action     string   `json:"action"`
		AccountIDs []string `json:"accountIds"`
		DryRun     *bool    `json:"dryRun"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.DryRun == nil {
		return cleanup.Invalid("dryRun", "say whether this is a dry run (true or false)")
	}
	runID, err := s.cfg.Cleanup.StartUserAction(c.Request().Context(), ck, cleanup.UserAction{Action: in.Action, AccountIDs: in.AccountIDs, DryRun: *in.DryRun}, account)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int64{"runId": runID})
}

// reviewDecision reads the body of the review list's decisions.
func reviewDecision(c echo.Context, needDryRun bool) (cleanup.ReviewDecision, error) {
	var in struct {
		AccountIDs []string `json:"accountIds"`
		DryRun     *bool    `json:"dryRun"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return cleanup.ReviewDecision{}, err
	}
	if needDryRun && in.DryRun == nil {
		return cleanup.ReviewDecision{}, cleanup.Invalid("dryRun", "say whether this is a dry run (true or false)")
	}
	d := cleanup.ReviewDecision{AccountIDs: in.AccountIDs}
	if in.DryRun != nil {
		d.DryRun = *in.DryRun
	}
	return d, nil
}

// approveReviews runs the marking cleanups' removal for the chosen users
// of the review list and answers 202 with the runs' ids.
func (s *Server) approveReviews(c echo.Context) error {
	ck, account, err := tenantOf(c)
	if err != nil {
		return err
	}
	in, err := reviewDecision(c, true)
	if err != nil {
		return err
	}
	ids, err := s.cfg.Snapshots.ApproveReviews(c.Request().Context(), ck, in, account)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string][]int64{"runIds": ids})
}

// dismissReviews takes the chosen users off the review list.
func (s *Server) dismissReviews(c echo.Context) error {
	ck, account, err := tenantOf(c)
	if err != nil {
		return err
	}
	in, err := reviewDecision(c, false)
	if err != nil {
		return err
	}
	n, err := s.cfg.Snapshots.DismissReviews(c.Request().Context(), ck, in, account)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"dismissed": n})
}
