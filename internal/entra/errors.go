package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/example/usercleanup/internal/cleanup"
)

// graphErr is the code and message of a Graph error response.
type graphErr struct {
	Status  int
	Code    string
	Message string
}

// odataInfo extracts status, code and message from an SDK error, if it is a
// Graph error response.
func odataInfo(err error) (graphErr, bool) {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		g := graphErr{Status: oe.ResponseStatusCode}
		if m := oe.GetErrorEscaped(); m != nil {
			if m.GetCode() != nil {
				g.Code = *m.GetCode()
			}
			if m.GetMessage() != nil {
				g.Message = *m.GetMessage()
			}
		}
		return g, true
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) {
		return graphErr{Status: ae.ResponseStatusCode, Message: ae.Message}, true
	}
	return graphErr{}, false
}

// graphError translates an error from a Graph call into a *cleanup.Error.
// what names the operation for the admin ("read group g").
func graphError(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if te := tokenError(err); te != nil {
		return te
	}
	g, ok := odataInfo(err)
	if !ok {
		return &cleanup.Error{Kind: cleanup.KindUnavailable,
			Message: "Microsoft Graph could not be reached (" + what + ")", Err: err}
	}
	return statusError(what, g, 0, err)
}

// statusError maps a Graph status (direct or inside a batch) to an error.
func statusError(what string, g graphErr, retryAfter time.Duration, cause error) error {
	detail := g.Code
	if g.Message != "" {
		detail += ": " + g.Message
	}
	if cause == nil {
		cause = fmt.Errorf("graph status %d %s", g.Status, detail)
	}
	e := &cleanup.Error{Err: cause}
	switch {
	case g.Status == http.StatusUnauthorized:
		e.Kind = cleanup.KindUnauthorized
		e.Message = "Microsoft Graph rejected the access token (" + what + "): test the Entra ID connection"
	case g.Status == http.StatusForbidden:
		e.Kind = cleanup.KindForbidden
		e.Message = "Microsoft Graph denied access (" + what + "): the app registration needs the application permissions GroupMember.ReadWrite.All and User.Read.All with admin consent"
	case g.Status == http.StatusNotFound:
		e.Kind = cleanup.KindNotFound
		e.Message = "not found in Microsoft Entra ID (" + what + ")"
	case g.Status == http.StatusTooManyRequests || g.Status >= 500:
		e.Kind = cleanup.KindUnavailable
		e.RetryAfter = retryAfter
		e.Message = fmt.Sprintf("Microsoft Graph is busy or unavailable (%s, HTTP %d): try again later", what, g.Status)
	case g.Status == http.StatusBadRequest:
		e.Kind = cleanup.KindInvalid
		e.Message = "Microsoft Graph refused the request (" + what + "): " + detail
	default:
		e.Kind = cleanup.KindOther
		e.Message = fmt.Sprintf("unexpected answer from Microsoft Graph (%s, HTTP %d)", what, g.Status)
	}
	return e
}

// AADSTS error codes with a specific message (Microsoft Entra authentication
// and authorization error codes reference).
const (
	aadstsTenantNotFound     = 90002
	aadstsTenantInvalid      = 900023
	aadstsTenantInvalidAlt   = 90013
	aadstsAppNotFound        = 700016
	aadstsInvalidSecret      = 7000215
	aadstsExpiredSecret      = 7000222
	aadstsConsentRequired    = 65001
	aadstsAppDisabled        = 7000112
	aadstsAppIdentifierWrong = 700038
)

// tokenError translates a failure to get a token into a *cleanup.Error, or
// returns nil when err is not an authentication failure.
func tokenError(err error) error {
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) {
		return nil
	}
	e := &cleanup.Error{Kind: cleanup.KindUnauthorized, Err: err}
	if af.RawResponse == nil {
		e.Kind = cleanup.KindUnavailable
		e.Message = "could not get a token from Microsoft Entra ID: check the directory (tenant) ID and that the login service is reachable"
		return e
	}
	status := af.RawResponse.StatusCode
	var body struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if b, rerr := runtime.Payload(af.RawResponse); rerr == nil {
		_ = json.Unmarshal(b, &body) // a non-JSON body leaves the codes empty
	}
	code := 0
	if len(body.ErrorCodes) > 0 {
		code = body.ErrorCodes[0]
	}
	switch code {
	case aadstsTenantNotFound, aadstsTenantInvalid, aadstsTenantInvalidAlt:
		e.Field = "tenant_id"
		e.Message = "Microsoft Entra ID does not know this directory (tenant) ID: copy it from the app registration's Overview page"
	case aadstsAppNotFound, aadstsAppIdentifierWrong:
		e.Field = "client_id"
		e.Message = "no application with this application (client) ID exists in the tenant: copy it from the app registration's Overview page"
	case aadstsInvalidSecret:
		e.Field = "client_secret"
		e.Message = "the client secret is wrong: enter the secret's Value (not its Secret ID) from Certificates & secrets"
	case aadstsExpiredSecret:
		e.Field = "client_secret"
		e.Message = "the client secret has expired: create a new one under Certificates & secrets and enter its Value"
	case aadstsConsentRequired:
		e.Kind = cleanup.KindForbidden
		e.Message = "an administrator has not consented to the app's permissions: grant admin consent under API permissions"
	case aadstsAppDisabled:
		e.Kind = cleanup.KindForbidden
		e.Message = "the application is disabled in the tenant"
	default:
		switch {
		case status == http.StatusTooManyRequests || status >= 500:
			e.Kind = cleanup.KindUnavailable
			e.Message = "Microsoft Entra ID could not issue a token right now (HTTP " + strconv.Itoa(status) + "): try again later"
		default:
			e.Message = "Microsoft Entra ID rejected the credentials"
			if code != 0 {
				e.Message += " (AADSTS" + strconv.Itoa(code) + ")"
			} else if body.Error != "" {
				e.Message += " (" + strings.ReplaceAll(body.Error, "\n", " ") + ")"
			}
		}
	}
	return e
}
