package cleanup

import "strings"

// runFailure is why a run failed, in words an admin can act on: what is
// wrong and what to do, then the technical detail in brackets (the
// remote's own answer, safe to show). A run fails only for what retrying
// cannot fix: rejected or missing credentials, a missing permission, an
// unknown organization, a cleanup that settings made invalid.
func runFailure(err error) string {
	detail := safeMessage(err)
	advice := failureAdvice(KindOf(err), ServiceOf(err))
	switch {
	case advice == "":
		if detail == "internal error" {
			return "The run failed for an unexpected reason; the app's log has the details. Run the cleanup again, and contact support if it keeps failing."
		}
		return sentence(detail)
	case detail == "internal error" || detail == "":
		return advice
	}
	return advice + " (" + strings.TrimSuffix(detail, ".") + ")"
}

// failureAdvice says what to do about a failure of the kind from the
// service, "" when there is no advice beyond the error's own message.
func failureAdvice(kind Kind, service string) string {
	switch {
	case service == ServiceOrganization && kind == KindUnauthorized:
		return "The organization API key was rejected: it may be mistyped, expired or revoked. Enter a valid key in Settings → Organization, test it, and run the cleanup again."
	case service == ServiceOrganization && kind == KindForbidden:
		return "The organization API key lacks a permission the cleanup needs. Create an API key without scopes as an organization admin, save it in Settings → Organization, and run the cleanup again."
	case service == ServiceOrganization && kind == KindNotFound:
		return "The Organizations API does not know the organization ID in Settings, or the API key cannot see it. Check the organization ID in Settings → Organization, test the connection, and run the cleanup again."
	case service == ServiceProduct && (kind == KindUnauthorized || kind == KindForbidden):
		return "The product refused the app's request: the app may have lost its permissions on this site. Reinstall or update the app from the site's app management, then run the cleanup again."
	case kind == KindNotConfigured:
		return "A setting the cleanup needs is missing. Complete Settings, then run the cleanup again."
	case kind == KindInvalid:
		return "The cleanup no longer fits the settings or the site's groups. Edit the cleanup, save it, and run it again."
	}
	return ""
}

// sentence capitalises the first letter and ends the text with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
