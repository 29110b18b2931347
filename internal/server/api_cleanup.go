package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// CleanupService is the cleanup domain as the JSON API uses it
// (*cleanup.Service). Every call is scoped by the authenticated tenant's
// client key, never one from the request.
type CleanupService interface {
	GetSettings(ctx context.Context, clientKey string) (cleanup.Settings, error)
	UpdateSettings(ctx context.Context, clientKey string, p cleanup.SettingsPatch, ifVersion int64) (cleanup.Settings, error)
	TestConnection(ctx context.Context, clientKey string, in cleanup.OrgTestInput) (cleanup.CredentialTest, error)
	Groups(ctx context.Context, clientKey string) (cleanup.GroupCatalog, error)
	ListCleanups(ctx context.Context, clientKey string) ([]cleanup.Cleanup, error)
	GetCleanup(ctx context.Context, clientKey string, id int64) (cleanup.Cleanup, error)
	CreateCleanup(ctx context.Context, clientKey string, d cleanup.Definition) (cleanup.Cleanup, error)
	UpdateCleanup(ctx context.Context, clientKey string, id int64, d cleanup.Definition, ifVersion int64) (cleanup.Cleanup, error)
	DeleteCleanup(ctx context.Context, clientKey string, id int64) error
	StartRun(ctx context.Context, clientKey string, cleanupID int64, dryRun bool, accountID string) (int64, error)
	StartRestore(ctx context.Context, clientKey string, runID int64, in cleanup.RestoreInput, accountID string) (int64, error)
	ListRuns(ctx context.Context, clientKey string, p cleanup.Page) ([]cleanup.Run, int, error)
	GetRun(ctx context.Context, clientKey string, id int64) (cleanup.Run, error)
	RunUsers(ctx context.Context, clientKey string, runID int64, f cleanup.RunUserFilter, p cleanup.Page) ([]cleanup.AffectedUser, int, error)
	// StartUserAction runs a bulk action of the users screen (api_dashboard.go).
	StartUserAction(ctx context.Context, clientKey string, in cleanup.UserAction, accountID string) (int64, error)
	EntraService
	WarningService
}

// tenantOf returns the authenticated tenant's client key and account id.
func tenantOf(c echo.Context) (clientKey, accountID string, err error) {
	a, ok := connect.AuthFrom(c.Request().Context())
	if !ok || a.ClientKey == "" {
		return "", "", &authError{err: connect.ErrNoToken}
	}
	return a.ClientKey, a.AccountID, nil
}

// decodeJSON decodes the request body into v, refusing unknown fields and
// trailing data, with the field at fault in the error.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &maxErr):
			return err
		case errors.Is(err, io.EOF):
			return cleanup.Invalid("body", "the request body is empty; send a JSON object")
		case errors.As(err, &typeErr):
			field := jsonPath(typeErr.Field)
			if field == "" {
				field = "body"
			}
			return cleanup.Invalid(field, "%s", kindWords(typeErr.Type.Kind()))
		case errors.As(err, &syntaxErr):
			return cleanup.Invalid("body", "is not valid JSON (at byte %d)", syntaxErr.Offset)
		}
		// Unknown fields and the like: the decoder's message names the
		// field and holds nothing secret.
		return cleanup.Invalid("body", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return cleanup.Invalid("body", "must hold exactly one JSON object")
	}
	return nil
}

// kindWords says what a field that got a value of the wrong type must be,
// in the words of the pages' error summaries ("Days inactive must be a
// whole number."), not in JSON's.
func kindWords(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be a whole number"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.Bool:
		return "must be on or off (true or false)"
	case reflect.String:
		return "must be text"
	case reflect.Slice, reflect.Array:
		return "must be a list"
	case reflect.Map, reflect.Struct:
		return "must be a group of fields (a JSON object)"
	}
	return "has a value of the wrong type"
}

// jsonPath drops the names of embedded Go structs (capitalized segments,
// e.g. "Definition.daysInactive") from a decoder field path: the API's
// JSON names are camelCase.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	for len(parts) > 1 && parts[0] != "" && parts[0][0] >= 'A' && parts[0][0] <= 'Z' {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

