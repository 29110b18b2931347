package idpexport

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/example/usercleanup/internal/cleanup"
)

// Names of the fixed files in a bundle, and its media type.
const (
	BundleReadmeName = "README.txt"
	BundleScriptName = "remove-members.ps1"
	MediaTypeZIP     = "application/zip"
)

// BundleFile is one Entra CSV to put into a bundle.
type BundleFile struct {
	Name string // file name in the ZIP, as returned in Part.FileName
	// Open returns the file's bytes; it is called once, when the file is
	// copied into the ZIP, and the reader is closed afterwards.
	Open func() (io.ReadCloser, error)
	// GroupName is the display name of the Entra group (the name of the
	// synced Atlassian group).
	GroupName string
	// EntraGroupID is the group's Entra object ID when known (a Microsoft
	// Graph connection resolved it); "" otherwise.
	EntraGroupID string
	Part, Parts  int // 1-based part number and number of parts of the group
	Rows         int // members in the file
	// SHA256 is the recorded hash of the file (lowercase hex); when set,
	// the copied bytes are checked against it.
	SHA256 string
	// Size is the file's size in bytes when known (0: unknown). Files of a
	// known size up to bundleAheadMax are compressed ahead, side by side.
	Size int64
}

// BundleInfo describes the run a bundle is for.
type BundleInfo struct {
	RunID   int64
	RunDate time.Time // the ZIP entries get this date (midnight UTC) as modification time
	DryRun  bool
	// Options are the tenant's Entra CSV options the files were written
	// with; they change the upload hints (example row).
	Options EntraOptions
	// Manual are the run's rows that need manual action (at most
	// ReadmeManualMax of them), and ManualTotal how many there are: the
	// README lists them with their reason, so every user the run matched
	// is accounted for.
	Manual      []cleanup.AffectedUser
	ManualTotal int
}

// ReadmeManualMax bounds the users needing manual action the README lists
// one by one; the audit log has them all.
const ReadmeManualMax = 500

// BundleFileName returns the name of a run's bundle, e.g.
// "user-cleanup-run-42-2026-11-28[-dry-run]-entra-remove-members.zip".
func BundleFileName(info BundleInfo) string {
	s := "user-cleanup-run-" + strconv.FormatInt(info.RunID, 10) + "-" + info.RunDate.Format(time.DateOnly)
	if info.DryRun {
		s += "-dry-run"
	}
	return s + "-entra-remove-members.zip"
}

// ErrChecksum is returned by WriteBundle when a file's bytes do not match
// its recorded SHA-256.
var ErrChecksum = errors.New("idpexport: file content does not match its recorded SHA-256")

// WriteBundle writes a ZIP with README.txt, remove-members.ps1 and the
// files (sorted by name), streaming each file from its opener. The same
// input gives the same bytes: entries carry the run date as their time.
// Names must be safe (SafeName leaves them unchanged), end in ".csv" and be
// unique ignoring case. On error, what was written to w is incomplete and
// must be discarded.
func WriteBundle(w io.Writer, files []BundleFile, info BundleInfo) error {
	return writeBundle(w, files, info, bundleWorkers, bundleAheadMax)
}

