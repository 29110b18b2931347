package connect

import (
	"errors"
	"net/http"
)

// errorStatus is one row of the package's error table.
type errorStatus struct {
	err    error
	status int
}

// statusTable is the one table from this package's errors to HTTP
// statuses, in the order Reason checks them. Every exported error variable
// of the package has a row: status_test.go reads the package's source and
// fails when one is missing, so a new error cannot fall through to a
// default. It is a function, not a package-level variable, so nothing can
// change it at run time.
func statusTable() []errorStatus {
	return []errorStatus{
		// Authentication failures: no usable token, or one that does not
		// prove who sent it for this request (signature, expiry, claims,
		// qsh, audience, issuer), or names an installation we do not have
		// (never installed, or uninstalled). 401: the caller must
		// authenticate again; nothing else about the tenant is revealed.
		{ErrNoToken, http.StatusUnauthorized},
		{ErrDuplicateToken, http.StatusUnauthorized},
		{ErrMalformedToken, http.StatusUnauthorized},
		// A request we cannot even parse (bad form or query encoding) is
		// the client's mistake, not a failed authentication: 400.
		{ErrMalformedRequest, http.StatusBadRequest},
		{ErrBadAlgorithm, http.StatusUnauthorized},
		{ErrBadSignature, http.StatusUnauthorized},
		{ErrExpired, http.StatusUnauthorized},
		{ErrIssuedInFuture, http.StatusUnauthorized},
		{ErrMissingClaim, http.StatusUnauthorized},
		{ErrUnknownTenant, http.StatusUnauthorized},
		{ErrTenantUninstalled, http.StatusUnauthorized},
		{ErrQSHMismatch, http.StatusUnauthorized},
		{ErrContextTokenOnPage, http.StatusUnauthorized},
		{ErrComputedTokenOnAPI, http.StatusUnauthorized},
		{ErrAudienceMismatch, http.StatusUnauthorized},
		{ErrIssuerMismatch, http.StatusUnauthorized},
		// The install is signed correctly, but the tenant's baseUrl is
		// outside the allowed hosts: we know who asks and refuse to serve
		// that site. That is a refusal (403), not a failed authentication
		// (401, which invites signing in again and would not help).
		{ErrHostNotAllowed, http.StatusForbidden},
		// The install key could not be fetched (key servers unreachable or
		// failing): the signature was never checked, the product shows the
		// failure and the admin can retry, so 503.
		{ErrKeyFetch, http.StatusServiceUnavailable},
		// Every key server denies the kid: no such key exists, so the
		// token is forged. That is a failed authentication: 401.
		{ErrUnknownKey, http.StatusUnauthorized},
		// A lifecycle body over the limit: 413.
		{ErrBodyTooLarge, http.StatusRequestEntityTooLarge},
		// A lifecycle payload that is not the documented JSON: 400.
		{ErrBadPayload, http.StatusBadRequest},
		// Our own failures, never the client's: the product answered a
		// signed outgoing request with a redirect, or the app's descriptor
		// template is invalid. 500.
		{ErrRedirect, http.StatusInternalServerError},
		{ErrInvalidDescriptor, http.StatusInternalServerError},
	}
}

// Errors returns the package's error values, in the order Reason checks
// them. Every error the package returns for a rejection wraps one of them.
func Errors() []error {
	t := statusTable()
	out := make([]error, len(t))
	for i, r := range t {
		out[i] = r.err
	}
	return out
}

// Reason returns the package error value err wraps, or nil when err is not
// a rejection by this package (for example a store failure). Its message
// is safe to send to a client, unlike err's, which may carry details
// (paths, key-server addresses, JSON errors) meant for logs only.
func Reason(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range statusTable() {
		if errors.Is(err, r.err) {
			return r.err
		}
	}
	return nil
}

// HTTPStatus maps a verification or lifecycle error to the status an HTTP
// layer should answer (see statusTable for each error and why): 401 for
// every authentication failure, 403 for a tenant baseUrl outside the
// allowed hosts, 400 for a malformed payload or request, 413 for an
// oversized body, 503 when the install key could not be fetched (the
// product shows the failure and the admin can retry; a kid every key
// server denies is ErrUnknownKey, a forged token: 401), and 500 for our
// own failures and anything that is not this package's (such as a store
// failure). nil maps to 200.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	for _, r := range statusTable() {
		if errors.Is(err, r.err) {
			return r.status
		}
	}
	return http.StatusInternalServerError
}
