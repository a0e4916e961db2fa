<#
.SYNOPSIS
    The benchmarks of issue 8: PgReplication's cmdlets against the raw commands and repmgr, on a lab of
    network-namespace hosts this script makes (and removes) itself.
.DESCRIPTION
    Cases: 1 standby build (1 and 4 GiB), 2 failover after kill -9 (and 2b: the promotion fired at the kill,
    issue 19), 3 switchover under a write load, 4 health check fan-out (1, 2, 3, 7 standbys), 5 module start-up,
    6 automatic failover (PgReplication + Patroni against repmgrd, issue 19), and the demo. Full run: docs/benchmarks.md and docs/benchmarks.json. Some cases only (-Case): under
    out/bench-<cases>, so a partial run never replaces the full run's report. -Quick: one run of each case on small
    data (pgbench scale 1-2), written under out/bench-quick; it exits non-zero unless every contender produced every
    figure. Needs root (the lab).
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Bench -Quick
.EXAMPLE
    dotnet pwsh bench/Invoke-PgBenchmark.ps1 -ModulePath out/PgReplication -Case Failover    # out/bench-failover
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [switch] $Quick,
    # Runs of each figure (the issue asks for at least 5); -Quick makes it 1.
    [ValidateRange(1, 50)] [int] $Runs = 5,
    # Default: docs (full run), out/bench-quick (-Quick), out/bench-<cases> (some cases only).
    [string] $OutputDirectory,
    # Some cases only, while working on the harness (comma-separated through -File).
    [string[]] $Case = @('Build', 'Failover', 'Switchover', 'Fanout', 'Startup', 'AutoFailover', 'Demo'),
    # No run: write benchmarks.md again from the benchmarks.json in -OutputDirectory (after editing analysis.md).
    [switch] $ReportOnly,
    # Another build of the module (e.g. main's, before a change), in the same rounds, with ratios: Startup imports it, and
    # every other case runs its cold contender with it too.
    [string] $BaselineModulePath,
    # Build: the database sizes (a before/after comparison of two builds may take 1GiB only: 4 GiB rounds take minutes each).
    [ValidateSet('1GiB', '4GiB')] [string[]] $BuildSize = @('1GiB', '4GiB'),
    # Build: rounds per size (default: at least 11, the copy's spread needs them; fewer for a quick before/after).
    [ValidateRange(1, 50)] [int] $BuildRuns
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Case = @($Case -split ',' | ForEach-Object Trim | Where-Object { $_ })
$knownCases = 'Build', 'Failover', 'Switchover', 'Fanout', 'Startup', 'AutoFailover', 'Demo'
$unknown = @($Case | Where-Object { $_ -notin $knownCases })
if ($unknown) { throw "Unknown case(s): $($unknown -join ', '). Cases: $($knownCases -join ', ')." }
$root = Split-Path -Parent $PSScriptRoot
$ModulePath = (Resolve-Path $ModulePath).Path
Import-Module (Join-Path $PSScriptRoot 'BenchReport.psm1')
$allCases = -not @($knownCases | Where-Object { $_ -notin $Case })
if (-not $OutputDirectory) {
    $OutputDirectory = if ($Quick) { Join-Path $root 'out/bench-quick' }
    elseif (-not $allCases) { Join-Path $root "out/bench-$(($Case | ForEach-Object ToLowerInvariant) -join '-')" }
    else { Join-Path $root 'docs' }
}
$jsonPath = Join-Path $OutputDirectory 'benchmarks.json'
$mdPath = Join-Path $OutputDirectory 'benchmarks.md'
# The reading of a full run's profiles, written by hand after it (bench/README.md says how).
$analysisPath = Join-Path $PSScriptRoot 'analysis.md'
if ($ReportOnly) {
    $run = Read-BenchRun -Path $jsonPath
    $run.Analysis = if (-not $run.Quick -and (Test-Path $analysisPath)) { Get-Content -Raw $analysisPath } else { $null }
    ConvertTo-BenchMarkdown -Run $run | Set-Content -Path $mdPath -NoNewline
    Write-Host "== Wrote $mdPath from $jsonPath"
    exit 0
}

# What the lab and the contenders need (repmgr, sshd, ...): build.ps1 -Task Bench installs it; run directly, name what is missing.
. (Join-Path $root 'tools/Prerequisites.ps1')
$missing = @(Get-MissingPrerequisite -Scope $(if (@($Case | Where-Object { $_ -ne 'Startup' }).Count) { 'Lab', 'Bench' } else { @() }))
if ($missing) {
    throw "The benchmark needs packages this machine lacks ($($missing.Package -join ', ')): run 'dotnet pwsh ./build.ps1 -Task Bench', which installs them (as root), or install them yourself."
}