// writeBundle is WriteBundle with workers files of at most aheadMax bytes
// deflated ahead.
func writeBundle(w io.Writer, files []BundleFile, info BundleInfo, workers int, aheadMax int64) error {
	if info.RunDate.IsZero() {
		return errors.New("idpexport: bundle needs the run date")
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b BundleFile) int { return strings.Compare(a.Name, b.Name) })
	seen := map[string]bool{strings.ToLower(BundleReadmeName): true, strings.ToLower(BundleScriptName): true}
	for _, f := range files {
		switch {
		case f.Name == "" || SafeName(f.Name) != f.Name || !strings.HasSuffix(f.Name, ".csv"):
			return fmt.Errorf("idpexport: bundle file name %q is not a safe .csv name", f.Name)
		case seen[strings.ToLower(f.Name)]:
			return fmt.Errorf("idpexport: bundle file name %q is used twice (names are compared ignoring case)", f.Name)
		case f.Open == nil:
			return fmt.Errorf("idpexport: bundle file %q has no opener", f.Name)
		}
		seen[strings.ToLower(f.Name)] = true
	}

	mod := time.Date(info.RunDate.Year(), info.RunDate.Month(), info.RunDate.Day(), 0, 0, 0, 0, time.UTC)
	zw := zip.NewWriter(w)
	// Entries compressed ahead (see compressAhead) reach the ZIP writer
	// through this compressor: the writer still gets every uncompressed
	// byte (it computes the entry's CRC-32 and size from them), and the
	// compressor, instead of deflating them again, writes the stream
	// deflated ahead from the same bytes. Every other entry is deflated
	// here, at archive/zip's own level, so the ZIP is byte for byte what
	// zip.Writer alone makes.
	var ahead []byte
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		if ahead != nil {
			c := &deflatedAhead{out: out, data: ahead}
			ahead = nil
			return c, nil
		}
		return flate.NewWriter(out, zipDeflateLevel)
	})
	create := func(name string) (io.Writer, error) {
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mod})
	}
	for _, fixed := range []struct{ name, body string }{
		{BundleReadmeName, Readme(files, info)},
		{BundleScriptName, Script(files, info)},
	} {
		ew, err := create(fixed.name)
		if err != nil {
			return fmt.Errorf("idpexport: writing bundle: %w", err)
		}
		if _, err := io.WriteString(ew, fixed.body); err != nil {
			return fmt.Errorf("idpexport: writing bundle: %w", err)
		}
	}
	results := compressAhead(files, workers, aheadMax)
	defer results.stop()
	for i, f := range files {
		c := results.wait(i)
		if c != nil && c.err != nil {
			return c.err
		}
		if c != nil {
			ahead = c.deflated
		}
		ew, err := create(f.Name)
		if err != nil {
			return fmt.Errorf("idpexport: writing bundle: %w", err)
		}
		if c != nil {
			_, err = ew.Write(c.raw)
			results.done()
			if err != nil {
				return fmt.Errorf("idpexport: writing bundle: %w", err)
			}
			continue
		}
		if err := copyFile(ew, f); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("idpexport: writing bundle: %w", err)
	}
	return nil
}

// zipDeflateLevel is the level archive/zip deflates at (its register.go):
// an entry deflated ahead must be the stream zip.Writer would have made.
const zipDeflateLevel = 5

// bundleWorkers is how many files are deflated side by side, and so how
// many are held in memory at once. Deflating is most of a bundle's cost
// (0.4 s of CPU for the 24 MiB of Entra files of a million-row run); two
// workers use the two cores of the machines we run on.
const bundleWorkers = 2

// bundleAheadMax bounds the size of a file deflated ahead: each worker
// holds its file and the deflated stream in memory. Larger files (only
// with a MaxRowsPerFile far above the default 10,000 rows) are deflated
// while they are copied into the ZIP, one at a time.
const bundleAheadMax = 8 << 20

// deflatedAhead is the compressor of an entry deflated ahead: it drops the
// uncompressed bytes and writes the deflated stream when the entry closes.
type deflatedAhead struct {
	out  io.Writer
	data []byte
}

func (d *deflatedAhead) Write(p []byte) (int, error) { return len(p), nil }

func (d *deflatedAhead) Close() error {
	_, err := d.out.Write(d.data)
	return err
}

// aheadFile is a file read and deflated ahead.
type aheadFile struct {
	raw, deflated []byte
	err           error
}

// aheadResults are the files being deflated ahead, in the bundle's order.
type aheadResults struct {
	files []chan *aheadFile // nil: the file is copied as it is written
	slots chan struct{}     // one per file held in memory
	quit  chan struct{}
	wg    sync.WaitGroup
}