// pathID parses the :id path parameter; a malformed id is not found, like
// an id of another tenant.
func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "not found"}
	}
	return id, nil
}

// pageOf reads page and perPage query parameters.
func pageOf(c echo.Context) (cleanup.Page, error) {
	var p cleanup.Page
	for name, dst := range map[string]*int{"page": &p.Page, "perPage": &p.PerPage} {
		raw := c.QueryParam(name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return p, cleanup.Invalid(name, "must be a positive whole number")
		}
		*dst = n
	}
	if p.PerPage > cleanup.MaxPerPage {
		return p, cleanup.Invalid("perPage", "must be at most %d", cleanup.MaxPerPage)
	}
	return p.Normalized(), nil
}

// pageBody is a page of a list.
type pageBody[T any] struct {
	Items   []T `json:"items"`
	Page    int `json:"page"`
	PerPage int `json:"perPage"`
	Total   int `json:"total"`
}

func newPage[T any](items []T, p cleanup.Page, total int) pageBody[T] {
	if items == nil {
		items = []T{}
	}
	return pageBody[T]{Items: items, Page: p.Page, PerPage: p.PerPage, Total: total}
}

// tenantJSON answers with what f returns for the request's tenant: the
// shape of every read that needs nothing but the tenant.
func tenantJSON[T any](c echo.Context, f func(ctx context.Context, clientKey string) (T, error)) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	v, err := f(c.Request().Context(), ck)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// tenantList answers {"<key>": [...]} with what f lists for the request's
// tenant; an empty list is [] rather than null.
func tenantList[T any](c echo.Context, key string, f func(ctx context.Context, clientKey string) ([]T, error)) error {
	return tenantJSON(c, func(ctx context.Context, ck string) (map[string][]T, error) {
		items, err := f(ctx, ck)
		if items == nil {
			items = []T{}
		}
		return map[string][]T{key: items}, err
	})
}

// labels answers GET /api/labels: the words for every value the API
// carries (cleanup.Labels), by kind.
func (s *Server) labels(c echo.Context) error {
	return c.JSON(http.StatusOK, cleanup.Labels())
}

// listGroups answers {"groups": [...], "products": [...]}: every group
// classified under the settings, and the products with their toggles and
// warnings.
func (s *Server) listGroups(c echo.Context) error {
	return tenantJSON(c, s.cfg.Cleanup.Groups)
}

func (s *Server) listCleanups(c echo.Context) error {
	return tenantList(c, "cleanups", s.cfg.Cleanup.ListCleanups)
}

// writeCleanup answers a cleanup with its version as the ETag.
func writeCleanup(c echo.Context, status int, cl cleanup.Cleanup) error {
	setETag(c, cl.Version)
	return c.JSON(status, cl)
}

func (s *Server) getCleanup(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	cl, err := s.cfg.Cleanup.GetCleanup(c.Request().Context(), ck, id)
	if err != nil {
		return err
	}
	return writeCleanup(c, http.StatusOK, cl)
}

// decodeDefinition decodes a submitted definition over the defaults.
func decodeDefinition(c echo.Context) (cleanup.Definition, error) {
	// The body may carry read-only fields the API returned (version,
	// nextRunAt...): accept and ignore them.
	var in struct {
		cleanup.Definition
		Version         json.RawMessage `json:"version"`
		NextRunAt       json.RawMessage `json:"nextRunAt"`
		LastScheduledAt json.RawMessage `json:"lastScheduledAt"`
		ScheduleText    json.RawMessage `json:"scheduleDescription"`
		Warnings        json.RawMessage `json:"warnings"`
	}
	in.Definition = cleanup.DefaultDefinition()
	if err := decodeJSON(c, &in); err != nil {
		return cleanup.Definition{}, err
	}
	return in.Definition, nil
}

