#requires -Version 7.4
<#
.SYNOPSIS
    The one entry point: Build, Test (every test), Demo, Docs, Reliability (the fault suite, then docs/reliability.md).
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Test -Matrix -Tag Majors    # every supported major on the lab, then the docs
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Test -SkipLab    # no root: every test but the lab's and the xUnit sshd ones
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Bench -Case Build,Failover,Fanout    # some cases only: out/bench-build-failover-fanout
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Docs', 'Reliability', 'Bench')]
    [string] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    # Also run the long suites (tagged Full); .ci/run leaves them out to stay under its time budget.
    # Reliability: the fault suite (tag Faults) on the lab, then docs/reliability.md from its results.
    [switch] $Full,
    # Pester tags to run (default: all, with the xUnit projects); -Tag picks Pester tests only, e.g. -Tag Surface
    # (module, help and views: no server, no package, no root).
    [string[]] $Tag,
    [string[]] $ExcludeTag,
    # Demo: keep the clusters running and print how to connect.
    [switch] $Keep,
    # Test: the Majors suite runs every supported major (VersionRules; default: the CI set 11, 13, 15, 16, 18), and its
    # results then become docs/matrix-results.json and the generated docs (as -Task Docs).
    [switch] $Matrix,
    # Bench: one run of each case on small data, written under out/bench-quick (what .ci/run does).
    [switch] $Quick,
    # Bench: some cases only (Build, Failover, Switchover, Fanout, Startup, AutoFailover, Demo), written under out/bench-<cases>.
    [string[]] $Case,
    # Bench -Case Startup: another build of the module (e.g. main's before a change) imported in the same rounds, with ratios.
    [string] $BaselineModulePath,
    # Test: leave out what needs root, the lab (Pester tag Acceptance) and the xUnit tests against a throwaway sshd
    # (Category=Sshd); the summary says so. Without it, a test that cannot run on this machine fails the run.
    [switch] $SkipLab
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleDir = Join-Path $Out 'PgReplication'
$Cache = Join-Path $Root '.cache'
# What each task needs from the machine, and its install (tools/Prerequisites.ps1).
. (Join-Path $Root 'tools/Prerequisites.ps1')

function Invoke-Native {
    param([string] $FilePath, [string[]] $ArgumentList)
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE." }
}

# Before anything else: what this task needs from the machine is there, installed now (root on Debian), or the
# task stops here naming the packages and the command that installs them.
function Confirm-Prerequisite {
    $scope = Get-PrerequisiteScope -Task $Task -Tag $Tag -ExcludeTag $ExcludeTag -SkipLab:$SkipLab
    $stop = Install-MissingPrerequisite -Task $Task -Scope $scope
    if ($stop) { Write-Host $stop -ForegroundColor Red; exit 1 }
}

function Invoke-Build {
    Write-Host '== Build' -ForegroundColor Cyan
    Invoke-Native dotnet @('build', (Join-Path $Root 'PgReplication.sln'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:ErrorsOnly')
    # The module folder: what Import-Module takes by path.
    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/PgReplication/PgReplication.csproj'), '-c', $Configuration,
        '--nologo', '-v', 'q', '--no-build', '-o', $ModuleDir)
    Copy-Item (Join-Path $Root 'PgReplication.psd1') $ModuleDir
    Copy-Item (Join-Path $Root 'en-US') $ModuleDir -Recurse
    Get-ChildItem $ModuleDir -Filter '*.pdb' | Remove-Item
    # Only the cmdlets and the model stay beside the manifest (the default load context); Core and its packages go
    # to Dependencies/, which the module loads into a context of its own (docs/design.md, issue 23).
    $dependencies = New-Item -ItemType Directory -Force (Join-Path $ModuleDir 'Dependencies')
    Get-ChildItem $ModuleDir -File | Where-Object { $_.Extension -in '.dll', '.xml' -and $_.BaseName -notin 'PgReplication', 'PgReplication.Model' } |
        Move-Item -Destination $dependencies
    # It lists the packages beside the cmdlets, where they no longer are; nothing reads it for a module.
    Remove-Item (Join-Path $ModuleDir 'PgReplication.deps.json')
    # Help from docs/help/*.md and the cmdlets' real parameters, in a child pwsh that loads the built module:
    # a parameter without help (or help without a parameter) fails the build here.
    Invoke-Native dotnet @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tools/New-MamlHelp.ps1'),
        '-ModulePath', $ModuleDir, '-MarkdownPath', (Join-Path $Root 'docs/help'))
    Write-Host "Module: $ModuleDir"
}

# Pester comes from NuGet through a throwaway project (never from the Gallery), into .cache (git-ignored).
function Install-Pester {
    $modules = Join-Path $Cache 'Modules'
    $target = Join-Path $modules 'Pester'
    if (-not (Test-Path (Join-Path $target 'Pester.psd1'))) {
        Invoke-Native dotnet @('restore', (Join-Path $Root '.config/Pester.Download.csproj'), '--nologo', '-v', 'q')
        $tools = Join-Path $Cache 'packages/pester/6.2.0/tools'
        New-Item -ItemType Directory -Force $modules | Out-Null
        Copy-Item $tools $target -Recurse
    }
    return $modules
}

