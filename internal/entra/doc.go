// Package entra implements cleanup.IdentityProvider for Microsoft Entra ID
// over Microsoft Graph v1.0 with msgraph-sdk-go. It is the only package of
// the app that imports the Graph SDK, kiota and azidentity: they are heavy to
// build (minutes and several GB on a cold cache), so everything else depends
// on the small cleanup.IdentityProvider interface and is tested with fakes.
//
// # Authentication
//
// The client uses the OAuth 2.0 client-credentials grant of an app
// registration in the customer's tenant (directory id, application id and a
// client secret), through azidentity.ClientSecretCredential. The authority
// host (Config.LoginURL) and the Graph base URL (Config.GraphURL) are
// configuration, so sovereign clouds and the in-process fake in entratest
// work. MSAL refuses non-https authorities, so the fake is a TLS httptest
// server and tests pass its client as Config.HTTPClient; for any login host
// other than login.microsoftonline.com instance discovery (authority
// validation against the public cloud) is disabled. The kiota authentication
// provider only attaches tokens for hosts on its allow-list, which is the
// host of Config.GraphURL.
//
// # Permissions
//
// Removing members needs the application permission GroupMember.ReadWrite.All
// (or Group.ReadWrite.All / Directory.ReadWrite.All); resolving users needs
// User.Read.All (or a broader read permission). TestConnection reads the
// "roles" claim of the access token (without verifying it: the information
// is only used to produce a helpful message) and then makes one Graph call.
//
// # Removing members
//
// RemoveMembers first reads the group and refuses groups whose membership
// cannot be changed through the API (on-premises synced, dynamic,
// mail-enabled security groups and distribution lists), reporting the
// reason for every member. Otherwise it sends
// DELETE /groups/{id}/members/{userId}/$ref (never without /$ref, which
// would delete the user object) in JSON batches of at most 20 requests. The
// SDK does not retry throttled sub-requests inside a batch, so this package
// does: a sub-request answered 429, 503 or 504 is resent after its
// Retry-After (fractional seconds allowed; exponential backoff when absent).
// A client-side token bucket keeps writes under Graph's app+tenant write
// quota (3,000 writes per 150 s by default). 404 on the DELETE means the
// user was not (or no longer) a member, which makes removals idempotent: a
// run that restarts never fails on what it already removed.
package entra
