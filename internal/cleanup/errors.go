package cleanup

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for callers that must react to it: the HTTP
// layer maps kinds to status codes, the engine decides whether to retry.
type Kind int

// Error kinds.
const (
	KindOther             Kind = iota // unclassified: a bug or an unexpected failure
	KindInvalid                       // bad input; Field says which
	KindNotFound                      // no such thing (for this tenant)
	KindConflict                      // concurrent change (If-Match), duplicate
	KindForbidden                     // the caller or our credentials lack a permission
	KindUnauthorized                  // credentials missing or wrong (e.g. org API key)
	KindUnavailable                   // remote down or rate limited; RetryAfter may say when
	KindExternallyManaged             // the group or user is managed by an identity provider
	KindNotConfigured                 // a setting the operation needs is missing
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindForbidden:
		return "forbidden"
	case KindUnauthorized:
		return "unauthorized"
	case KindUnavailable:
		return "unavailable"
	case KindExternallyManaged:
		return "externally managed"
	case KindNotConfigured:
		return "not configured"
	}
	return "error"
}

// Remote services an error can come from (Error.Service).
const (
	ServiceOrganization = "organization" // the Organizations and User management APIs (org API key)
	ServiceProduct      = "product"      // the Jira or Confluence REST API (the app's installation)
)

// Error is the domain error. Message is safe to show to an admin; Err is the
// wrapped cause (logged, never shown).
type Error struct {
	Kind       Kind
	Message    string        // human-readable, no secrets
	Field      string        // for KindInvalid: the JSON field at fault
	RetryAfter time.Duration // for KindUnavailable: when to try again, if known
	// Service is the remote service that answered with the error (Service*
	// constants), "" when it did not come from a remote's answer.
	Service string
	Err     error
}

func (e *Error) Error() string {
	var s string
	switch {
	case e.Field != "" && e.Message != "":
		s = e.Field + ": " + e.Message
	case e.Message != "":
		s = e.Message
	default:
		s = e.Kind.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a KindInvalid error for one field.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or KindOther.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// ServiceOf returns the Service of the first *Error in err's chain.
func ServiceOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Service
	}
	return ""
}

// RetryAfterOf returns the RetryAfter of the first *Error in err's chain.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// FieldErrors collects validation errors for several fields, so a form can
// show each next to its input. It is a KindInvalid error.
type FieldErrors map[string]string

func (fe FieldErrors) Error() string {
	return fmt.Sprintf("%d invalid field(s)", len(fe))
}

// Add records a message for a field (the first message per field wins).
func (fe FieldErrors) Add(field, format string, args ...any) {
	if _, ok := fe[field]; !ok {
		fe[field] = fmt.Sprintf(format, args...)
	}
}

// Err returns nil when empty, else an *Error of KindInvalid wrapping fe.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: "invalid input", Err: fe}
}
