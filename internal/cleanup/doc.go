// Package cleanup is the domain of User Cleanup: what a tenant configures,
// what a cleanup is, when it runs and whom it affects. It imports the
// standard library only; the adapters (store, Atlassian and Microsoft
// clients, jobs, HTTP) depend on it, never the other way round.
//
// # The model in one page
//
// A tenant (one Connect installation) has one Settings value:
//
//   - the organization ID and API key for the Organizations API, which every
//     cleanup needs to read activity. Credentials are write-only: admins send
//     them in a SettingsPatch (type Secret, which never prints or marshals),
//     SettingsInput.Apply tells the store what to encrypt, and Settings only
//     says whether a key is set and when it was last verified. A patch
//     carries whole sections or some of their fields and changes nothing
//     else, on condition of the settings' version (settings_patch.go);
//     credentials can be tested as typed before they are saved
//     (service_credentials.go);
//   - company e-mail domains (for "external users only") and exceptions
//     (groups and accounts a cleanup never touches; admins always are);
//   - activity bands (active < 15 days, low usage < 30, inactive from 30);
//   - the identity provider (IdPSettings): Microsoft Entra ID or none, the
//     "Is user provisioning enabled?" toggle per product, per-group synced
//     overrides, the Entra group each synced Atlassian group maps to, and the
//     Microsoft Graph connection for direct removal;
//   - options of the Entra bulk-remove export files (ExportOptions).
//
// ClassifyGroups combines the product's licensing groups, the
// organization's groups and the settings into GroupInfo: per group, the
// products it grants, whether an identity provider owns its membership (a
// per-group override; else what the Organizations API reports, synced or
// managed in Atlassian; else, for groups whose origin is not reported, the
// product's provisioning toggle), the decision in words, and therefore
// where removal happens: in Atlassian, in the identity provider, or
// nowhere automatic when the group is synced but no identity provider is
// configured or its mapping finds no group. loadCatalog (catalog.go) also
// finds Confluence's licensing groups through the Organizations API and
// cross-checks Jira's. Labels (labels.go) holds the words for every value
// the API carries.
//
// A Definition is a cleanup as the creation form describes it: a name; the
// selection (licensing groups and other groups, exceptions override, days
// inactive, never-active users with a minimum account age, e-mail domains,
// external only, skipping app and customer accounts); the action
// (remove product access, deactivate, review, or the Microsoft Entra ID
// action, with export or direct mode); and a Schedule, unless it is a
// manual one-off. Definition.Validate returns FieldErrors keyed by JSON
// field name, so forms can show each message next to its input.
//
// Schedules are wall-clock times in an IANA time zone: daily, weekly on
// chosen days, monthly on a day (clamped to the month's end) or a 5-field
// cron expression (ParseCron, Vixie semantics). NextRun computes the next
// time, correct across daylight saving changes; DueRuns decides whether a
// schedule must run now and collapses times missed while the app was down
// into one run.
//
// The Evaluator turns one page of OrgUser at a time into AffectedUser rows
// (the plan of a run: action, outcome pending/review/manual/skipped and a
// reason such as "inactive in Jira Software for 412 days (threshold 90)")
// and Counts. It is pure and deterministic, so a run can evaluate a
// 100,000-user organization page by page and a resumed run gets the same
// plan. Rows for IdP-synced groups are never removed in Atlassian: they are
// routed to the identity provider (ActionIdPExport or ActionIdPRemove) or,
// without one, marked for manual action with the reason.
//
// Direct removal in Microsoft Entra ID (Definition.EntraMode direct) goes
// through the IdentityProvider interface: per group, find the Entra group
// (mapping or same name; unchangeable groups make the rows manual with the
// reason), resolve the users by e-mail (guests to their object ids),
// remove them in batches and record each outcome. A row the identity
// provider refused goes to the bulk-remove file instead (ActionIdPExport),
// so the export still covers everything not removed. After a crash, rows
// marked attempted are checked against one member listing of the group
// before anything is sent again. When a run finishes, a follow-up
// (FollowUp, Service.CheckFollowUp) is scheduled after the identity
// provider's next provisioning cycle to report which removed or exported
// users still have access.
//
// The Engine executes a run in resumable, committed steps; its files
// follow the run's life: run.go (runs, rows and their counts),
// runstore.go (the RunStore, Connector and Exporter it needs), engine.go
// (the lease and the step), engine_evaluate.go, engine_apply.go,
// engine_idp.go (direct removal) and engine_export.go. Every output order
// is fixed (rows in id order, groups in order of first appearance), so a
// run's outcomes are the same on every attempt. The cleanuptest package
// holds in-memory fakes of the RunStore, the directories and the
// identity provider for unit tests.
//
// Export files: ExportStore (exportfiles.go) is what generating them needs
// of the store; internal/idpexport owns the rules.
//
// Errors are *Error values with a Kind (errors.go) that the HTTP layer maps
// to status codes; validation errors are FieldErrors.
//
// Time zones: NextRun loads zones with time.LoadLocation, which needs the
// system's zoneinfo or the embedded database; cmd/usercleanup should import
// _ "time/tzdata" so the binary works on machines without zoneinfo.
package cleanup