// compressAhead reads and deflates the files of a known size up to
// aheadMax bytes on workers goroutines, in order, holding at most workers
// of them in memory: the ZIP writer waits for file i while the workers
// deflate the files after it.
func compressAhead(files []BundleFile, workers int, aheadMax int64) *aheadResults {
	r := &aheadResults{files: make([]chan *aheadFile, len(files)),
		slots: make(chan struct{}, workers), quit: make(chan struct{})}
	for i, f := range files {
		if workers > 0 && f.Size > 0 && f.Size <= aheadMax {
			r.files[i] = make(chan *aheadFile, 1)
		}
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for i, f := range files {
			if r.files[i] == nil {
				continue
			}
			select {
			case r.slots <- struct{}{}:
			case <-r.quit:
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.files[i] <- deflateFile(f)
			}()
		}
	}()
	return r
}

// wait returns file i deflated ahead, or nil for a file copied as it is
// written.
func (r *aheadResults) wait(i int) *aheadFile {
	if r.files[i] == nil {
		return nil
	}
	return <-r.files[i]
}

// done frees the memory slot of the file just written.
func (r *aheadResults) done() { <-r.slots }

// stop ends the deflating early (after an error) and waits for the
// workers, so that none outlives the bundle.
func (r *aheadResults) stop() {
	close(r.quit)
	// A worker still running sends into its buffered channel and ends; the
	// slots it holds are never needed again.
	r.wg.Wait()
}

// deflateFile reads a file, checks its recorded hash and deflates it as
// zip.Writer would.
func deflateFile(f BundleFile) *aheadFile {
	var raw bytes.Buffer
	raw.Grow(int(f.Size))
	if err := copyFile(&raw, f); err != nil {
		return &aheadFile{err: err}
	}
	var deflated bytes.Buffer
	deflated.Grow(int(f.Size) / 4)
	fw, err := flate.NewWriter(&deflated, zipDeflateLevel)
	if err == nil {
		_, err = fw.Write(raw.Bytes())
	}
	if err == nil {
		err = fw.Close()
	}
	if err != nil {
		return &aheadFile{err: fmt.Errorf("idpexport: deflating %q for the bundle: %w", f.Name, err)}
	}
	return &aheadFile{raw: raw.Bytes(), deflated: deflated.Bytes()}
}

func copyFile(dst io.Writer, f BundleFile) (err error) {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("idpexport: opening %q for the bundle: %w", f.Name, err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("idpexport: closing %q: %w", f.Name, cerr)
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), rc); err != nil {
		return fmt.Errorf("idpexport: copying %q into the bundle: %w", f.Name, err)
	}
	if f.SHA256 != "" && !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), f.SHA256) {
		return fmt.Errorf("%w: %q", ErrChecksum, f.Name)
	}
	return nil
}