func (s *Server) createCleanup(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	d, err := decodeDefinition(c)
	if err != nil {
		return err
	}
	cl, err := s.cfg.Cleanup.CreateCleanup(c.Request().Context(), ck, d)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", c.Request().URL.Path+"/"+strconv.FormatInt(cl.ID, 10))
	return writeCleanup(c, http.StatusCreated, cl)
}

// ifMatch parses If-Match: a version number, quoted or not; absent is 0
// (last write wins). what names the resource in the error.
func ifMatch(c echo.Context, what string) (int64, error) {
	raw := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if raw == "" || raw == "*" {
		return 0, nil
	}
	raw = strings.Trim(strings.TrimPrefix(raw, "W/"), `"`)
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < 1 {
		return 0, cleanup.Invalid("If-Match", "must be the %s's version (its ETag)", what)
	}
	return v, nil
}

// setETag sets the ETag of a versioned resource.
func setETag(c echo.Context, version int64) {
	c.Response().Header().Set("ETag", strconv.Quote(strconv.FormatInt(version, 10)))
}

func (s *Server) updateCleanup(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	version, err := ifMatch(c, "cleanup")
	if err != nil {
		return err
	}
	d, err := decodeDefinition(c)
	if err != nil {
		return err
	}
	cl, err := s.cfg.Cleanup.UpdateCleanup(c.Request().Context(), ck, id, d, version)
	if err != nil {
		return err
	}
	return writeCleanup(c, http.StatusOK, cl)
}

