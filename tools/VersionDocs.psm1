# Writes what the docs say about PostgreSQL versions from the two places that know: the version rules of the
# built module ([PgReplication.Core.Versions.VersionRules]) and the last matrix run (docs/matrix-results.json).
# docs/versions.md is generated whole; README.md and en-US/about_PgReplication.help.txt have a generated
# region between marker lines. build.ps1 -Task Docs runs Update-VersionDocs; a Surface test checks that the
# committed files match what it would write.
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$script:RepoRoot = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '..'))
$script:MatrixCommand = 'dotnet pwsh ./build.ps1 -Task Test -Matrix -Tag Majors'
$script:Kinds = [ordered]@{ Setting = 'Settings'; Function = 'Functions and views'; Mechanism = 'Files and mechanisms'; Privilege = 'Privileges of the admin role (New-PgAdminRole)' }

# Core lives in the module's own load context, where PowerShell does not look for [type] names: this session
# gets a copy of it in the default context, from the imported module's Dependencies folder.
function Get-Rules {
    if (-not ('PgReplication.Core.Versions.VersionRules' -as [type])) {
        Add-Type -Path (Join-Path (Get-Module PgReplication).ModuleBase 'Dependencies/PgReplication.Core.dll')
    }
    'PgReplication.Core.Versions.VersionRules' -as [type]
}

# One row per major: what the module does differently there, each cell asked of the rules, plus the
# last matrix run's outcome for that major (if it ran).
function Get-MajorRow([int] $Major, $Results) {
    $rules = Get-Rules
    $result = @($Results | Where-Object { $_.Major -eq $Major }) | Select-Object -First 1
    [pscustomobject]@{
        Major      = $Major
        Tested     = if ($result) { $result.Version } else { '-' }
        Standby    = if ([PgReplication.Core.Versions.StandbyConfigRules]::UsesStandbySignal($Major)) { 'standby.signal' } else { 'recovery.conf' }
        Promotion  = if ($rules::Applies($rules::PgPromote, $Major)) { 'pg_promote()' } else { 'pg_ctl promote' }
        Repoint    = if ([PgReplication.Core.Versions.StandbyConfigRules]::ReloadsPrimaryConninfo($Major)) { 'reload' } else { 'restart' }
        WalKeep    = $rules::WalKeepSetting($Major)
        BackupApi  = ($rules::BackupFunctions($Major).Start -replace '^pg_catalog\.|\(.*$', '') + '()'
        Result     = if (-not $result) { 'not run' }
                     elseif ($result.Passed) { 'passed, {0:0} s' -f $result.Seconds }
                     else { "failed at $($result.FailedStep)" }
    }
}

function Get-MajorRows($Results) {
    $rules = Get-Rules
    $rules::OldestMajor..$rules::NewestMajor | ForEach-Object { Get-MajorRow $_ $Results }
}

function ConvertTo-MarkdownTable([string[]] $Header, [object[][]] $Rows) {
    $lines = @(('| ' + ($Header -join ' | ') + ' |'), ('|' + (($Header | ForEach-Object { '---' }) -join '|') + '|'))
    $lines += $Rows | ForEach-Object { '| ' + ($_ -join ' | ') + ' |' }
    $lines -join "`n"
}

function Get-SupportedMarkdown($Results) {
    $rules = Get-Rules
    $rows = Get-MajorRows $Results | ForEach-Object {
        , @($_.Major, $_.Tested, $_.Standby, $_.Promotion, $_.Repoint, "$($_.WalKeep)", $_.BackupApi, $_.Result)
    }
    $table = ConvertTo-MarkdownTable @('Major', 'Tested', 'Standby settings', 'Promotion', 'Re-pointing a standby', 'WAL kept by', 'Backup API (-Method Rsync)', 'Last matrix run') $rows
    $table + "`n`n" + "Older majors are refused: the error names the server's version and $($rules::OldestMajor), the oldest supported."
}

# The same table for about_PgReplication, which keeps to 80 columns: fewer, narrower columns.
function Get-SupportedText($Results) {
    $rules = Get-Rules
    $header = [pscustomobject]@{ Major = 'Major'; Standby = 'Standby'; Promotion = 'Promotion'; WalKeep = 'WAL kept by'; Run = 'Last matrix run' }
    $rows = Get-MajorRows $Results | ForEach-Object {
        [pscustomobject]@{ Major = $_.Major; Standby = $_.Standby; Promotion = $_.Promotion; WalKeep = $_.WalKeep
            Run = if ($_.Tested -eq '-') { 'not run' } else { "$($_.Tested), $(if ($_.Result -like 'passed*') { 'passed' } else { 'failed' })" } }
    }
    $all = @($header) + @($rows)
    $columns = 'Major', 'Standby', 'Promotion', 'WalKeep', 'Run'
    $widths = @{}
    foreach ($c in $columns) { $widths[$c] = ($all | ForEach-Object { "$($_.$c)".Length } | Measure-Object -Maximum).Maximum }
    $lines = foreach ($row in $all) { '    ' + ((($columns | ForEach-Object { "$($row.$_)".PadRight($widths[$_]) }) -join '  ').TrimEnd()) }
    $lines += ''
    $lines += "    A standby takes a new upstream on a reload from $(($rules::Get($rules::PrimaryConninfoReload)).FirstMajor), with a restart before."
    $lines += "    Older majors are refused: the error names the server's version and"
    $lines += "    $($rules::OldestMajor), the oldest supported. docs/versions.md has the times of the run."
    $lines -join "`n"
}