// displayText replaces control and invisible format characters with a
// space so that a group name cannot break the layout of a text file.
func displayText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// Readme returns the README.txt of a bundle (CRLF line endings).
func Readme(files []BundleFile, info BundleInfo) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString(crlf)
	}
	line("User Cleanup - Microsoft Entra ID bulk-remove files")
	line("Run %d of %s", info.RunID, info.RunDate.Format(time.DateOnly))
	line("")
	if info.DryRun {
		line("*** DRY RUN ***")
		line("These files come from a DRY RUN: nothing was changed in Atlassian.")
		line("Uploading a file WILL remove its members from the Entra group.")
		line("Upload them only if you really want to remove these members.")
		line("")
	}
	line("Each CSV file removes members from exactly one Entra group. The file has")
	line("no group column: you choose the group in the portal, so upload every file")
	line("to the group listed for it below and to no other.")
	line("")
	line("Files")
	line("-----")
	if len(files) == 0 {
		line("(none: the run had no members of groups synced from Entra ID)")
	}
	for _, f := range files {
		line("%s", f.Name)
		line("  Entra group:  %s", displayText(f.GroupName))
		if f.EntraGroupID != "" {
			line("  Object ID:    %s", displayText(f.EntraGroupID))
		} else {
			line("  Object ID:    not known - find the group by its exact display name")
		}
		if f.Parts > 1 {
			line("  Part:         %d of %d", f.Part, f.Parts)
		}
		line("  Members:      %d", f.Rows)
		if f.SHA256 != "" {
			line("  SHA-256:      %s", f.SHA256)
		}
	}
	readmeManual(line, info)
	line("")
	line("How to upload (repeat for every file)")
	line("-------------------------------------")
	line("1. Sign in to the Microsoft Entra admin center (https://entra.microsoft.com)")
	line("   as at least a Groups Administrator, or as an owner of the group.")
	line("2. Go to Entra ID > Groups > All groups and open the group listed for the")
	line("   file. When an object ID is listed, check that the group has it.")
	line("3. Select Members > Bulk operations > Remove members. (Some tenants show")
	line("   \"Remove members\" directly on the Members page.)")
	line("4. Download is not needed: this file already is the filled-in template.")
	line("   Upload this file unchanged. Do not open and save it in Excel first.")
	line("5. Wait for \"File uploaded successfully\", then select Submit.")
	line("6. Open \"Bulk operation results\". Total Requests must equal the number of")
	line("   members listed for the file. If it is lower, a row was skipped: upload")
	line("   the file again or use the script below (members already removed then")
	line("   fail harmlessly). If there are failures, download the results file to")
	line("   see why.")
	if info.Options.ExampleRow {
		line("   The files start with Microsoft's example row (\"Example: ...\"). If the")
		line("   portal counts it, Total Requests is one more than the member count and")
		line("   that one row fails; this is expected.")
	}
	line("7. Users lose their Jira and Confluence access only after the next")
	line("   provisioning cycle of the Atlassian Cloud enterprise application (about")
	line("   every 40 minutes), or at once with \"Provision on demand\". If this group")
	line("   was a user's only assignment to the application, provisioning")
	line("   deactivates the user's whole Atlassian account.")
	line("")
	line("PowerShell alternative")
	line("----------------------")
	line("%s removes the same members through Microsoft Graph PowerShell.", BundleScriptName)
	line("Extract the ZIP, open PowerShell in the extracted folder and run:")
	line("  Install-Module Microsoft.Graph.Groups, Microsoft.Graph.Users -Scope CurrentUser")
	line("  .\\%s -WhatIf    # shows what would be removed, changes nothing", BundleScriptName)
	line("  .\\%s            # removes the members", BundleScriptName)
	line("It signs in with the delegated permissions GroupMember.ReadWrite.All and")
	line("User.Read.All and prints one line per member: removed or failed.")
	return b.String()
}

