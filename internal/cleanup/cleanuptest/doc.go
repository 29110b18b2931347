// Package cleanuptest holds in-memory fakes of what the cleanup engine
// needs, so each of its phases is unit-tested without a database or an
// HTTP fake: RunStore (cleanup.RunStore, with the store's lease, commit and
// settle rules), Directory (the organization and the product site behind a
// Connector) and IdentityProvider (cleanup.IdentityProvider).
//
// They follow the interfaces' documented contracts; where a contract is
// silent they behave as internal/store, internal/atlassian and
// internal/entra do (said at each place). The adapters' own tests check
// the real behaviour against SQLite, PostgreSQL and HTTP fakes of the
// Atlassian and Microsoft APIs. Every fake is safe for concurrent use.
package cleanuptest
