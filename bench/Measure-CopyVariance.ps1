<#
.SYNOPSIS
    How much the same pg_basebackup varies from run to run on this machine, and whether the way it is started
    matters: the raw commands' way (inside the host's namespace), over the ssh client, and by
    Invoke-PgBaseBackup. Prints one line per run; changes nothing outside the lab it makes and removes.
.DESCRIPTION
    Written to test a reading of the standby build case (bench/analysis.md): the cmdlet's pg_basebackup took
    longer than the raw one's in most pairs. If identical commands vary more than that, five pairs cannot
    tell a cause apart from the machine's noise. Needs root (the lab), like the benchmark.
.EXAMPLE
    dotnet pwsh bench/Measure-CopyVariance.ps1 -ModulePath out/PgReplication -Scale 70 -Rounds 3
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    # pgbench scale of the primary's data: 70 is the 1 GiB of the build case.
    [int] $Scale = 70,
    [int] $Rounds = 3
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = Split-Path -Parent $PSScriptRoot
Import-Module (Join-Path $root 'tests/Lab/PgLab.psd1')
Import-Module (Join-Path $PSScriptRoot 'PgBench.psm1')
Initialize-PgBench -ModulePath (Resolve-Path $ModulePath).Path

$cluster = New-BenchCluster -HostCount 2 -Scale 0
try {
    Initialize-BenchData -Cluster $cluster -Scale $Scale
    $p, $s = $cluster.Hosts[0..1]
    $known = $cluster.Lab.KnownHostsPath
    $primary = New-BenchNode $p -Credential $cluster.Admin -KnownHostsPath $known
    $reset = {
        if (Test-PgLabPostgres -LabHost $s) { Stop-PgLabPostgres -LabHost $s }
        Invoke-BenchShell -LabHost $s -Script 'mkdir -p -m 0700 "$1" && find "$1" -mindepth 1 -delete' -ArgumentList $s.DataDirectory -TimeoutSeconds 900 | Out-Null
        Clear-BenchSlots $cluster
        sync
    }
    $conninfo = & (Get-Module PgBench) { Get-RawConninfo $args[0] $args[1] } $p $s
    $overSsh = "/usr/lib/postgresql/15/bin/pg_basebackup -d '$conninfo' -D '$($s.DataDirectory)' -X stream -c fast --progress --no-password -S variance -C"
    $show = { param($Round, $What, $Seconds) Write-Host ('#{0} {1,-34} {2:0.000} s' -f $Round, $What, $Seconds) }
    for ($round = 1; $round -le $Rounds; $round++) {
        & $reset
        & $show $round 'raw commands (in the namespace)' (Invoke-RawStandbyBuild -Cluster $cluster -LabHost $s).CopySeconds
        & $reset
        $clock = [Diagnostics.Stopwatch]::StartNew()
        ssh -i $s.PostgresKeyPath -o "UserKnownHostsFile=$known" -o StrictHostKeyChecking=yes -o BatchMode=yes "postgres@$($s.Address)" $overSsh 2>$null
        if ($LASTEXITCODE -ne 0) { throw "pg_basebackup over ssh failed on $($s.Name) (exit $LASTEXITCODE)." }
        & $show $round 'the same over the ssh client' $clock.Elapsed.TotalSeconds
        & $reset
        $node = New-BenchNode $s -Credential $cluster.Admin -KnownHostsPath $known -NoConnect
        $steps = $node | Invoke-PgBaseBackup -Primary $primary -Credential $cluster.Replication -Confirm:$false -Verbose 4>&1
        $finished = @($steps | ForEach-Object { "$_" } | Where-Object { $_ -match 'pg_basebackup finished in ([\d.]+) s' }) | Select-Object -First 1
        if ($finished -notmatch 'in ([\d.]+) s') { throw 'Invoke-PgBaseBackup did not report its pg_basebackup time.' }
        & $show $round 'Invoke-PgBaseBackup (its own step)' ([double]::Parse($Matches[1], [cultureinfo]::InvariantCulture))
    }
}
finally { Remove-PgLab -Lab $cluster.Lab }
