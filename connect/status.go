package connect

import (
	"errors"
	"net/http"
)

// reasons lists the package's error values.
func reasons() []error {
	return []error{
		ErrNoToken, ErrDuplicateToken, ErrMalformedToken, ErrMalformedRequest, ErrBadAlgorithm,
		ErrBadSignature, ErrExpired, ErrIssuedInFuture, ErrMissingClaim, ErrUnknownTenant,
		ErrTenantUninstalled, ErrQSHMismatch, ErrContextTokenOnPage, ErrComputedTokenOnAPI,
		ErrAudienceMismatch, ErrIssuerMismatch, ErrHostNotAllowed, ErrKeyFetch, ErrUnknownKey, ErrBodyTooLarge,
		ErrBadPayload, ErrRedirect, ErrInvalidDescriptor,
	}
}

// Reason returns the package error value err wraps, or nil when err is not
// a rejection by this package (for example a store failure). Its message
// is safe to send to a client, unlike err's, which may carry details
// (paths, key-server addresses, JSON errors) meant for logs only.
func Reason(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range reasons() {
		if errors.Is(err, r) {
			return r
		}
	}
	return nil
}

// HTTPStatus maps a verification or lifecycle error to the status an HTTP
// layer should answer: 401 for every authentication failure, 403 for a
// tenant baseUrl outside the allow-list, 400 for a malformed payload or
// request, 413 for an oversized body, 503 when the install key could not
// be fetched (the product shows the failure and the admin can retry; a kid
// every key server denies is ErrUnknownKey, a forged token: 401), and
// 500 for anything else (such as a store failure). nil maps to 200.
func HTTPStatus(err error) int {
	switch r := Reason(err); {
	case err == nil:
		return http.StatusOK
	case r == nil:
		return http.StatusInternalServerError
	case r == ErrHostNotAllowed:
		return http.StatusForbidden
	case r == ErrBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case r == ErrBadPayload, r == ErrMalformedRequest:
		return http.StatusBadRequest
	case r == ErrKeyFetch:
		return http.StatusServiceUnavailable
	case r == ErrRedirect, r == ErrInvalidDescriptor:
		return http.StatusInternalServerError
	}
	return http.StatusUnauthorized
}
