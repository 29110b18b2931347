package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"

	"github.com/example/usercleanup/internal/cleanup"
)

// Application permissions (app roles) that satisfy each need, least
// privileged first.
var (
	writeRoles = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	readRoles  = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)

// TestConnection gets a token with the client credentials, checks that it
// carries the application permissions the app needs and makes one cheap
// Graph call. The returned *cleanup.Error's Message says what is wrong.
func (c *Client) TestConnection(ctx context.Context) error {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("get token: %w", ctx.Err())
		}
		if te := tokenError(err); te != nil {
			c.log.WarnContext(ctx, "entra token request failed", slog.Any("error", err))
			return te
		}
		return &cleanup.Error{Kind: cleanup.KindUnavailable,
			Message: "could not get a token from Microsoft Entra ID: check the directory (tenant) ID and that the login service is reachable", Err: err}
	}
	roles, err := tokenRoles(tok.Token)
	if err != nil {
		return &cleanup.Error{Kind: cleanup.KindOther, Message: "Microsoft Entra ID returned an access token in an unexpected format", Err: err}
	}
	if err := checkRoles(roles); err != nil {
		return err
	}
	top := int32(1)
	_, err = c.graph.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Top: &top, Select: []string{"id"}},
	})
	if err != nil {
		return graphError("list groups", err)
	}
	return nil
}

// checkRoles reports the missing application permissions.
func checkRoles(roles []string) error {
	var missing []string
	if !slices.ContainsFunc(writeRoles, func(r string) bool { return slices.Contains(roles, r) }) {
		missing = append(missing, writeRoles[0])
	}
	if !slices.ContainsFunc(readRoles, func(r string) bool { return slices.Contains(roles, r) }) {
		missing = append(missing, readRoles[0])
	}
	switch {
	case len(missing) == 0:
		return nil
	case len(roles) == 0:
		return &cleanup.Error{Kind: cleanup.KindForbidden, Message: "the app has no application permissions with admin consent: add " +
			strings.Join(missing, " and ") + " (type Application) under API permissions and grant admin consent"}
	default:
		return &cleanup.Error{Kind: cleanup.KindForbidden, Message: "the app lacks the application permission " +
			strings.Join(missing, " and ") + ": add it under API permissions (type Application) and grant admin consent"}
	}
}

// tokenRoles reads the "roles" claim of a JWT access token without verifying
// it (the result only drives a diagnostic message).
func tokenRoles(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("access token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("decode token claims: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		return nil, fmt.Errorf("parse token claims: %w", err)
	}
	return claims.Roles, nil
}
