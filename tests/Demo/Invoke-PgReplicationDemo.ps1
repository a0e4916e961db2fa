<#
.SYNOPSIS
    The main job, on this machine: a primary and two hot standbys as local clusters on 127.0.0.1,
    built with the module's own cmdlets, proven by rows written on the primary and read on both standbys.
.DESCRIPTION
    Needs no sshd and no namespaces: every node is reached through LocalShell. Clusters run as the
    current user, or as postgres when started by root (initdb refuses root).
    Exit code 0 only if every standby streamed and had the rows.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    # Keep the clusters running and print how to connect, instead of removing them.
    [switch] $Keep,
    [string] $BinDirectory = '/usr/lib/postgresql/15/bin'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module (Join-Path $ModulePath 'PgReplication.psd1') -Force

Import-Module (Join-Path $PSScriptRoot '../LocalCluster.psm1') -Force

$started = [Diagnostics.Stopwatch]::StartNew()
$clusters = New-LocalClusterRoot 'pgrepl-demo'
$root = $clusters.Root
$osUser = $clusters.OsUser
$ports = @{ primary = Get-FreePort; standby1 = Get-FreePort; standby2 = Get-FreePort }
$dataDirs = @{ primary = "$root/primary"; standby1 = "$root/standby1"; standby2 = "$root/standby2" }
$adminPassword = New-Secret
$admin = New-Credential 'postgres' $adminPassword
$replication = New-Credential 'replicator' (New-Secret)
$ok = $false

try {
    Write-Host "== A primary on 127.0.0.1:$($ports.primary) (initdb, SCRAM, as $osUser)" -ForegroundColor Cyan
    Start-LocalPrimary -Root $root -Name primary -Port $ports.primary -AdminPassword $adminPassword -BinDirectory $BinDirectory | Out-Null

    Write-Host '== The pipeline' -ForegroundColor Cyan
    $primary = New-PgNode -Local -Port $ports.primary -Credential $admin -Name primary
    $standbys = foreach ($name in 'standby1', 'standby2') {
        New-PgNode "127.0.0.1:$($ports[$name])" -Local -NoConnect -Credential $admin -Name $name
    }
    $primary | New-PgReplicationUser -Credential $replication |
        Set-PgMasterConfig -Standby $standbys -Restart -Confirm:$false | Out-Null
    foreach ($standby in $standbys) {
        $standby | Invoke-PgBaseBackup -Primary $primary -DataDirectory $dataDirs[$standby.Name] -Confirm:$false |
            Enable-PgHotStandby | Out-Null
    }
    $standbys | Format-Table | Out-String -Width 120 | Write-Host
    $health = @($primary, $standbys) | ForEach-Object { $_ } | Test-PgReplication
    $health | Format-Table | Out-String -Width 120 | Write-Host

    Write-Host '== Rows written on the primary, read on each standby' -ForegroundColor Cyan
    $rows = 1000
    $check = @{}
    Invoke-LocalSql $ports.primary $adminPassword "CREATE TABLE demo (id int PRIMARY KEY, note text); INSERT INTO demo SELECT g, 'row ' || g FROM generate_series(1, $rows) g" | Out-Null
    foreach ($standby in $standbys) {
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        do {
            try { $count = [int](Invoke-LocalSql $standby.Port $adminPassword 'SELECT count(*) FROM demo') } catch { $count = 0 }
            if ($count -ge $rows) { break }
            Start-Sleep -Milliseconds 200
        } while ([DateTime]::UtcNow -lt $deadline)
        $check[$standby.Name] = $count
        Write-Host ("{0,-10} {1} rows" -f $standby.Name, $count)
    }

    $streamed = @($health | Where-Object { $_.IsHealthy -and $_.State -eq 'streaming' }).Count
    $ok = $streamed -eq $standbys.Count -and @($check.Values | Where-Object { $_ -ge $rows }).Count -eq $standbys.Count
    Write-Host ("== {0}: {1} of {2} standbys streaming with all rows, in {3:0.0} s" -f ($ok ? 'OK' : 'FAILED'), $streamed, $standbys.Count, $started.Elapsed.TotalSeconds) -ForegroundColor ($ok ? 'Green' : 'Red')
}
catch {
    Write-Host "== FAILED: $_" -ForegroundColor Red
    Write-Host $_.ScriptStackTrace
}
finally {
    if ($Keep) {
        # The admin password goes to a 0600 password file of the user who ran the demo, never to the screen.
        $passFile = "$root/demo.pgpass"
        Set-Content -Path $passFile -Value ("127.0.0.1:*:*:postgres:" + $adminPassword.Replace('\', '\\').Replace(':', '\:')) -NoNewline
        chmod 600 $passFile
        Write-Host "Kept in $root. Connect with:"
        foreach ($name in 'primary', 'standby1', 'standby2') {
            Write-Host ("  PGPASSFILE={0} psql -h 127.0.0.1 -p {1} -U postgres    # {2}" -f $passFile, $ports[$name], $name)
        }
        Write-Host "Stop with: runuser -u $osUser -- $BinDirectory/pg_ctl -D <dir> stop   (dirs under $root)"
    }
    else {
        Remove-LocalClusterRoot $root $BinDirectory
        Write-Host "Removed $root."
    }
}
exit ($ok ? 0 : 1)