Import-Module (Join-Path $root 'tests/Lab/PgLab.psd1')
Import-Module (Join-Path $PSScriptRoot 'PgBench.psm1')
. (Join-Path $PSScriptRoot 'BenchCases.ps1')
if ('AutoFailover' -in $Case) { . (Join-Path $PSScriptRoot 'AutoFailoverCase.ps1') }
Initialize-PgBench -ModulePath $ModulePath -BaselineModulePath $BaselineModulePath

if ($Quick) { $Runs = 1 }
New-Item -ItemType Directory -Force $OutputDirectory | Out-Null
$command = if ($allCases) { 'dotnet pwsh ./build.ps1 -Task Bench' + $(if ($Quick) { ' -Quick' } elseif ($Runs -ne 5) { " (bench/Invoke-PgBenchmark.ps1 -Runs $Runs)" }) }
else { "dotnet pwsh bench/Invoke-PgBenchmark.ps1 -ModulePath $ModulePath -Case $($Case -join ',')" + $(if ($Quick) { ' -Quick' } elseif ($Runs -ne 5) { " -Runs $Runs" }) +
    $(if ($BuildSize.Count -eq 1) { " -BuildSize $BuildSize" }) + $(if ($BuildRuns) { " -BuildRuns $BuildRuns" }) }
$machine = Get-BenchMachine
$clock = [Diagnostics.Stopwatch]::StartNew()
$cases = [Collections.Generic.List[object]]::new()
$expected = [Collections.Generic.List[string]]::new()
Write-Host "== Benchmarks: $($Case -join ', '); $Runs run(s) each; $($machine.Processors) processors, load $($machine.LoadAverage)" -ForegroundColor Cyan

# A case that cannot run at all (its lab, its setup) is recorded as failed; the others still run.
function Invoke-Guarded([string] $Name, [string[]] $Ids, [scriptblock] $Body) {
    $expected.AddRange($Ids)
    Write-Host "== $Name" -ForegroundColor Cyan
    try { foreach ($result in @(& $Body)) { $cases.Add($result) } }
    catch {
        $text = Get-BenchErrorText $_
        Write-Host "== $Name failed: $text" -ForegroundColor Red
        Write-Host $_.ScriptStackTrace
        foreach ($id in $Ids | Where-Object { $i = $_; -not ($cases | Where-Object Id -EQ $i) }) {
            $cases.Add([pscustomobject]@{ Id = $id; Group = $Name; Title = $id; Method = ''; Figures = [ordered]@{}; Contenders = @(); Ratios = @(); Data = @{}; Error = $text })
        }
    }
}

$buildSizes = if ($Quick) { @(@{ Id = 'build-small'; Scale = 2; Title = 'Small database' }) }
else { @(@{ Id = 'build-1GiB'; Scale = 70; Title = '1 GiB' }, @{ Id = 'build-4GiB'; Scale = 270; Title = '4 GiB' }) | Where-Object { $_.Id -replace '^build-' -in $BuildSize } }
$fanoutSizes = 1, 2, 3, 7

if ('Build' -in $Case) {
    Invoke-Guarded '1. Standby build' @($buildSizes.Id) {
        $cluster = New-BenchCluster -HostCount 2 -Scale 0
        try {
            foreach ($size in $buildSizes) {
                Write-Host "   pgbench -i -s $($size.Scale)"
                Initialize-BenchData -Cluster $cluster -Scale $size.Scale
                Invoke-BuildCase -Cluster $cluster -Runs $Runs -Id $size.Id -Title $size.Title -BuildRuns $BuildRuns
            }
        }
        finally { Remove-PgLab -Lab $cluster.Lab }
    }
}

$clusterCases = @($Case | Where-Object { $_ -in 'Failover', 'Switchover', 'Fanout' })
if ($clusterCases) {
    $ids = @(if ('Failover' -in $Case) { 'failover', 'failover-at-crash' }) + @(if ('Switchover' -in $Case) { 'switchover' }) + @(if ('Fanout' -in $Case) { $fanoutSizes | ForEach-Object { "fanout-$_" } })
    Invoke-Guarded '2-4. Failover, switchover, fan-out' $ids {
        # One lab for the three: cases 2 and 3 use hosts 1-3; case 4 (last) all eight.
        $cluster = New-BenchCluster -HostCount $(if ('Fanout' -in $Case) { 8 } else { 3 }) -Scale $(if ($Quick) { 1 } else { 5 })
        try {
            if ('Failover' -in $Case) {
                Invoke-FailoverCase -Cluster $cluster -Runs $Runs
                Invoke-FailoverAtCrashCase -Cluster $cluster -Runs $Runs
            }
            if ('Switchover' -in $Case) { Invoke-SwitchoverCase -Cluster $cluster -Runs $Runs }
            if ('Fanout' -in $Case) { Invoke-FanoutCase -Cluster $cluster -Runs $Runs -Size $fanoutSizes }
        }
        finally { Remove-PgLab -Lab $cluster.Lab }
    }
}

