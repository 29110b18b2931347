package cleanup

import (
	"maps"
	"sync"
)

// Labels are the words the pages show for the values the API carries:
// run statuses, phases and triggers, actions, outcomes, where a group's
// synced verdict and its removal come from, and so on. This is the one
// place they are written: the API serves the table (GET /api/labels) and
// adds the label next to a value where it answers one (a run's status, a
// row's action and outcome), and the pages' web/static/js/labels.js looks
// every value up here. A value without a label is a defect
// (TestEveryValueHasALabel parses this package's constants).
func Labels() map[string]map[string]string {
	out := make(map[string]map[string]string, len(labelTable()))
	for k, v := range labelTable() {
		out[k] = maps.Clone(v)
	}
	return out
}

// labelTable builds the table once; it is never changed (Labels hands
// out copies).
var labelTable = sync.OnceValue(func() map[string]map[string]string {
	return map[string]map[string]string{
		"runStatus": {
			RunQueued:          "Queued",
			RunRunning:         "Running",
			RunSucceeded:       "Succeeded",
			RunPartiallyFailed: "Partially failed",
			RunFailed:          "Failed",
		},
		"phase": {
			PhaseEvaluate:    "Finding inactive users",
			PhaseApply:       "Applying the action",
			PhaseWarnings:    "Closing the warnings",
			PhaseNotify:      "Sending the warning e-mails",
			PhaseExport:      "Writing the export files",
			PhaseRestorePlan: "Checking who can be restored",
			PhaseDone:        "Done",
		},
		"trigger": {
			TriggerManual:   "Started by an admin",
			TriggerSchedule: "Scheduled",
			TriggerRestore:  "Restore access of an earlier run",
		},
		"action": {
			ActionRemoveProductAccess: "Remove product access",
			ActionDeactivate:          "Deactivate users (managed users only)",
			ActionReview:              "Add to list for review",
			ActionEntra:               "Microsoft Entra ID action",
			ActionIdPExport:           "Microsoft Entra ID bulk-remove file",
			ActionIdPRemove:           "Remove in Microsoft Entra ID",
			ActionWarn:                "Warning e-mail",
			ActionRestoreGroup:        "Re-add to the group",
			ActionReactivate:          "Reactivate the account",
			ActionIdPAdd:              "Re-add in Microsoft Entra ID",
			ActionIdPAddExport:        "Microsoft Entra ID bulk-add file",
		},
		"outcome": {
			OutcomePending:     "Pending",
			OutcomeDone:        "Done (removed, deactivated or re-added)",
			OutcomeExported:    "Exported for Entra ID",
			OutcomeReview:      "For review",
			OutcomeSkipped:     "Skipped",
			OutcomeManual:      "Needs manual action",
			OutcomeFailed:      "Failed",
			OutcomeWarned:      "Warned",
			OutcomeGrace:       "Warned, waiting for the removal date",
			OutcomeSpared:      "Spared",
			OutcomeHasAccess:   "Already has access",
			OutcomeNotRestored: "Not restored",
		},
		// doneAction words the outcome "done" of a row by its action: what
		// was done ("Removed", not "Done").
		"doneAction": {
			ActionRemoveProductAccess: "Removed",
			ActionDeactivate:          "Deactivated",
			ActionIdPRemove:           "Removed in Microsoft Entra ID",
			ActionRestoreGroup:        "Re-added",
			ActionReactivate:          "Reactivated",
			ActionIdPAdd:              "Re-added in Microsoft Entra ID",
		},
		// warningCount words a run's warning counters (WarningCounts'
		// JSON names): "12 warned · 3 spared · 9 removed".
		"warningCount": {
			"warned":           "warned",
			"wouldBeWarned":    "would be warned",
			"grace":            "waiting for their removal date",
			"spared":           "spared (active again)",
			"removed":          "removed on the removal date",
			"removalFailed":    "removal failed or needs manual action",
			"emailFailed":      "e-mails failed",
			"cancelled":        "warnings cancelled (e-mail not sent)",
			"emailUnconfirmed": "e-mails unconfirmed",
			"emailPending":     "e-mails to send",
			"noAddress":        "without an e-mail address",
			"openWarnings":     "warned, removal on",
		},
		"warningState": {
			WarningWarned:    "Warned",
			WarningSpared:    "Spared",
			WarningRemoved:   "Removed on the removal date",
			WarningFailed:    "The removal failed or needs manual action",
			WarningCancelled: "Cancelled: nobody is removed for it",
		},
		"emailStatus": {
			EmailQueued:      "Queued",
			EmailSending:     "Sending",
			EmailSent:        "Sent",
			EmailFailed:      "Failed",
			EmailUnconfirmed: "Unconfirmed",
			EmailNoAddress:   "No address",
		},
		"syncSource": {
			SyncSourceAdmin:        "set by an admin for this group",
			SyncSourceReported:     "reported by Atlassian",
			SyncSourceProvisioning: "provisioning enabled for this app",
			SyncSourceNone:         "not reported, provisioning not enabled",
		},
		"origin": {
			OriginSynced:     "Synced from an identity provider",
			OriginAtlassian:  "Managed in Atlassian",
			OriginUnreported: "Not reported",
		},
		"removal": {
			RemovalAtlassian:       "Removed in Atlassian",
			RemovalIdP:             "Removed in the identity provider",
			RemovalIdPUnconfigured: "Needs manual action: no identity provider configured",
			RemovalIdPUnmapped:     "Needs manual action: no matching identity-provider group",
			RemovalRemoved:         "Removed",
			RemovalNotMember:       "Already not a member",
			RemovalFailed:          "Removal failed",
		},
		"groupsFrom": {
			GroupsFromProduct:      "listed by the product",
			GroupsFromOrganization: "found through the Organizations API",
			GroupsFromSettings:     "chosen in Settings",
			GroupsFromNone:         "none found",
		},
		"mappingStatus": {
			MappingFound:        "Found",
			MappingNotFound:     "Not found",
			MappingAmbiguous:    "Ambiguous",
			MappingUnchangeable: "Cannot be changed",
			MappingUnverified:   "Not checked",
			MappingError:        "Check failed",
		},
		"entraMode": {
			EntraModeExport: `Export files: the Entra "Bulk remove members" CSV per group`,
			EntraModeDirect: "Remove in Entra ID directly (Microsoft Graph)",
		},
		"exportKind": {
			ExportKindEntra:     "Microsoft Entra bulk-remove file",
			ExportKindAuditCSV:  "Audit log (CSV)",
			ExportKindAuditJSON: "Audit log (JSON)",
			ExportKindBundle:    "All Entra files (ZIP)",
			ExportKindEntraAdd:  "Microsoft Entra bulk-add file",
		},
		"band": {
			BandActive:   "Active",
			BandLowUsage: "Low usage",
			BandInactive: "Inactive",
			BandNever:    "Never active",
		},
		"protected": {
			ProtectedAdmin:     "Admin",
			ProtectedException: "Exception",
			ProtectedBot:       "Bot or app",
			ProtectedCustomer:  "Customer",
		},
		"snapshotStatus": {
			SnapshotQueued:    "Waiting to start",
			SnapshotRunning:   "Reading the organization's users",
			SnapshotSucceeded: "Up to date",
			SnapshotFailed:    "Failed",
		},
		"userSort": {
			UserSortName:       "Name",
			UserSortEmail:      "E-mail",
			UserSortLastActive: "Last active",
			UserSortBand:       "Activity",
			UserSortType:       "Account type",
		},
		"section": {
			SectionOrganization:      "Organization",
			SectionProducts:          "Products and licensing groups",
			SectionIdentityProvider:  "Identity provider",
			SectionExceptions:        "Exceptions",
			SectionActivityAndExport: "Activity and exports",
		},
		// countOf words a count of a run's rows (RunCounts' JSON names):
		// "32 exported, 2 need manual action".
		"countOf": {
			"removedInAtlassian": "removed in Atlassian",
			"exportedForIdp":     "exported",
			"removedInIdp":       "removed in Microsoft Entra ID",
			"deactivated":        "deactivated",
			"reviewed":           "added for review",
			"manual":             "need manual action",
			"failed":             "failed",
			"skipped":            "skipped",
			"pending":            "pending",
			"restored":           "restored",
			"hasAccess":          "already had access",
			"notRestored":        "not restored",
		},
		"accountType": {
			AccountAtlassian: "Person",
			AccountApp:       "App or bot",
			AccountCustomer:  "Service management customer",
		},
	}
})

// Label returns the label of a value of the kind, or the value itself when
// the table has none (never expected: see Labels).
func Label(kind, value string) string {
	if l, ok := labelTable()[kind][value]; ok {
		return l
	}
	return value
}