function Get-TrxCounts([string] $Path) {
    [xml] $trx = Get-Content -Raw $Path
    $c = $trx.TestRun.ResultSummary.Counters
    # Name and message of a result: a failure's error, or a skip's reason (the trx counters leave skips out).
    $describe = {
        $node = $_.SelectSingleNode('*[local-name()="Output"]/*[local-name()="ErrorInfo"]/*[local-name()="Message"]')
        $message = $(if ($node) { $node.InnerText } else { '' }) -replace '\s+', ' '
        '{0}: {1}' -f $_.testName, $message.Substring(0, [Math]::Min(300, $message.Length))
    }
    $results = @($trx.TestRun.Results.UnitTestResult)
    $failures = @($results | Where-Object outcome -NotIn 'Passed', 'NotExecuted' | ForEach-Object $describe)
    $skips = @($results | Where-Object outcome -EQ 'NotExecuted' | ForEach-Object $describe)
    [pscustomobject]@{
        Passed = [int]$c.passed; Failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
        Skipped = $skips.Count; Failures = $failures; Skips = $skips
    }
}

# The last line of a test task, which CI reads: "N passed, N failed", and ", N skipped" when anything was.
function Format-Counts([int] $Passed, [int] $Failed, [int] $Skipped) {
    "$Passed passed, $Failed failed" + $(if ($Skipped) { ", $Skipped skipped" } else { '' })
}

