<#
.SYNOPSIS
    Not part of the run: what one warm health check costs with 1 and with 7 standbys, many times over, in wall
    time and in this process's CPU. The fan-out case takes 11 figures of a few milliseconds; this takes
    hundreds, and the CPU figure shows where a 2-core host's time goes (the client's share of it).
.EXAMPLE
    dotnet pwsh bench/Measure-CheckCost.ps1 -ModulePath out/PgReplication
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [ValidateRange(10, 10000)] [int] $Checks = 300
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = Split-Path -Parent $PSScriptRoot
Import-Module (Join-Path $root 'tests/Lab/PgLab.psd1')
Import-Module (Join-Path $PSScriptRoot 'PgBench.psm1')
Initialize-PgBench -ModulePath (Resolve-Path $ModulePath).Path

$cluster = New-BenchCluster -HostCount 8 -Scale 1
try {
    $all = Reset-BenchCluster -Cluster $cluster -Standby ($cluster.Hosts | Select-Object -Skip 1)
    $me = [Diagnostics.Process]::GetCurrentProcess()
    foreach ($k in 1, 7) {
        Set-BenchRunningStandby -Cluster $cluster -Standby @($cluster.Hosts[1..$k])
        Start-Sleep -Seconds 5
        $nodes = @($all.Primary) + @($all.Standbys[0..($k - 1)])
        # Warm: pooled connections open, statements prepared, threads started.
        foreach ($i in 1..20) { $null = @($nodes | Test-PgReplication) }
        $wall = [Collections.Generic.List[double]]::new()
        $me.Refresh(); $cpuBefore = $me.TotalProcessorTime.TotalMilliseconds
        foreach ($i in 1..$Checks) {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $healthy = @($nodes | Test-PgReplication | Where-Object IsHealthy).Count
            $wall.Add($clock.Elapsed.TotalMilliseconds)
            if ($healthy -ne $k) { throw "Test-PgReplication found $healthy healthy standbys of $k." }
        }
        $me.Refresh(); $cpu = ($me.TotalProcessorTime.TotalMilliseconds - $cpuBefore) / $Checks
        $sorted = @($wall | Sort-Object)
        '{0} standby(s): {1} checks, wall median {2:0.00} ms (quartiles {3:0.00} to {4:0.00}), this process''s CPU {5:0.00} ms per check' -f $k, $Checks,
            $sorted[[int]($sorted.Count / 2)], $sorted[[int]($sorted.Count / 4)], $sorted[[int]($sorted.Count * 3 / 4)], $cpu
    }
}
finally { Remove-PgLab -Lab $cluster.Lab }