// readmeManual writes the section of the users the run matched but could
// put in no file, each with the reason (nothing when there are none).
func readmeManual(line func(string, ...any), info BundleInfo) {
	if info.ManualTotal == 0 {
		return
	}
	line("")
	title := fmt.Sprintf("Needs manual action (%d)", info.ManualTotal)
	line("%s", title)
	line("%s", strings.Repeat("-", len(title)))
	line("The cleanup matched these users, but they are in no file above: remove")
	line("each by hand, for the reason given.")
	for _, u := range info.Manual {
		who := displayText(cmpOr(u.Name, u.AccountID))
		if u.Email != "" {
			who += " <" + displayText(u.Email) + ">"
		}
		line("- %s, account %s", who, displayText(u.AccountID))
		if u.GroupName != "" {
			line("  Group:   %s", displayText(u.GroupName))
		}
		line("  Reason:  %s", displayText(strings.TrimPrefix(u.Message, ManualPrefix)))
	}
	if more := info.ManualTotal - len(info.Manual); more > 0 {
		line("... and %d more: see the audit log (outcome \"manual\"), or History >", more)
		line("Show users filtered by \"Needs manual action\".")
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// psQuote returns s as a PowerShell single-quoted string. PowerShell also
// treats the typographic single quotes as quotes, so those are doubled too;
// control characters become spaces.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range displayText(s) {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201A', '\u201B':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// Script returns remove-members.ps1 of a bundle: UTF-8 with BOM (Windows
// PowerShell 5.1 reads BOM-less scripts as ANSI) and CRLF line endings.
func Script(files []BundleFile, info BundleInfo) string {
	var b strings.Builder
	b.WriteString(bom)
	dry := ""
	if info.DryRun {
		dry = "\n  DRY RUN: these files come from a dry run; running this script still\n  removes the members from the Entra groups."
	}
	var table strings.Builder
	for _, f := range files {
		id := ""
		if cleanup.IsObjectID(f.EntraGroupID) {
			id = f.EntraGroupID
		}
		fmt.Fprintf(&table, "    @{ File = %s; Group = %s; GroupId = %s }\n", psQuote(f.Name), psQuote(f.GroupName), psQuote(id))
	}
	s := strings.NewReplacer(
		"{{RUN}}", strconv.FormatInt(info.RunID, 10),
		"{{DATE}}", info.RunDate.Format(time.DateOnly),
		"{{DRY}}", dry,
		"{{HEADER}}", psQuote(EntraMemberHeader),
		"{{LEGACY}}", psQuote(EntraLegacyVersionRow),
		"{{FILES}}", table.String(),
	).Replace(scriptTemplate)
	b.WriteString(strings.ReplaceAll(s, "\n", crlf))
	return b.String()
}

const scriptTemplate = `#Requires -Modules Microsoft.Graph.Authentication, Microsoft.Graph.Groups, Microsoft.Graph.Users
<#
.SYNOPSIS
  Removes the members listed in this bundle's CSV files from their Entra ID groups.
.DESCRIPTION
  Generated by User Cleanup for run {{RUN}} of {{DATE}}.{{DRY}}
  Run it from the extracted bundle. It reads the same CSV files as the portal
  upload (UTF-8 BOM, optional version:v1.0 and Example rows are skipped),
  finds each group by object ID or by its exact display name (exactly one
  group must match), resolves every member with Get-MgUser and removes it
  with Remove-MgGroupMemberDirectoryObjectByRef. Use -WhatIf first.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param()

$ErrorActionPreference = 'Stop'
$Header = {{HEADER}}
$Legacy = {{LEGACY}}
$Files = @(
{{FILES}})

function Read-MemberIds([string] $Path) {
    foreach ($line in Get-Content -LiteralPath $Path -Encoding UTF8) {
        $id = $line.Trim([char]0xFEFF, [char]0x20, [char]0x09, [char]0x22)
        if ($id -eq '' -or $id -eq $Legacy -or $id -eq $Header -or $id -like 'Example:*') { continue }
        $id
    }
}

Connect-MgGraph -Scopes 'GroupMember.ReadWrite.All', 'User.Read.All' -NoWelcome

$removed = 0
$failed = 0
foreach ($f in $Files) {
    $path = Join-Path -Path $PSScriptRoot -ChildPath $f.File
    try {
        if ($f.GroupId) {
            $groups = @(Get-MgGroup -GroupId $f.GroupId)
        } else {
            $filter = "displayName eq '" + ($f.Group -replace "'", "''") + "'"
            $groups = @(Get-MgGroup -Filter $filter -All)
        }
    } catch {
        Write-Warning ("{0}: cannot read Entra group '{1}': {2}" -f $f.File, $f.Group, $_.Exception.Message)
        $failed += @(Read-MemberIds $path).Count
        continue
    }
    if ($groups.Count -ne 1) {
        Write-Warning ("{0}: expected exactly one Entra group named '{1}', found {2}; file skipped" -f $f.File, $f.Group, $groups.Count)
        $failed += @(Read-MemberIds $path).Count
        continue
    }
    $groupId = $groups[0].Id
    foreach ($id in Read-MemberIds $path) {
        if (-not $PSCmdlet.ShouldProcess($id, "Remove from Entra group '$($f.Group)'")) { continue }
        try {
            $user = Get-MgUser -UserId $id -Property Id
            Remove-MgGroupMemberDirectoryObjectByRef -GroupId $groupId -DirectoryObjectId $user.Id
            $removed++
            [pscustomobject]@{ Member = $id; Group = $f.Group; Result = 'removed' }
        } catch {
            $failed++
            [pscustomobject]@{ Member = $id; Group = $f.Group; Result = 'failed: ' + $_.Exception.Message }
        }
    }
}
Write-Host ("Removed: {0}  Failed: {1}" -f $removed, $failed)
`
