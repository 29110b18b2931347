package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/internal/cleanup"
)

// Settings API (routes.go):
//
//	GET   /api/settings                  the settings, with the version as ETag
//	PATCH /api/settings                  change the sections the body carries
//	POST  /api/settings/test-connection  test the organization ID and API key
//	POST  /api/settings/test-entra       test the Microsoft Entra ID registration
//
// PATCH takes {"organization": {...}, "products": {...},
// "identityProvider": {...}, "exceptions": {...}, "activityAndExport":
// {...}} (cleanup.SettingsPatch): a section, or a field of one, that the
// body does not carry is not changed, so a page that could not load a
// section never overwrites it. "versions": {"organization": "…"} (the
// sectionVersions of the copy a section was built on) refuses a change of
// a section someone else changed meanwhile with 409, and only of that
// section; If-Match (the ETag of the whole copy) refuses any outdated copy.
//
// The tests take the values as typed ({"orgId", "apiKey"} and {"tenantId",
// "clientId", "clientSecret"}; an empty body or field means the stored
// value), test them once and forget them; a test that ran answers 200
// whatever its verdict ({"ok", "message", "typed", "settings"}).

func (s *Server) getSettings(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	set, err := s.cfg.Cleanup.GetSettings(c.Request().Context(), ck)
	if err != nil {
		return err
	}
	setETag(c, set.Version)
	return c.JSON(http.StatusOK, toSettingsBody(set))
}

// settingsBody is the settings as the API answers them, with the version
// of each section (cleanup.Settings.SectionVersions): the settings page
// saves a section with its version, so two admins who change different
// sections at the same time do not conflict.
type settingsBody struct {
	cleanup.Settings
	SectionVersions map[string]string `json:"sectionVersions"`
}

func toSettingsBody(s cleanup.Settings) settingsBody {
	return settingsBody{Settings: s, SectionVersions: s.SectionVersions()}
}

// credentialTestBody is a connection test's answer with the settings as
// settingsBody.
type credentialTestBody struct {
	cleanup.CredentialTest
	Settings settingsBody `json:"settings"`
}

func (s *Server) patchSettings(c echo.Context) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	version, err := ifMatch(c, "settings")
	if err != nil {
		return err
	}
	var p cleanup.SettingsPatch
	if err := decodeJSON(c, &p); err != nil {
		return err
	}
	set, err := s.cfg.Cleanup.UpdateSettings(c.Request().Context(), ck, p, version)
	if err != nil {
		return err
	}
	setETag(c, set.Version)
	return c.JSON(http.StatusOK, toSettingsBody(set))
}

// decodeOptionalJSON decodes the body into v; an empty body leaves v as
// it is.
func decodeOptionalJSON(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	return decodeJSON(c, v)
}

func (s *Server) testConnection(c echo.Context) error {
	return credentialTest(c, s.cfg.Cleanup.TestConnection)
}

func (s *Server) testEntraConnection(c echo.Context) error {
	return credentialTest(c, s.cfg.Cleanup.TestEntraConnection)
}

// credentialTest answers a connection test of the values the body carries
// (an empty body: the stored ones), with the settings' ETag after it.
func credentialTest[T any](c echo.Context, test func(ctx context.Context, clientKey string, in T) (cleanup.CredentialTest, error)) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	var in T
	if err := decodeOptionalJSON(c, &in); err != nil {
		return err
	}
	res, err := test(c.Request().Context(), ck, in)
	if err != nil {
		return err
	}
	setETag(c, res.Settings.Version)
	return c.JSON(http.StatusOK, credentialTestBody{CredentialTest: res, Settings: toSettingsBody(res.Settings)})
}