function Invoke-Test {
    Confirm-Prerequisite
    Invoke-Build
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Force $results | Out-Null
    $passed = 0; $failed = 0; $skipped = 0; $failures = @(); $skips = @()

    # -Tag picks Pester tests: the xUnit projects run when no tag is asked for. -SkipLab leaves out their sshd tests.
    $xunitProjects = @('PgReplication.Core.Tests', 'PgReplication.Tests')
    if ($Tag) { $xunitProjects = @(); Write-Host '== xUnit: not run (-Tag picks Pester tests only)' -ForegroundColor Cyan }
    foreach ($project in $xunitProjects) {
        Write-Host "== xUnit: $project" -ForegroundColor Cyan
        $trx = Join-Path $results "$project.trx"
        $filter = if ($SkipLab) { @('--filter', 'Category!=Sshd') } else { @() }
        & dotnet test (Join-Path $Root "tests/$project/$project.csproj") -c $Configuration --no-build --nologo @filter `
            --logger "trx;LogFileName=$trx" --logger 'console;verbosity=normal'
        if (Test-Path $trx) {
            $counts = Get-TrxCounts $trx
            $passed += $counts.Passed; $failed += $counts.Failed; $skipped += $counts.Skipped
            $failures += $counts.Failures; $skips += $counts.Skips
            Write-Host "   $project : $(Format-Counts $counts.Passed $counts.Failed $counts.Skipped)"
        }
        else {
            Write-Host "   $project : no result file (the run itself failed)" -ForegroundColor Red
            $failed += 1
        }
    }

    Write-Host '== Pester' -ForegroundColor Cyan
    $modules = Install-Pester
    $pesterOut = Join-Path $results 'pester.json'
    $exclude = @($ExcludeTag | Where-Object { $_ })
    if (-not $Full) { $exclude += 'Full' }
    # A child pwsh: a fresh session that imports the built module like a user would.
    $runner = Join-Path $Root 'tests/Invoke-PesterSuite.ps1'
    $majorsResult = Join-Path $results 'majors.json'
    $env:PGREPLICATION_MAJORS_RESULT = $majorsResult
    # 'all': the suite takes the majors from the module's VersionRules, the one list of what is supported.
    if ($Matrix) { $env:PGREPLICATION_MAJORS = 'all' }
    $pesterArgs = @('pwsh', '-NoProfile', '-NonInteractive', '-File', $runner, '-ModulePath', $ModuleDir,
        '-PesterModules', $modules, '-ResultPath', $pesterOut)
    if ($Tag) { $pesterArgs += @('-Tag', ($Tag -join ',')) }
    if ($exclude) { $pesterArgs += @('-ExcludeTag', ($exclude -join ',')) }
    if ($SkipLab) { $pesterArgs += '-SkipLab' }
    & dotnet @pesterArgs
    if (Test-Path $pesterOut) {
        $p = Get-Content -Raw $pesterOut | ConvertFrom-Json
        $passed += $p.Passed; $failed += $p.Failed; $skipped += $p.Skipped
        $failures += @($p.Failures | Where-Object { $_ }); $skips += @($p.Skips | Where-Object { $_ })
        Write-Host "   Pester : $($p.Passed) passed, $($p.Failed) failed, $($p.Skipped) skipped"
    }
    else {
        Write-Host '   Pester : no result file (the run itself failed)' -ForegroundColor Red
        $failed += 1
    }
    if ($Matrix) {
        if ((Test-Path $majorsResult) -and @(Get-Content -Raw $majorsResult | ConvertFrom-Json).Count -eq 9) { Invoke-Docs -NewResultPath $majorsResult }
        else { Write-Host '   Matrix : not every major ran; the docs keep the last full run' -ForegroundColor Yellow }
    }

    # The skipped tests with their reasons, then the failed ones, then what ran and the counts: CI shows the end of the log.
    foreach ($skip in $skips) { Write-Host "   SKIPPED $skip" -ForegroundColor Yellow }
    foreach ($failure in $failures) { Write-Host "   FAILED $failure" -ForegroundColor Red }
    $ran = "Tags run: $(if ($Tag) { $Tag -join ', ' } else { 'all' })" + $(if ($exclude) { " (excluded: $($exclude -join ', '))" } else { '' })
    if ($Tag) { $ran += '; no xUnit (-Tag)' }
    if ($SkipLab) { $ran += '; lab left out (-SkipLab: no tag Acceptance, no xUnit Category=Sshd)' }
    Write-Host $ran
    Write-Host (Format-Counts $passed $failed $skipped)
    if ($failed -gt 0) { exit 1 }
}

# The fault, bad-input and secrets suite (tests/Acceptance/Faults) alone, then docs/reliability.md from what it
# recorded (out/reliability): the document is generated, never typed.
function Invoke-Reliability {
    Confirm-Prerequisite
    Invoke-Build
    Write-Host '== Pester: Faults' -ForegroundColor Cyan
    $modules = Install-Pester
    $results = Join-Path $Out 'test-results'
    New-Item -ItemType Directory -Force $results | Out-Null
    $pesterOut = Join-Path $results 'faults.json'
    $pesterArgs = @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/Invoke-PesterSuite.ps1'), '-ModulePath', $ModuleDir,
        '-PesterModules', $modules, '-ResultPath', $pesterOut, '-Tag', 'Faults')
    if (-not $Full) { $pesterArgs += @('-ExcludeTag', 'Full') }
    & dotnet @pesterArgs
    Invoke-Native dotnet @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/Acceptance/Faults/Write-ReliabilityReport.ps1'))
    $p = Get-Content -Raw $pesterOut | ConvertFrom-Json
    Write-Host (Format-Counts $p.Passed $p.Failed $p.Skipped)
    if ($p.Failed -gt 0) { exit 1 }
}

# The main job, locally: a primary and two streaming hot standbys on 127.0.0.1, built by the cmdlets.
function Invoke-Demo {
    Confirm-Prerequisite
    Invoke-Build
    Write-Host '== Demo' -ForegroundColor Cyan
    $demoArgs = @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tests/Demo/Invoke-PgReplicationDemo.ps1'),
        '-ModulePath', $ModuleDir)
    if ($Keep) { $demoArgs += '-Keep' }
    & dotnet @demoArgs
    if ($LASTEXITCODE -ne 0) { Write-Host 'Demo failed.' -ForegroundColor Red; exit 1 }
}

# docs/versions.md and the supported-versions tables of README and about_PgReplication, from the built
# module's version rules and the last matrix run (tools/VersionDocs.psm1), in a fresh session.
function Invoke-Docs([string] $NewResultPath) {
    if (-not (Test-Path (Join-Path $ModuleDir 'PgReplication.psd1'))) { Invoke-Build }
    Write-Host '== Docs' -ForegroundColor Cyan
    $script = "Import-Module (Join-Path '$ModuleDir' 'PgReplication.psd1'); Import-Module (Join-Path '$Root' 'tools/VersionDocs.psm1'); " +
        'Update-VersionDocs -Verbose' + $(if ($NewResultPath) { " -NewResultPath '$NewResultPath'" } else { '' })
    Invoke-Native dotnet @('pwsh', '-NoProfile', '-NonInteractive', '-Command', $script)
}

# PgReplication against the raw commands and repmgr on a lab it makes (needs root): docs/benchmarks.md.
function Invoke-Bench {
    Confirm-Prerequisite
    Invoke-Build
    Write-Host '== Bench' -ForegroundColor Cyan
    $benchArgs = @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'bench/Invoke-PgBenchmark.ps1'), '-ModulePath', $ModuleDir)
    if ($Quick) { $benchArgs += '-Quick' }
    if ($Case) { $benchArgs += '-Case', ($Case -join ',') }
    if ($BaselineModulePath) { $benchArgs += '-BaselineModulePath', $BaselineModulePath }
    & dotnet @benchArgs
    if ($LASTEXITCODE -ne 0) { Write-Host 'Bench failed.' -ForegroundColor Red; exit 1 }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Docs' { Invoke-Build; Invoke-Docs }
    'Reliability' { Invoke-Reliability }
    'Bench' { Invoke-Bench }
}