function Get-VersionsMarkdown($Results, $Run) {
    $rules = Get-Rules
    $text = [System.Text.StringBuilder]::new()
    $null = $text.AppendLine('<!-- Generated by build.ps1 -Task Docs from src/PgReplication.Core/Versions and docs/matrix-results.json: edit those, not this file. -->')
    $null = $text.AppendLine('# PostgreSQL versions')
    $null = $text.AppendLine()
    $null = $text.AppendLine("PgReplication runs every major from $($rules::OldestMajor) to $($rules::NewestMajor) in one code path. What differs between majors")
    $null = $text.AppendLine('is data in `src/PgReplication.Core/Versions` (`VersionRules.All`): each rule names the majors where it applies and')
    $null = $text.AppendLine('the release note that says so, and the operations ask the rules instead of comparing version numbers.')
    $null = $text.AppendLine()
    $null = $text.AppendLine('## Supported versions')
    $null = $text.AppendLine()
    $null = $text.AppendLine((Get-SupportedMarkdown $Results))
    foreach ($kind in $script:Kinds.Keys) {
        $null = $text.AppendLine()
        $null = $text.AppendLine("## $($script:Kinds[$kind])")
        $null = $text.AppendLine()
        $null = $text.Append($rules::ToMarkdownTable([PgReplication.Core.Versions.RuleKind] $kind).Replace("`r", ''))
    }
    $null = $text.AppendLine()
    $null = $text.AppendLine('## The last matrix run')
    $null = $text.AppendLine()
    if (-not $Results) {
        $null = $text.AppendLine('No matrix run is recorded yet.')
    }
    else {
        $passed = @($Results | Where-Object Passed).Count
        $null = $text.AppendLine("$passed of $(@($Results).Count) majors passed on $($Run.Date) ($($Run.Machine)), with ``$($script:MatrixCommand)``:")
        $null = $text.AppendLine('per major a lab of three hosts (one primary, two empty hosts) of that major runs discovery, a check of every')
        $null = $text.AppendLine('setting, function and column rule against the server, the replication role, the primary config, a base backup,')
        $null = $text.AppendLine('hot standbys, health and topology, then a crash of the primary, a promotion and a sibling that follows, the old')
        $null = $text.AppendLine('primary''s rejoin, a switchover there and back, the day-two cmdlets, and a crashed primary fenced by the next')
        $null = $text.AppendLine('promotion (tests/Acceptance/Majors.Tests.ps1). 15 is Debian''s packages; the others are upstream builds with')
        $null = $text.AppendLine('server programs only (no pg_basebackup, pg_controldata, pg_rewind): their base backups go by the method in the')
        $null = $text.AppendLine('table. Time is per major, lab included, in seconds.')
        $null = $text.AppendLine()
        $stepNames = @($Results | ForEach-Object { $_.Steps.PSObject.Properties.Name } | Select-Object -Unique)
        $rows = $Results | Sort-Object Major | ForEach-Object {
            $r = $_
            , (@($r.Major, $r.Version, $r.BackupMethod, $(if ($r.Passed) { 'passed' } else { "failed at $($r.FailedStep)" }), ('{0:0.0}' -f $r.Seconds)) +
                @($stepNames | ForEach-Object { $s = $r.Steps.PSObject.Properties[$_]; if ($s) { '{0:0.0}' -f $s.Value } else { '-' } }))
        }
        $null = $text.AppendLine((ConvertTo-MarkdownTable (@('Major', 'Version', 'Base backup', 'Result', 'Time') + $stepNames) @($rows)))
        $null = $text.AppendLine()
        $null = $text.Append((Get-OperationsMarkdown $Results))
    }
    $text.ToString().Replace("`r", '').TrimEnd("`n") + "`n"
}

