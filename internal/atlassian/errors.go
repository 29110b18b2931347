package atlassian

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/example/usercleanup/internal/cleanup"
)

// maxMessage caps the product message carried into an error.
const maxMessage = 300

// apiError is the union of the error bodies the Atlassian APIs send:
//
//	Jira:            {"errorMessages": ["..."], "errors": {"field": "..."}}
//	Confluence v1:   {"statusCode": 403, "message": "...", "data": {...}}
//	Organizations:   {"errors": [{"status": "404", "code": "...", "title": "...", "detail": "..."}]}
//	User management: {"key": "forbidden.action", "message": "...", "reason": {"key": "externalDirectory.google"}}
type apiError struct {
	ErrorMessages []string        `json:"errorMessages"`
	Errors        json.RawMessage `json:"errors"` // object (Jira) or array (Organizations)
	Message       string          `json:"message"`
	Key           string          `json:"key"`
	Reason        struct {
		Key string `json:"key"`
	} `json:"reason"`
}

type orgErrorItem struct {
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// externallyManagedReason reports a User management error whose reason says
// the account belongs to an external directory (SCIM, Google, ...).
func (a apiError) externallyManagedReason() bool {
	return strings.HasPrefix(a.Reason.Key, "externalDirectory")
}

// message returns the product's human-readable explanation, sanitised.
func (a apiError) message() string {
	var parts []string
	parts = append(parts, a.ErrorMessages...)
	if len(a.Errors) > 0 {
		switch a.Errors[0] {
		case '{':
			var m map[string]string
			if json.Unmarshal(a.Errors, &m) == nil {
				for k, v := range m {
					parts = append(parts, k+": "+v)
				}
			}
		case '[':
			var items []orgErrorItem
			if json.Unmarshal(a.Errors, &items) == nil {
				for _, it := range items {
					switch {
					case it.Detail != "" && it.Title != "":
						parts = append(parts, it.Title+": "+it.Detail)
					case it.Detail != "":
						parts = append(parts, it.Detail)
					case it.Title != "":
						parts = append(parts, it.Title)
					}
				}
			}
		}
	}
	if a.Message != "" {
		parts = append(parts, a.Message)
	}
	if len(parts) == 0 && a.Key != "" {
		parts = append(parts, a.Key)
	}
	return sanitize(strings.Join(parts, "; "))
}

// sanitize keeps a remote message printable and short.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len([]rune(s)) > maxMessage {
		s = string([]rune(s)[:maxMessage]) + "…"
	}
	return s
}

// responseError maps a failed response to a *cleanup.Error. The message
// names the service, the operation and the status and carries the
// product's own explanation; it never contains credentials. For a
// membership removal a 404 means the membership is already gone and
// responseError returns nil.
func (cl *caller) responseError(c call, res response, hdr http.Header) error {
	var body apiError
	_ = json.Unmarshal(res.body, &body) // an unparsable body just has no message
	detail := body.message()
	msg := fmt.Sprintf("%s: %s failed with HTTP %d", cl.service, c.op, res.status)
	if detail != "" {
		msg += ": " + detail
	}
	e := &cleanup.Error{Message: msg, Service: cleanup.ServiceProduct}
	if cl.service == orgService {
		e.Service = cleanup.ServiceOrganization
	}
	switch {
	case c.removal && res.status == http.StatusNotFound:
		return nil
	case c.removal && res.status == http.StatusConflict,
		c.removal && c.synced && (res.status == http.StatusBadRequest || res.status == http.StatusForbidden),
		c.addition && c.synced && (res.status == http.StatusBadRequest || res.status == http.StatusForbidden),
		res.status == http.StatusForbidden && body.externallyManagedReason():
		e.Kind = cleanup.KindExternallyManaged
	case res.status == http.StatusUnauthorized:
		e.Kind = cleanup.KindUnauthorized
	case res.status == http.StatusForbidden:
		e.Kind = cleanup.KindForbidden
	case res.status == http.StatusNotFound:
		e.Kind = cleanup.KindNotFound
	case res.status == http.StatusConflict:
		e.Kind = cleanup.KindConflict
	case res.status == http.StatusBadRequest || res.status == http.StatusUnprocessableEntity:
		e.Kind = cleanup.KindInvalid
	case res.status == http.StatusTooManyRequests || res.status >= 500:
		e.Kind = cleanup.KindUnavailable
		if d, ok := retryWait(hdr, cl.o.Now()); ok {
			e.RetryAfter = d
		}
	default:
		e.Kind = cleanup.KindOther
	}
	return e
}