if ('Startup' -in $Case) { Invoke-Guarded '5. Start-up' @('startup') { Invoke-StartupCase -Runs ([Math]::Max($Runs, $(if ($Quick) { 1 } else { 20 }))) -ModulePath $ModulePath -BaselineModulePath $BaselineModulePath } }
if ('AutoFailover' -in $Case) {
    Invoke-Guarded '6. Automatic failover' @('autofailover-postmaster', 'autofailover-host') {
        # Two labs of 3 hosts, one per contender, each handed to its failover manager once.
        $scale = if ($Quick) { 1 } else { 5 }
        $patroni = $repmgrd = $null
        try {
            $patroni = New-AutoFailoverLab -Manager Patroni -Scale $scale
            $repmgrd = New-AutoFailoverLab -Manager Repmgrd -Scale $scale
            Invoke-AutoFailoverCase -Patroni $patroni -Repmgrd $repmgrd -Runs $Runs
        }
        finally { foreach ($c in @($patroni, $repmgrd) | Where-Object { $_ }) { Remove-AutoFailoverLab $c } }
    }
}
if ('Demo' -in $Case) { Invoke-Guarded 'The demo' @('demo') { Invoke-DemoCase -ModulePath $ModulePath } }

# The targets of issue 8 (and 19, 20), on warm figures (automatic failover: the Patroni contender).
$targets = @(
    foreach ($size in $buildSizes) {
        # Issue 20 (issue 8 asked 1.05 x and 0.95 x).
        @{ Text = "Standby build, $($size.Title): PgReplication <= 0.7 x the raw commands"; Kind = 'Ratio'; Case = $size.Id; Metric = 'streaming'; Of = 'ours-warm'; To = 'raw'; Limit = 0.7 }
        @{ Text = "Standby build, $($size.Title): PgReplication <= 0.7 x repmgr"; Kind = 'Ratio'; Case = $size.Id; Metric = 'streaming'; Of = 'ours-warm'; To = 'repmgr'; Limit = 0.7 }
    }
    if (-not $Quick) {
        $small, $large = $cases | Where-Object Id -In 'build-1GiB', 'build-4GiB' | Sort-Object Id
        $dataRatio = if ($small -and $large) { [double] $large.Data.DatabaseBytes / $small.Data.DatabaseBytes } else { 4 }
        foreach ($key in 'ours-warm', 'raw', 'repmgr') {
            $who = @{ 'ours-warm' = 'PgReplication'; raw = 'raw commands'; repmgr = 'repmgr' }[$key]
            @{ Text = "Standby build, $who`: 4 GiB / 1 GiB time no more than linear ($([string]::Format([cultureinfo]::InvariantCulture, '{0:0.00}', $dataRatio)) x the data, +10 %)"
                Kind = 'Growth'; Case = 'build-4GiB'; Base = 'build-1GiB'; Metric = 'streaming'; Of = $key; Limit = 1.1 * $dataRatio }
        }
    }
    @{ Text = 'Failover: writable <= 1.0 s'; Kind = 'Absolute'; Case = 'failover'; Metric = 'writable'; Of = 'ours-warm'; Limit = 1.0; Unit = 's' }
    @{ Text = 'Failover: sibling streaming <= 2.0 s'; Kind = 'Absolute'; Case = 'failover'; Metric = 'siblings'; Of = 'ours-warm'; Limit = 2.0; Unit = 's' }
    @{ Text = 'Failover: writable <= 0.8 x repmgr'; Kind = 'Ratio'; Case = 'failover'; Metric = 'writable'; Of = 'ours-warm'; To = 'repmgr'; Limit = 0.8 }
    @{ Text = 'Failover: sibling streaming <= 0.8 x repmgr'; Kind = 'Ratio'; Case = 'failover'; Metric = 'siblings'; Of = 'ours-warm'; To = 'repmgr'; Limit = 0.8 }
    @{ Text = 'Failover (issue 19): sibling streaming <= 1.5 x raw SQL'; Kind = 'Ratio'; Case = 'failover'; Metric = 'siblings'; Of = 'ours-warm'; To = 'raw'; Limit = 1.5 }
    @{ Text = 'Failover at the crash (issue 19): writable <= 1.5 x raw pg_promote(false), in every round'; Kind = 'RatioEvery'; Case = 'failover-at-crash'; Metric = 'writable'; Of = 'ours-warm'; To = 'raw'; Limit = 1.5 }
    @{ Text = 'Switchover: <= 1.0 x repmgr'; Kind = 'Ratio'; Case = 'switchover'; Metric = 'switchover'; Of = 'ours-warm'; To = 'repmgr'; Limit = 1.0 }
    @{ Text = 'Switchover: no acknowledged write lost (PgReplication)'; Kind = 'Zero'; Case = 'switchover'; Metric = 'lost'; Of = 'ours-warm' }
    @{ Text = 'Switchover: no acknowledged write lost (repmgr, for reference)'; Kind = 'Zero'; Case = 'switchover'; Metric = 'lost'; Of = 'repmgr' }
    @{ Text = 'Health check, 1 primary + 2 standbys: Test-PgReplication <= 1.0 x repmgr cluster show'; Kind = 'Ratio'; Case = 'fanout-2'; Metric = 'check'; Of = 'ours-warm'; To = 'repmgr'; Limit = 1.0 }
    @{ Text = 'Health check: 7 standbys <= 1.5 x the time of 1'; Kind = 'Growth'; Case = 'fanout-7'; Base = 'fanout-1'; Metric = 'check'; Of = 'ours-warm'; Limit = 1.5 }
    @{ Text = 'Automatic failover (issue 19), postmaster killed: PgReplication + Patroni writable <= 0.5 x repmgrd'; Kind = 'Ratio'; Case = 'autofailover-postmaster'; Metric = 'writable'; Of = 'patroni'; To = 'repmgrd'; Limit = 0.5 }
    @{ Text = 'Automatic failover (issue 19), primary host crashed: PgReplication + Patroni writable <= 0.5 x repmgrd'; Kind = 'Ratio'; Case = 'autofailover-host'; Metric = 'writable'; Of = 'patroni'; To = 'repmgrd'; Limit = 0.5 }
    @{ Text = 'Automatic failover, postmaster killed: no acknowledged write lost (PgReplication + Patroni)'; Kind = 'Zero'; Case = 'autofailover-postmaster'; Metric = 'lost'; Of = 'patroni' }
    @{ Text = 'Automatic failover, postmaster killed: no acknowledged write lost (repmgrd, for reference)'; Kind = 'Zero'; Case = 'autofailover-postmaster'; Metric = 'lost'; Of = 'repmgrd' }
    @{ Text = 'Automatic failover, host crashed: no acknowledged write lost (PgReplication + Patroni; asynchronous: for reference)'; Kind = 'Zero'; Case = 'autofailover-host'; Metric = 'lost'; Of = 'patroni' }
    @{ Text = 'Automatic failover, host crashed: no acknowledged write lost (repmgrd, asynchronous: for reference)'; Kind = 'Zero'; Case = 'autofailover-host'; Metric = 'lost'; Of = 'repmgrd' }
    @{ Text = 'Start-up: Import-Module <= 150 ms over a bare pwsh start'; Kind = 'Absolute'; Case = 'startup'; Metric = 'import'; Of = 'import-cost'; Limit = 0.150; Unit = 's' }
    @{ Text = 'Start-up: working set added <= 30 MB'; Kind = 'Absolute'; Case = 'startup'; Metric = 'addedMB'; Of = 'workingset'; Limit = 30; Unit = 'MB' }
)

