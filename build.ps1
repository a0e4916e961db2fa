#requires -Version 7.4
<#
.SYNOPSIS
    The one entry point: Build, Test (every test), Demo, Docs, Reliability (the fault suite, then docs/reliability.md).
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Test -Matrix -Tag Majors    # every major 10..18 on the lab, then the docs
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
    # Pester tags to run (default: all); e.g. -Tag Surface to skip the lab.
    [string[]] $Tag,
    [string[]] $ExcludeTag,
    # Demo: keep the clusters running and print how to connect.
    [switch] $Keep,
    # Test: the Majors suite runs every major 10..18 (default: the CI set 11, 13, 15, 16, 18), and its
    # results then become docs/matrix-results.json and the generated docs (as -Task Docs).
    [switch] $Matrix,
    # Bench: one run of each case on small data, written under out/bench-quick (what .ci/run does).
    [switch] $Quick
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleDir = Join-Path $Out 'PgReplication'
$Cache = Join-Path $Root '.cache'

function Invoke-Native {
    param([string] $FilePath, [string[]] $ArgumentList)
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE." }
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
    $failures = @($trx.TestRun.Results.UnitTestResult | Where-Object outcome -ne 'Passed' | Where-Object outcome -ne 'NotExecuted' |
        ForEach-Object {
            $message = "$($_.Output.ErrorInfo.Message)" -replace '\s+', ' '
            '{0}: {1}' -f $_.testName, $message.Substring(0, [Math]::Min(300, $message.Length))
        })
    [pscustomobject]@{ Passed = [int]$c.passed; Failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted; Failures = $failures }
}

function Invoke-Test {
    Invoke-Build
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Force $results | Out-Null
    $passed = 0; $failed = 0; $failures = @()

    foreach ($project in 'PgReplication.Core.Tests', 'PgReplication.Tests') {
        Write-Host "== xUnit: $project" -ForegroundColor Cyan
        $trx = Join-Path $results "$project.trx"
        & dotnet test (Join-Path $Root "tests/$project/$project.csproj") -c $Configuration --no-build --nologo `
            --logger "trx;LogFileName=$trx" --logger 'console;verbosity=normal'
        if (Test-Path $trx) {
            $counts = Get-TrxCounts $trx
            $passed += $counts.Passed; $failed += $counts.Failed; $failures += $counts.Failures
            Write-Host "   $project : $($counts.Passed) passed, $($counts.Failed) failed"
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
    if ($Matrix) { $env:PGREPLICATION_MAJORS = (10..18) -join ',' }
    $pesterArgs = @('pwsh', '-NoProfile', '-NonInteractive', '-File', $runner, '-ModulePath', $ModuleDir,
        '-PesterModules', $modules, '-ResultPath', $pesterOut)
    if ($Tag) { $pesterArgs += @('-Tag', ($Tag -join ',')) }
    if ($exclude) { $pesterArgs += @('-ExcludeTag', ($exclude -join ',')) }
    & dotnet @pesterArgs
    if (Test-Path $pesterOut) {
        $p = Get-Content -Raw $pesterOut | ConvertFrom-Json
        $passed += $p.Passed; $failed += $p.Failed; $failures += @($p.Failures)
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

    # The failed tests again, last but one: CI shows the end of the log.
    foreach ($failure in $failures) { Write-Host "   FAILED $failure" -ForegroundColor Red }
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0) { exit 1 }
}

# The fault, bad-input and secrets suite (tests/Acceptance/Faults) alone, then docs/reliability.md from what it
# recorded (out/reliability): the document is generated, never typed.
function Invoke-Reliability {
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
    Write-Host "$($p.Passed) passed, $($p.Failed) failed"
    if ($p.Failed -gt 0) { exit 1 }
}

# The main job, locally: a primary and two streaming hot standbys on 127.0.0.1, built by the cmdlets.
function Invoke-Demo {
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
    Invoke-Build
    Write-Host '== Bench' -ForegroundColor Cyan
    $benchArgs = @('pwsh', '-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'bench/Invoke-PgBenchmark.ps1'), '-ModulePath', $ModuleDir)
    if ($Quick) { $benchArgs += '-Quick' }
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
