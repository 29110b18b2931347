// Package idpexport writes the files a run hands to identity-provider
// admins and auditors: Microsoft Entra ID "bulk remove group members" CSV
// files (one or more per group), the audit exports of a run's affected
// users (CSV and JSON), and a ZIP bundle of the Entra files with upload
// instructions and a Microsoft Graph PowerShell script.
//
// The writers are a streaming format layer: they hold no state between
// calls and keep memory constant however many rows they write. Exporter
// generates a finished run's files with them and owns the export rules:
// which rows go into which Entra file (action idp-export, outcome
// exported), the identifier check and the notes it records on rows
// (CheckMember: manual action for an address the file cannot carry, a flag
// for a B2B guest), the identity-provider group each file is for (the
// settings' mapping, cleanup.IdPSettings.IdPGroup), file names and parts.
// The database stays behind cleanup.ExportStore (internal/store): a row
// cursor and a file sink, no rule. The package imports only the standard
// library and the cleanup domain.
//
// # The Entra template and its history
//
// The portal's template for Group > Members > Bulk operations > Remove
// members has one column whose header is, verbatim,
// "Member object ID or user principal name [memberObjectIdOrUpn] Required".
// Templates from 2020 to 2024 had three lines: "version:v1.0", the header
// and Microsoft's example row "Example: 9832aad8-e4fe-496b-a604-95c6eF01ae75"
// (which the admin had to delete, although in 2020 the parser needed it kept).
// Since late 2025 the documentation says the template "starts with the
// column header, not a version:v1.0 row", "if the template doesn't include a
// version row, don't add one", and shows header-plus-UPNs as the file ready
// for upload. Therefore the default output is exactly:
//
//	UTF-8 BOM, the header, CRLF, then one identifier and CRLF per member
//
// and nothing else: the BOM because every downloaded template has one (and
// Excel needs it), CRLF because RFC 4180 and the Windows tools admins use
// write it, no quoting because a valid identifier never needs any, and no
// extra columns because the portal ignores them. EntraOptions keeps
// per-tenant fallbacks for older or odd tenants: LegacyVersionRow,
// ExampleRow (in case a parser skips the line after the header) and NoBOM.
//
// Identifiers are UPNs (which, as in the Atlassian setup this app requires,
// equal the users' e-mail addresses) or Entra object IDs. ValidateIdentifier
// refuses what the single unquoted column cannot carry (comma, quote,
// semicolon, control characters) and what is not UPN- or GUID-shaped. It
// also refuses identifiers starting with =, +, -, @, tab or CR: the audit
// CSV neutralises such cells with a leading "'", but in the Entra CSV that
// quote would become part of the UPN, so the user is listed as needing
// manual action instead. Nothing is ever dropped silently: EntraWriter
// returns an *IdentifierError and WriteEntraGroup returns the rejects.
// B2B guests (IsGuestUPN, "#EXT#") are for the caller to flag, because a
// guest's Atlassian e-mail is not its UPN.
//
// Entra documents no maximum file size; old documentation speaks of about
// 40,000 members per hour-long job and jobs that do not finish within the
// hour may fail. Files are therefore split after MaxRowsPerFile members
// (default 10,000, Okta's cap) into numbered parts, each a complete file.
//
// # File names
//
// <group>[-<disambiguator>]-<YYYY-MM-DD>[-dry-run]-remove-members[-partN].csv
// (see FileNames). Only tenant-independent facts go into a name. The
// "-partN" suffix appears only when a group needed several files, so part
// names are decided when the group is finished (EntraWriter.Finish) and the
// sink is addressed by part number. Dry-run files carry "-dry-run" so they
// can never be mistaken for a real run's files.
//
// # Audit exports
//
// The audit CSV has a BOM (Excel otherwise shows UTF-8 names as mojibake),
// RFC 4180 quoting with CRLF, formula neutralising, one "lastActive" column
// ("product=RFC3339;..." sorted by product, "never" for no activity) so the
// columns do not depend on the products installed. The audit JSON is an
// object with run metadata and a "users" array written row by row.
//
// # Bundle
//
// WriteBundle writes a deterministic ZIP (entries dated the run date) with
// README.txt (which group each file is for and the exact upload steps) and
// remove-members.ps1 (Microsoft Graph PowerShell, Remove-MgGroupMemberDirectoryObjectByRef,
// -WhatIf support), then the CSV files streamed from the caller's store and
// checked against their recorded SHA-256.
package idpexport
