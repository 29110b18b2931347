package connect

import "errors"

// Errors returned by verification. Every rejection wraps exactly one of
// these, so callers map them to HTTP statuses with errors.Is. Their messages
// are safe to show to a client: they never contain tokens, secrets or keys.
var (
	ErrNoToken            = errors.New("connect: no JWT in request")
	ErrDuplicateToken     = errors.New("connect: JWT given in more than one place")
	ErrMalformedToken     = errors.New("connect: malformed JWT")
	ErrMalformedRequest   = errors.New("connect: malformed request")
	ErrBadAlgorithm       = errors.New("connect: JWT algorithm not allowed")
	ErrBadSignature       = errors.New("connect: JWT signature invalid")
	ErrExpired            = errors.New("connect: JWT expired")
	ErrIssuedInFuture     = errors.New("connect: JWT issued in the future")
	ErrMissingClaim       = errors.New("connect: JWT claim missing")
	ErrUnknownTenant      = errors.New("connect: unknown tenant")
	ErrTenantUninstalled  = errors.New("connect: tenant uninstalled")
	ErrQSHMismatch        = errors.New("connect: qsh does not match request")
	ErrContextTokenOnPage = errors.New("connect: context token not accepted here")
	ErrComputedTokenOnAPI = errors.New("connect: only context tokens accepted here")
	ErrAudienceMismatch   = errors.New("connect: JWT audience mismatch")
	ErrIssuerMismatch     = errors.New("connect: JWT issuer does not match clientKey")
	ErrHostNotAllowed     = errors.New("connect: tenant baseUrl host not allowed")
	ErrKeyFetch           = errors.New("connect: install key unavailable")
	ErrUnknownKey         = errors.New("connect: install key unknown to every key server")
	ErrBodyTooLarge       = errors.New("connect: request body too large")
	ErrBadPayload         = errors.New("connect: malformed lifecycle payload")
)
