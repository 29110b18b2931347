package connect

import (
	"encoding/json"
	"errors"
	"strings"
)

// sharedSecretField is the install payload field that carries the shared
// secret.
const sharedSecretField = "sharedSecret"

// ScrubInstallPayload returns the install payload without its shared
// secret, for keeping: the secret is stored encrypted on its own and must
// never sit in clear next to it. Every top-level member whose name matches
// "sharedSecret" without regard to case is dropped (encoding/json matches
// names that way, so a "SharedSecret" member would have been read as the
// secret too); everything else is kept, re-encoded with its members in
// name order. A body that is not a JSON object is an error: it cannot be
// shown to be free of the secret.
func ScrubInstallPayload(body []byte) ([]byte, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, errors.New("connect: install payload is not a JSON object")
	}
	if members == nil {
		return nil, errors.New("connect: install payload is not a JSON object")
	}
	for name := range members {
		if strings.EqualFold(name, sharedSecretField) {
			delete(members, name)
		}
	}
	return json.Marshal(members)
}