# Which operation that run proved on which major, and what kept one from running (a program the machine lacks).
function Get-OperationsMarkdown($Results) {
    $withOperations = @($Results | Where-Object { $_.PSObject.Properties['Operations'] -and $_.Operations } | Sort-Object Major)
    if (-not $withOperations) { return '' }
    $names = @($withOperations | ForEach-Object { $_.Operations.PSObject.Properties.Name } | Select-Object -Unique)
    $text = [System.Text.StringBuilder]::new()
    $null = $text.AppendLine('### Operations proven per major')
    $null = $text.AppendLine()
    $null = $text.AppendLine('What each major''s run proved on real servers ("proven": the step ran and its checks passed; "not run": a step')
    $null = $text.AppendLine('before it failed, or the major used another way). Where a host has no pg_controldata of the major, the module')
    $null = $text.AppendLine('reads global/pg_control itself (the major''s layout, CRC-32C checked: docs/design.md).')
    $null = $text.AppendLine()
    foreach ($op in $names) {
        $proven = @($withOperations | Where-Object { $_.Operations.$op -eq 'proven' } | ForEach-Object Major)
        $rest = @($withOperations | Where-Object { $_.Operations.$op -ne 'proven' })
        $line = if (-not $rest) { "- ${op}: proven on every major run ($($proven -join ', '))" }
                elseif (-not $proven) { "- ${op}: proven on none" }
                else { "- ${op}: proven on $($proven -join ', ') only" }
        $why = @($rest | ForEach-Object { "$($_.Major): $($_.Operations.$op)" })
        if ($why) { $line += " ($($why -join '; '))" }
        $null = $text.AppendLine($line)
    }
    $null = $text.AppendLine()
    $rows = $withOperations | ForEach-Object { $r = $_; , (@($r.Major, "$($r.ControlFile)") + @($names | ForEach-Object { "$($r.Operations.$_)" })) }
    $null = $text.AppendLine((ConvertTo-MarkdownTable (@('Major', 'Control file read by') + $names) @($rows)))
    $text.ToString()
}

# Replaces what stands between the begin and end marker lines (kept) with $Content.
function Set-GeneratedRegion([string] $Text, [string] $Begin, [string] $End, [string] $Content, [string] $File) {
    $b = $Text.IndexOf($Begin, [StringComparison]::Ordinal)
    $e = $Text.IndexOf($End, [StringComparison]::Ordinal)
    if ($b -lt 0 -or $e -lt $b) { throw "$File has no generated region between '$Begin' and '$End'." }
    $start = $b + $Begin.Length
    $Text.Substring(0, $start) + "`n" + $Content.TrimEnd("`n") + "`n" + $Text.Substring($e)
}

function Read-MatrixResults([string] $Path = (Join-Path $script:RepoRoot 'docs/matrix-results.json')) {
    if (-not (Test-Path $Path)) { return [pscustomobject]@{ Results = @(); Date = $null; Machine = $null } }
    $results = @(Get-Content -Raw $Path | ConvertFrom-Json)
    [pscustomobject]@{ Results = $results; Date = ($results | Select-Object -First 1).Date; Machine = ($results | Select-Object -First 1).Machine }
}

function Get-VersionDocs {
    <#
    .SYNOPSIS
        The files Update-VersionDocs writes, as path and text, without writing them (what the Surface test compares).
    #>
    [CmdletBinding()]
    param([string] $ResultPath = (Join-Path $script:RepoRoot 'docs/matrix-results.json'))
    $run = Read-MatrixResults $ResultPath
    $readme = Join-Path $script:RepoRoot 'README.md'
    $about = Join-Path $script:RepoRoot 'en-US/about_PgReplication.help.txt'
    [pscustomobject]@{ Path = (Join-Path $script:RepoRoot 'docs/versions.md'); Text = (Get-VersionsMarkdown $run.Results $run) }
    [pscustomobject]@{
        Path = $readme
        Text = Set-GeneratedRegion (Get-Content -Raw $readme) '<!-- versions:begin (generated by build.ps1 -Task Docs; edit src/PgReplication.Core/Versions instead) -->' `
            '<!-- versions:end -->' (Get-SupportedMarkdown $run.Results) $readme
    }
    [pscustomobject]@{
        Path = $about
        Text = Set-GeneratedRegion (Get-Content -Raw $about) '    (generated by build.ps1 -Task Docs from the rules and the last matrix run)' `
            '    (end of the generated text)' (Get-SupportedText $run.Results) $about
    }
}

function Update-VersionDocs {
    <#
    .SYNOPSIS
        Regenerates docs/versions.md and the supported-versions regions of README.md and about_PgReplication
        from the loaded module's version rules and a matrix result file. With -NewResultPath, that run's
        results (a full matrix) first become docs/matrix-results.json.
    #>
    [CmdletBinding()]
    param([string] $NewResultPath)
    $committed = Join-Path $script:RepoRoot 'docs/matrix-results.json'
    if ($NewResultPath) { Copy-Item -LiteralPath $NewResultPath -Destination $committed -Force }
    foreach ($doc in Get-VersionDocs -ResultPath $committed) {
        [System.IO.File]::WriteAllText($doc.Path, $doc.Text)
        Write-Verbose "Wrote $($doc.Path)."
    }
}

Export-ModuleMember -Function Get-VersionDocs, Update-VersionDocs
