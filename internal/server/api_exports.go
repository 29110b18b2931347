package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// Exports lists and reads the stored export files of runs. *store.Store
// implements it.
type Exports interface {
	// RunExports lists the complete files of one of the tenant's runs; a
	// run of another tenant, or none, is a cleanup.KindNotFound error.
	RunExports(ctx context.Context, clientKey string, runID int64) (cleanup.RunExports, error)
	// ExportFile returns a complete file by id, of whichever tenant
	// (cleanup.KindNotFound when there is none); the caller checks the
	// tenant.
	ExportFile(ctx context.Context, id int64) (cleanup.ExportFile, error)
	// OpenExportFile streams a stored file's bytes.
	OpenExportFile(ctx context.Context, f cleanup.ExportFile) (io.ReadCloser, error)
	// ExportRun and AuditRows read a run's rows, from which a streamed
	// audit file is produced (idpexport.OpenAudit).
	idpexport.AuditSource
}

// checkExportsConfig validates the export settings of cfg.
func checkExportsConfig(cfg Config) error {
	if cfg.Exports != nil && len(cfg.DownloadKey) < DownloadKeySize {
		return errors.New("server: Exports needs a DownloadKey of 32 bytes (see DeriveDownloadKey)")
	}
	return nil
}

// exportFileJSON is one file in the export listing.
type exportFileJSON struct {
	ID               int64  `json:"id"`
	Kind             string `json:"kind"`
	IdentityProvider string `json:"identityProvider,omitempty"`
	GroupID          string `json:"groupId,omitempty"`
	GroupName        string `json:"groupName,omitempty"`
	IdPGroup         string `json:"idpGroup,omitempty"`
	Rows             int64  `json:"rows"`
	Part             int    `json:"part"`
	Parts            int    `json:"parts"`
	FileName         string `json:"fileName"`
	ContentType      string `json:"contentType"`
	Size             int64  `json:"size"`
	SHA256           string `json:"sha256"`
	// Streamed: the file is produced from the run's rows when downloaded
	// (the audit CSV and JSON); size and sha256 are then 0 and "".
	Streamed    bool   `json:"streamed"`
	DownloadURL string `json:"downloadUrl"`
}

// runExportsJSON is the response of GET /api/runs/:id/exports.
type runExportsJSON struct {
	RunID int64 `json:"runId"`
	// IdentityProvider lists the Entra files (bulk-remove files, or a
	// restore's bulk-add files: see each file's kind); empty when the run
	// had no users whose access came from an identity-provider group.
	IdentityProvider []exportFileJSON `json:"identityProvider"`
	Audit            []exportFileJSON `json:"audit"`
	Bundle           *exportFileJSON  `json:"bundle"`
	DryRun           bool             `json:"dryRun"`
	// Pending is true until the run has finished (the run engine stores
	// the files just before it marks the run finished), and while files
	// are generated again after a closed account's personal data was
	// erased or an updated account's refreshed.
	Pending bool `json:"pending"`
	// LinksExpireAt is when the download URLs stop working; list again
	// for fresh ones.
	LinksExpireAt time.Time `json:"linksExpireAt"`
	// Run is the run the files are of (status and its label, the reason it
	// failed, the counts, the rows needing manual action grouped by
	// reason): the dialog says why there are no files, and accounts for
	// every user the run matched.
	Run *runBody `json:"run,omitempty"`
}

// errNoRun is the answer for a run id that is malformed or not the tenant's.
var errNoRun = &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such run."}

// runExports lists a run's export files with download links minted for the
// requesting admin.
func (s *Server) runExports(c echo.Context) error {
	a, ok := connect.AuthFrom(c.Request().Context())
	if !ok {
		return &authError{err: connect.ErrNoToken}
	}
	runID, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || runID <= 0 {
		return errNoRun
	}
	list, err := s.cfg.Exports.RunExports(c.Request().Context(), a.ClientKey, runID)
	if err != nil {
		return err
	}
	var run *runBody
	if s.cfg.Cleanup != nil {
		r, err := s.cfg.Cleanup.GetRun(c.Request().Context(), a.ClientKey, runID)
		if err != nil {
			return err
		}
		body := toRunBody(r)
		run = &body
	}
	expires := s.now().Add(DownloadLinkTTL).Truncate(time.Second)
	out := runExportsJSON{
		RunID: runID, DryRun: list.DryRun, LinksExpireAt: expires.UTC(),
		IdentityProvider: []exportFileJSON{}, Audit: []exportFileJSON{},
		Pending: !list.Finished, Run: run,
	}
	for _, f := range list.Files {
		if f.ClientKey != a.ClientKey { // defence in depth; the store scopes by tenant
			return errNoRun
		}
		j := exportFileJSON{
			ID: f.ID, Kind: f.Kind, IdentityProvider: f.IdentityProvider, GroupID: f.GroupID, GroupName: f.GroupName,
			IdPGroup: f.IdPGroup, Rows: f.Rows, Part: f.Part, Parts: f.Parts, FileName: f.FileName,
			ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256, Streamed: f.Streamed, DownloadURL: s.downloadURL(a, f.ID, expires),
		}
		switch f.Kind {
		case cleanup.ExportKindEntra, cleanup.ExportKindEntraAdd:
			out.IdentityProvider = append(out.IdentityProvider, j)
		case cleanup.ExportKindAuditCSV, cleanup.ExportKindAuditJSON:
			out.Audit = append(out.Audit, j)
		case cleanup.ExportKindBundle:
			out.Bundle = &j
		}
	}
	return c.JSON(http.StatusOK, out)
}
