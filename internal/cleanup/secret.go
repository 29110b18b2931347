package cleanup

import (
	"encoding/json"
	"log/slog"
)

// Secret is a credential submitted by an admin (the org API key, the Entra
// client secret). It decodes from JSON like a string but never prints, logs
// or marshals its value; call Reveal where the value is really needed
// (encryption before storage, the Authorization header).
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret in %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret in JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
