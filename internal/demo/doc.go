// Package demo is the local demo's outside world and the page that plays
// the product: a fake Atlassian cloud (internal/atlassian/atlassiantest)
// with a seeded organization, a fake Microsoft Graph
// (internal/entra/entratest) holding its synced groups, an install-keys
// server (connect/connecttest) that signs the installs, and HostPage, which
// frames the app's pages as Jira and Confluence do and mints their tokens.
//
// Only the `usercleanup demo` command and tests use it. It is the one
// production package allowed to import the *test fakes (architecture_test.go
// at the repository root says so), which keeps them, and the
// token minting HostPage needs, out of internal/server and the serve path.
package demo
