// Package connect is a small, security-hardened Atlassian Connect framework
// for Jira Cloud and Confluence Cloud apps. It knows nothing about the app
// built on it: it renders the app descriptor, verifies lifecycle callbacks
// and every JWT the product sends, signs the app's own calls to the product,
// and defines the tenant model the rest of the app keys its data by.
//
// # Actors and credentials
//
// A Connect app is a web service the product (Jira or Confluence) talks to.
// One backend may serve several apps — here one per product, each under its
// own baseUrl path ("https://host/jira", "https://host/confluence") and with
// its own key. Each installation of an app in a site is a tenant, identified
// by its opaque clientKey and holding a sharedSecret that the product sends
// once, in the "installed" callback.
//
// There are three kinds of tokens, all JWTs:
//
//   - Signed install (RS256). The installed and uninstalled callbacks are
//     signed by Atlassian's private key; the public key is fetched by the
//     header "kid" from Atlassian's key CDN (InstallKeyFetcher). Nothing
//     the tenant knows is needed, so even the first install is
//     authenticated and a stolen sharedSecret cannot be used to re-install.
//   - Product tokens (HS256 with the tenant's sharedSecret, iss = clientKey,
//     sub = the acting user's accountId). Page and dialog loads carry them in
//     ?jwt=, webhooks and enabled/disabled callbacks in "Authorization: JWT".
//     Their qsh claim is the hash of the very request (see CanonicalRequest),
//     so a token cannot be replayed on another URL.
//   - Context tokens (HS256, qsh = "context-qsh") that the app's own browser
//     code obtains with AP.context.getToken() and sends to the app's JSON
//     APIs. They are not bound to a URL.
//
// The app signs its calls to the product with HS256 and the sharedSecret,
// iss = the app key, and a qsh relative to the tenant's baseUrl
// (SignRequest, Transport, NewClient). Calls to Atlassian's platform APIs
// for apps that are not on the site (the personal data reporting API on
// api.atlassian.com) carry the same token with the qsh of their own path
// (SignAppRequest).
//
// # Request flow
//
//	GET  {baseUrl}/atlassian-connect.json  RenderDescriptor (no auth)
//	POST {baseUrl}/installed               Lifecycle.Installed   → 204
//	POST {baseUrl}/uninstalled             Lifecycle.Uninstalled → 204
//	POST {baseUrl}/enabled, /disabled      Lifecycle.Enabled / Disabled
//	GET  {baseUrl}/admin/...  (?jwt=)      Verifier.Verify(r, app, QSHComputed)
//	POST {baseUrl}/webhooks/... (header)   Verifier.Verify(r, app, QSHComputed)
//	*    {baseUrl}/api/...    (header)     Verifier.Verify(r, app, QSHContext)
//	app → product REST                     NewClient(tenant, app.Key, ...)
//
// The HTTP layer calls these and maps every error with HTTPStatus, the
// package's one error→status table (401 for authentication failures, 403
// for a disallowed tenant host, 413 for an oversized body, 503 when the
// install key is unavailable so the admin can retry; a kid that every key
// server denies is a forged token, 401; Errors lists every error it
// covers) and answers Reason(err)'s message, which never contains tokens,
// secrets, keys or internal details; the full error goes to the log. On
// success it stores
// the *Auth on the request context with WithAuth; handlers read it with
// AuthFrom and must still check product permissions (admin pages are
// reachable by any user who knows the URL).
//
// # Security model
//
// Verification is deliberately strict and ordered so that nothing is
// learned from a forged token:
//
//  1. Exactly one token source: a token in both the query and the header,
//     two "jwt" parameters or two JWT headers is ErrDuplicateToken, so two
//     layers can never verify different tokens. The query is split on "&"
//     only (Java servlet semantics: "a=1;jwt=x" is not a token). Tokens in a
//     request body are never read.
//  2. The token is decoded once and its algorithm pinned before any key is
//     chosen: HS256 for product tokens, RS256 for signed installs. "none",
//     other HMAC sizes and the HS256-with-the-RSA-public-key confusion are
//     ErrBadAlgorithm.
//  3. The tenant is looked up by iss and the HMAC checked in constant time
//     (the Verifier keeps keyed HMAC states per shared secret, as secret
//     as the secret itself and made only for tenants the store returned);
//     only an authenticated token learns whether the tenant belongs to
//     another app. An uninstalled tenant's shared secret is forgotten
//     (TenantStore.MarkUninstalled), so none of its tokens verifies.
//  4. exp and iat are required; the leeway is DefaultLeeway (at most
//     MaxLeeway); iat in the future, nbf in the future and exp before iat
//     are rejected.
//  5. The qsh policy is per endpoint, never "any": QSHComputed requires the
//     request's own hash and rejects "context-qsh" (the CVE-2021-26073
//     class: context tokens accepted on lifecycle or page endpoints);
//     QSHContext requires "context-qsh" and rejects computed ones. The
//     computed qsh is compared in constant time.
//
// Signed installs first check everything that costs nothing: RS256, a kid
// of a safe charset (so it cannot change the key-server URL), iss, exp/iat,
// aud (our baseUrl, one trailing slash tolerated), a computed qsh, and that
// the body's clientKey equals iss. Only then is the key fetched, with a
// timeout, from an ordered, configurable list of key servers with fallback;
// found keys are cached by kid, kids every key server denies (404, 403,
// 410: ErrUnknownKey) are remembered for a few minutes, and the lookups in
// flight are bounded, so forged tokens cannot make the app a request
// amplifier. The tenant's baseUrl must be https on an allow-listed host
// (DefaultAllowedHosts) so an install cannot point the app's signed calls,
// and its sharedSecret, at another server. Bodies are size-limited and kept
// with unknown fields, but without the sharedSecret (ScrubInstallPayload).
//
// A re-install with a valid signature replaces the sharedSecret; an
// uninstalled tenant is kept (soft delete) and revived by a later signed
// install. enabled/disabled may race with uninstalled (the product sends
// them milliseconds apart): TenantStore.SetEnabled must refuse an
// uninstalled tenant atomically, so uninstalled always wins.
//
// The signed-install JWT does not cover the request body. Within the
// token's short lifetime, whoever holds a captured token could replay it
// with another body for the same clientKey; TLS and the short exp are the
// protection, as in every Connect framework.
//
// The app's own calls never follow redirects (a signed token would be sent
// to another host or re-used for another path), refuse hosts other than the
// tenant's, and drop bodies on GET and HEAD (the product rejects them).
//
// # Connect on Forge
//
// Connect is being retired by Atlassian (end of support December 2026).
// Sites now install such apps through Forge ("Connect on Forge"): the same
// backend, declared by a Forge manifest generated from the descriptor
// (RenderForgeManifest). Forge calls the backend with a Forge Invocation
// Token (Authorization: Bearer <FIT>), which FITVerifier checks: RS256 with
// keys from Atlassian's JWKS (JWKSFetcher caches them and refetches, rate
// limited, on an unknown kid), iss "forge/invocation-token", aud = the app's
// ARI, exp/iat/nbf with the same leeway rules as Connect JWTs. A verified
// FIT is mapped to the Connect tenant through the InstallationStore: by the
// installation id the signed install carried, or by the cloud id of exactly
// one installed tenant of the same app; nothing unverified ever links the
// two. Rejections wrap the same error values as Connect JWTs. After Forge
// registration the product no longer sends enabled/disabled, and installed
// is not sent on automatic updates, so nothing here depends on them.
package connect