func (s *Server) deleteCleanup(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Cleanup.DeleteCleanup(c.Request().Context(), ck, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) startRun(c echo.Context) error {
	ck, account, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in struct {
		DryRun *bool `json:"dryRun"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.DryRun == nil {
		return cleanup.Invalid("dryRun", "say whether this is a dry run (true or false)")
	}
	runID, err := s.cfg.Cleanup.StartRun(c.Request().Context(), ck, id, *in.DryRun, account)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int64{"runId": runID})
}

// startRestore queues a restore of a run: {"dryRun": bool, "accountIds":
// [...]} (no accountIds: every user of the run). 202 {"runId"}; another
// tenant's run is 404, a run that cannot be restored 409 with the reason.
func (s *Server) startRestore(c echo.Context) error {
	ck, account, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in struct {
		DryRun     *bool    `json:"dryRun"`
		AccountIDs []string `json:"accountIds"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.DryRun == nil {
		return cleanup.Invalid("dryRun", "say whether this is a dry run (true or false)")
	}
	runID, err := s.cfg.Cleanup.StartRestore(c.Request().Context(), ck, id, cleanup.RestoreInput{DryRun: *in.DryRun, AccountIDs: in.AccountIDs}, account)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int64{"runId": runID})
}

func (s *Server) listRuns(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	runs, total, err := s.cfg.Cleanup.ListRuns(c.Request().Context(), ck, p)
	if err != nil {
		return err
	}
	items := make([]runBody, len(runs))
	for i, r := range runs {
		items[i] = toRunBody(r)
	}
	return c.JSON(http.StatusOK, newPage(items, p, total))
}

// runBody is a run with the labels of its values and its progress for the
// UI.
type runBody struct {
	cleanup.Run
	StatusLabel  string      `json:"statusLabel"`
	PhaseLabel   string      `json:"phaseLabel"`
	TriggerLabel string      `json:"triggerLabel"`
	Progress     runProgress `json:"progress"`
}

func toRunBody(r cleanup.Run) runBody {
	return runBody{Run: r, StatusLabel: cleanup.Label("runStatus", r.Status), PhaseLabel: cleanup.Label("phase", r.Phase),
		TriggerLabel: cleanup.Label("trigger", r.Trigger), Progress: progressOf(r)}
}

// runProgress: users evaluated so far of the users to evaluate, and rows
// acted on of the rows the apply phase has to act on.
type runProgress struct {
	Phase     string `json:"phase"`
	Evaluated int    `json:"evaluated"`
	// Total is the number of users to evaluate: while evaluating, an
	// estimate from the selected groups' member counts (TotalEstimated);
	// afterwards the exact number evaluated. 0 when unknown.
	Total          int  `json:"total"`
	TotalEstimated bool `json:"totalEstimated"`
	Rows           int  `json:"rows"`
	Settled        int  `json:"settled"` // rows no longer pending
	Percent        int  `json:"percent"` // of the rows, once evaluation is done
}

func progressOf(r cleanup.Run) runProgress {
	p := runProgress{Phase: r.Phase, Evaluated: r.Counts.Evaluated, Rows: r.Counts.Rows, Settled: r.Counts.Rows - r.Counts.Pending}
	if r.Phase == cleanup.PhaseEvaluate {
		selected := map[string]bool{}
		for _, id := range append(append([]string{}, r.Definition.LicensingGroupIDs...), r.Definition.ExtraGroupIDs...) {
			selected[id] = true
		}
		for _, g := range r.Groups {
			if selected[g.ID] && g.MemberCount > 0 {
				p.Total += g.MemberCount
			}
		}
		if p.Total > 0 {
			p.Total, p.TotalEstimated = max(p.Total, p.Evaluated), true
		}
	} else {
		p.Total = p.Evaluated
	}
	switch {
	case r.Finished():
		p.Percent = 100
	case r.Phase != cleanup.PhaseEvaluate && r.Phase != cleanup.PhaseRestorePlan && p.Rows > 0:
		p.Percent = p.Settled * 100 / p.Rows
	}
	return p
}

func (s *Server) getRun(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	run, err := s.cfg.Cleanup.GetRun(c.Request().Context(), ck, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRunBody(run))
}

// runUserBody is one affected-user row as the API shows it.
type runUserBody struct {
	ID               int64             `json:"id"`
	AccountID        string            `json:"accountId"`
	Name             string            `json:"name"`
	Email            string            `json:"email,omitempty"`
	AccountType      string            `json:"accountType"`
	Product          string            `json:"product,omitempty"`
	GroupID          string            `json:"groupId,omitempty"`
	GroupName        string            `json:"groupName,omitempty"`
	GroupSynced      bool              `json:"groupSynced"`
	IdentityProvider string            `json:"identityProvider,omitempty"`
	LastActive       map[string]string `json:"lastActive"` // product → RFC 3339, "" = never
	Reason           string            `json:"reason"`
	Action           string            `json:"action"`
	ActionLabel      string            `json:"actionLabel"`
	Outcome          string            `json:"outcome"`
	OutcomeLabel     string            `json:"outcomeLabel"`
	Message          string            `json:"message,omitempty"`
	Warning          *rowWarningBody   `json:"warning,omitempty"`
}

func toRunUserBody(u cleanup.AffectedUser) runUserBody {
	last := make(map[string]string, len(u.LastActive))
	for k, t := range u.LastActive {
		if t.IsZero() {
			last[k] = ""
		} else {
			last[k] = t.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
	}
	return runUserBody{
		ID: u.ID, AccountID: u.AccountID, Name: u.Name, Email: u.Email, AccountType: u.AccountType,
		Product: u.Product, GroupID: u.GroupID, GroupName: u.GroupName, GroupSynced: u.GroupSynced,
		IdentityProvider: u.IdentityProvider, LastActive: last, Reason: u.Reason, Action: u.Action,
		ActionLabel: cleanup.Label("action", u.Action), Outcome: u.Outcome, OutcomeLabel: cleanup.Label("outcome", u.Outcome),
		Message: u.Message, Warning: toRowWarningBody(u.Warning),
	}
}

func (s *Server) runUsers(c echo.Context) error {
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
	f := cleanup.RunUserFilter{
		Outcome: c.QueryParam("outcome"), GroupID: c.QueryParam("group"),
		Action: c.QueryParam("action"), Search: c.QueryParam("search"), Email: c.QueryParam("email"),
	}
	users, total, err := s.cfg.Cleanup.RunUsers(c.Request().Context(), ck, id, f, p)
	if err != nil {
		return err
	}
	items := make([]runUserBody, len(users))
	for i, u := range users {
		items[i] = toRunUserBody(u)
	}
	return c.JSON(http.StatusOK, newPage(items, p, total))
}