$summary = @(Get-BenchSummary -Cases $cases.ToArray())
$problems = @(Get-BenchProblems -Cases $summary -Expected $expected.ToArray() -Strict:$Quick)
$run = [pscustomobject]@{
    Command = $command; Quick = [bool] $Quick; Runs = $Runs; Machine = $machine
    LoadAverageEnd = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
    DurationMinutes = $clock.Elapsed.TotalMinutes
    Targets = @(foreach ($t in $targets) { Test-BenchTarget -Target $t -Cases $summary })
    Problems = $problems
    Cases = $summary
    Analysis = if (-not $Quick -and (Test-Path $analysisPath)) { Get-Content -Raw $analysisPath } else { $null }
}
$run | ConvertTo-Json -Depth 12 | Set-Content -Path $jsonPath
ConvertTo-BenchMarkdown -Run $run | Set-Content -Path $mdPath -NoNewline
Write-Host "== Wrote $mdPath and $jsonPath in $([string]::Format([cultureinfo]::InvariantCulture, '{0:0.0}', $clock.Elapsed.TotalMinutes)) min" -ForegroundColor Cyan
foreach ($t in $run.Targets) { Write-Host ("   {0,-12} {1}: {2}" -f $t.Result, $t.Text, $t.Measured) }
if ($problems) {
    Write-Host "== Incomplete: $($problems.Count) figure(s) missing or failed" -ForegroundColor Red
    foreach ($p in $problems) { Write-Host "   $p" -ForegroundColor Red }
    exit 1
}
Write-Host '== Every figure produced' -ForegroundColor Green
exit 0
