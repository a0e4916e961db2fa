# Case 6 (issue 19): automatic failover. PgReplication + Patroni (Enable-PgAutoFailover) against repmgrd, each on a
# lab of its own (3 hosts, the same setup as the other cases), in the same rounds. Dot-sourced by
# Invoke-PgBenchmark.ps1 when the AutoFailover case runs.

# The acceptance suites' helpers for a crashed host (tests/Acceptance): Get-LabProcess (a host's processes, by its
# namespace), Stop-LabHostHa (kill -9 by PID of the supervisors, Patroni, etcd and postgres), Start-LabHostHa (the
# host boots again: etcd and Patroni), New-RestApiCredential and $PatroniDirectory.
. (Join-Path $PSScriptRoot '../tests/Acceptance/Faults/FaultSuite.ps1')
. (Join-Path $PSScriptRoot '../tests/Acceptance/PatroniLab.ps1')

# Each contender with the fastest failover its documentation allows (see the case's method text).
# Patroni: the minimums its documentation gives for ttl (20) and loop_wait (1); retry_timeout 6, not its minimum 3, as
# the module's documentation asks with three etcd members (with 3 s one etcd member down demoted the primary; docs/design.md).
# loop_wait + 2 x retry_timeout <= ttl holds (Enable-PgAutoFailover refuses otherwise). Patroni 3.0.2 (here) would take
# a smaller ttl (its validator has no minimum); the documentation of 3.2 and later states 20.
# primary_start_timeout 0: a crashed postmaster is failed over at once, the documentation's fastest and the trade repmgrd
# makes (asynchronous, so a tail may be lost: counted for both).
$AutoFailoverPatroni = [ordered]@{ ttl = 20; loop_wait = 1; retry_timeout = 6; primary_start_timeout = 0 }
# repmgrd: its smallest intervals (the documented defaults, 2 s, 6 attempts, 10 s apart, wait a minute before failing over).
$AutoFailoverRepmgrd = [ordered]@{ monitor_interval_secs = 1; reconnect_attempts = 1; reconnect_interval = 1 }

function New-AutoFailoverLab {
    <#
    .SYNOPSIS
        A bench cluster of 3 hosts (New-BenchCluster: host 1 primary, pgbench data) with hosts 2 and 3 built by the
        pipeline, then handed to its manager: Patroni and etcd by Enable-PgAutoFailover, or repmgrd on every host.
    #>
    param([Parameter(Mandatory)] [ValidateSet('Patroni', 'Repmgrd')] [string] $Manager, [Parameter(Mandatory)] [int] $Scale)
    $cluster = New-BenchCluster -HostCount 3 -Scale $Scale
    try {
        if ($Manager -eq 'Patroni') {
            $nodes = Reset-BenchCluster -Cluster $cluster -Standby $cluster.Hosts[1..2]
            @($nodes.Primary) + @($nodes.Standbys) | Enable-PgAutoFailover -RestApiCredential (New-RestApiCredential) -TtlSeconds $AutoFailoverPatroni.ttl `
                -LoopWaitSeconds $AutoFailoverPatroni.loop_wait -RetryTimeoutSeconds $AutoFailoverPatroni.retry_timeout -PrimaryStartTimeoutSeconds $AutoFailoverPatroni.primary_start_timeout -Confirm:$false | Out-Null
            $null = Wait-AutoFailoverHealthy $cluster
        }
        else {
            # The standbys copy shared_preload_libraries (postgresql.auto.conf) from the primary.
            Enable-BenchRepmgrd -Cluster $cluster -Setting $AutoFailoverRepmgrd
            $null = Reset-BenchCluster -Cluster $cluster -Standby $cluster.Hosts[1..2]
            foreach ($h in $cluster.Hosts) { Start-BenchRepmgrd -LabHost $h | Out-Null }
        }
        $cluster
    }
    catch { Remove-PgLab -Lab $cluster.Lab; throw }
}

function Remove-AutoFailoverLab($Cluster) {
    # repmgrd by its PID file; Remove-PgLab then kills what is left of each host (etcd, Patroni, supervisors, postgres) by PID.
    foreach ($h in $Cluster.Hosts) { try { Stop-BenchRepmgrd -LabHost $h } catch { Write-Host "  $($h.Name): $(Get-BenchErrorText $_)" -ForegroundColor Yellow } }
    Remove-PgLab -Lab $Cluster.Lab
}

function Wait-AutoFailoverHealthy {
    <#
    .SYNOPSIS
        Until exactly one host accepts writes and the two others stream from it (and, under Patroni, every etcd member
        answers its health check); returns that host.
    #>
    param([Parameter(Mandatory)] $Cluster, [int] $TimeoutSeconds = 240)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $password = $Cluster.AdminPassword
    while ($true) {
        $writable = @($Cluster.Hosts | Where-Object { try { (Invoke-BenchSql $_.Address $password 'SELECT NOT pg_catalog.pg_is_in_recovery()') -eq $true } catch { $false } })
        if ($writable.Count -eq 1) { break }
        if ([DateTime]::UtcNow -gt $deadline) { throw "$($writable.Count) hosts accepted writes after $TimeoutSeconds s (wanted one): $($writable.Name -join ', ')." }
        Start-Sleep -Milliseconds 200
    }
    $leader = $writable[0]
    foreach ($h in $Cluster.Hosts | Where-Object { $_ -ne $leader }) {
        Wait-BenchStreaming -Address $h.Address -Sender $leader.Address -Password $password -TimeoutSeconds ([Math]::Max(10, ($deadline - [DateTime]::UtcNow).TotalSeconds))
    }
    if (Get-LabProcess $leader 'etcd --config-file*') {
        foreach ($h in $Cluster.Hosts) {
            $health = @('etcdctl', '--endpoints', "https://$($h.Address):2379", '--cacert', "$PatroniDirectory/ca.crt", '--cert', "$PatroniDirectory/node.crt",
                '--key', "$PatroniDirectory/node.key", '--dial-timeout', '2s', '--command-timeout', '3s', 'endpoint', 'health')
            while ($true) {
                try { Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList $health -TimeoutSeconds 20 | Out-Null; break }
                catch { if ([DateTime]::UtcNow -gt $deadline) { throw "$($h.Name): its etcd member is not healthy: $(Get-BenchErrorText $_)" } }
                Start-Sleep -Milliseconds 500
            }
        }
    }
    $leader
}

# The host crashes: kill -9 by PID of everything the failover managers run on it (repmgrd first; then the supervisors,
# Patroni, etcd and postgres, as the fault suite does).
function Stop-BenchHost($LabHost) {
    foreach ($p in @(Get-LabProcess $LabHost '*/repmgrd *')) { kill -9 $p.Id 2>$null }
    Stop-LabHostHa $LabHost
}

function Get-AutoFailoverEvents {
    <#
    .SYNOPSIS
        What the manager on $LabHost says it did since $Since (UTC): Patroni's log lines but its every-loop ones, or
        repmgrd's NOTICE, WARNING and ERROR lines, as seconds after $Since (repmgrd logs whole seconds), at most $Count, on one line.
    #>
    param([Parameter(Mandatory)] $LabHost, [Parameter(Mandatory)] [DateTime] $Since, [int] $Count = 16)
    $patroni = Get-LabProcess $LabHost '*/bin/patroni *'
    $log, $pattern, $format = if ($patroni) { "$PatroniDirectory/patroni.log", '^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+: (.*)$', 'yyyy-MM-dd HH:mm:ss,fff' }
    else { '/var/lib/postgresql/repmgrd.log', '^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] \[(?:NOTICE|WARNING|ERROR)\] (.*)$', 'yyyy-MM-dd HH:mm:ss' }
    $lines = (Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList tail, -n, 200, $log) -split "`n"
    $seen = foreach ($l in $lines) {
        # Patroni's every-loop lines (and the lock renewed while a step runs) and its REST calls' bodies say nothing about the steps.
        if ($l -notmatch $pattern -or $Matches[2] -match '^(no action|Lock owner|Got response from|Request failed to|Could not activate Linux watchdog|redirecting logging|updated leader lock during (doing crash recovery|restarting after failure))') { continue }
        $at = [DateTime]::ParseExact($Matches[1], $format, [cultureinfo]::InvariantCulture, [Globalization.DateTimeStyles]::AssumeLocal).ToUniversalTime()
        # repmgrd's whole seconds: a line of the kill's own second counts.
        if ($at -lt $Since.AddSeconds($(if ($patroni) { 0 } else { -1 }))) { continue }
        [string]::Format([cultureinfo]::InvariantCulture, '+{0:0.0} s {1}', ($at - $Since).TotalSeconds, ((($Matches[2] -replace '\s+', ' ').Trim()) -replace '^(.{120}).+$', '$1...'))
    }
    (@($seen) | Select-Object -First $Count) -join '; '
}

# The probe of an automatic failover, in a thread of its own. See Start-AutoFailoverProbe.
$AutoFailoverProbe = {
    param($WriteConnectionString, $Targets, $Crashed, $State, $TimeoutSeconds)
    function Get-Seconds { ([Diagnostics.Stopwatch]::GetTimestamp() - $State.Start) / [Diagnostics.Stopwatch]::Frequency }
    $State.Ready = $true
    $end = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not $State.ContainsKey('Go') -and [DateTime]::UtcNow -lt $end) { Start-Sleep -Milliseconds 1 }
    # A client's view: a new session through the multi-host connection string (read-write) every 20 ms, until one write is taken.
    $writer = $null; $writable = $null; $attempts = 0; $refused = $null
    while (-not $writer -and [DateTime]::UtcNow -lt $end) {
        $attempts++
        $c = [Npgsql.NpgsqlConnection]::new($WriteConnectionString)
        try {
            $c.Open()
            $cmd = $c.CreateCommand()
            $cmd.CommandText = 'INSERT INTO bench_probe DEFAULT VALUES RETURNING host(inet_server_addr())'
            $address = "$($cmd.ExecuteScalar())"
            $writable = Get-Seconds
            $writer = $Targets | Where-Object Address -EQ $address | Select-Object -First 1
            if (-not $writer) { $writer = [pscustomobject]@{ Name = $address; Address = $address } }
        }
        catch { $refused = $_.Exception.Message; Start-Sleep -Milliseconds 20 }
        finally { $c.Dispose() }
    }
    # Then every surviving standby streaming from that node, with a WAL receiver started after the crash.
    $siblings = @($Targets | Where-Object { $writer -and $_.Address -ne $writer.Address -and $_.Name -ne $Crashed })
    $streaming = @{}; $open = @{}
    while ($writer -and $streaming.Count -lt $siblings.Count -and [DateTime]::UtcNow -lt $end) {
        foreach ($t in $siblings | Where-Object { -not $streaming.ContainsKey($_.Name) }) {
            try {
                if (-not $open[$t.Name] -or $open[$t.Name].State -ne 'Open') {
                    if ($open[$t.Name]) { $open[$t.Name].Dispose() }
                    $open[$t.Name] = [Npgsql.NpgsqlConnection]::new($t.ConnectionString)
                    $open[$t.Name].Open()
                }
                $cmd = $open[$t.Name].CreateCommand()
                $cmd.CommandText = "SELECT coalesce((SELECT r.pid || ' ' || r.status || ' ' || r.sender_host FROM pg_catalog.pg_stat_wal_receiver r), '')"
                $receiverPid, $status, $sender = "$($cmd.ExecuteScalar())" -split ' '
                if ($status -eq 'streaming' -and $sender -eq $writer.Address -and $receiverPid -ne $t.ReceiverPid) { $streaming[$t.Name] = Get-Seconds }
            }
            catch { if ($open[$t.Name]) { $open[$t.Name].Dispose(); $open[$t.Name] = $null } }
        }
        Start-Sleep -Milliseconds 20
    }
    foreach ($c in $open.Values) { if ($c) { $c.Dispose() } }
    [pscustomobject]@{
        Writer = if ($writer) { $writer.Name } else { $null }; WriterAddress = if ($writer) { $writer.Address } else { $null }
        Writable = $writable; Attempts = $attempts; Refused = $refused; Siblings = @($siblings.Name)
        SiblingsStreaming = if ($writer -and $streaming.Count -eq $siblings.Count) { (@($streaming.Values) | Measure-Object -Maximum).Maximum } else { $null }
    }
}

function Start-AutoFailoverProbe {
    <#
    .SYNOPSIS
        Times an automatic failover from the bench host, the same way for both contenders: the first write the cluster
        accepts through a multi-host connection string (target_session_attrs read-write, 1 s connect timeout, a new
        session every 20 ms, whichever host takes it), then every other host but the crashed one streaming from that
        host with a WAL receiver newer than before the crash. The clock starts at Start-BenchClock; attempts begin
        when State.Go is set (after the kill).
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [string] $Crashed, [Parameter(Mandatory)] [hashtable] $ReceiverPid, [int] $TimeoutSeconds = 180)
    $password = $Cluster.AdminPassword
    $state = [hashtable]::Synchronized(@{})
    $writes = New-BenchConnectionString @($Cluster.Hosts | ForEach-Object Address) $password @{ 'Target Session Attributes' = 'read-write'; 'Host Recheck Seconds' = 0; Timeout = 1 }
    $targets = @($Cluster.Hosts | ForEach-Object {
            [pscustomobject]@{ Name = $_.Name; Address = $_.Address; ConnectionString = (New-BenchConnectionString $_.Address $password @{ Timeout = 1 }); ReceiverPid = $ReceiverPid[$_.Name] }
        })
    $job = Start-ThreadJob -ScriptBlock $AutoFailoverProbe -ArgumentList $writes, $targets, $Crashed, $state, $TimeoutSeconds
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not $state.ContainsKey('Ready')) {
        if ([DateTime]::UtcNow -gt $deadline) { $job | Remove-Job -Force; throw 'The failover probe did not start within 30 s.' }
        Start-Sleep -Milliseconds 5
    }
    [pscustomobject]@{ Job = $job; State = $state; TimeoutSeconds = $TimeoutSeconds }
}

function Complete-AutoFailoverProbe($Probe) {
    try { $r = $Probe.Job | Wait-Job -Timeout ($Probe.TimeoutSeconds + 30) | Receive-Job }
    finally { $Probe.Job | Remove-Job -Force }
    if ($null -eq $r -or $null -eq $r.Writable) { throw "No host accepted a write within $($Probe.TimeoutSeconds) s of the crash$(if ($r) { " ($($r.Attempts) attempts, the last refused: $($r.Refused))" })." }
    if ($null -eq $r.SiblingsStreaming) { throw "$($r.Writer) accepted a write at $([Math]::Round($r.Writable, 3)) s, but $($r.Siblings -join ', ') did not all stream from it within $($Probe.TimeoutSeconds) s." }
    $r
}

function Invoke-AutoFailoverCase {
    <#
    Case 6 (issue 19): the primary fails and nobody types anything. Two faults, each its own rounds: (a) kill -9 of the
    primary's postmaster only; (b) the primary host crashed (kill -9 of everything it runs). PgReplication + Patroni
    against repmgrd, each on its own lab, alternating, the order reversed every other round.
    #>
    param([Parameter(Mandatory)] $Patroni, [Parameter(Mandatory)] $Repmgrd, [Parameter(Mandatory)] [int] $Runs)
    $state = @{ NextId = 1; Down = @{}; Leader = @{} }
    # What a crash left (its processes; the host, when it crashed as a whole) is put back by that contender's next reset.
    $patroniReset = {
        $down = $state.Down['patroni']
        if ($down) {
            Wait-BenchProcessesGone $down.Processes
            if ($down.Host) { Start-LabHostHa $down.Host }   # the host boots again: etcd and Patroni (which rewinds and starts postgres)
            $state.Down.Remove('patroni')
        }
        $state.Leader['patroni'] = Wait-AutoFailoverHealthy $Patroni
        # Every member's key renewed since the others came back.
        Start-Sleep -Seconds (2 * $AutoFailoverPatroni.loop_wait)
    }
    $repmgrdReset = {
        foreach ($h in $Repmgrd.Hosts) { Stop-BenchRepmgrd -LabHost $h }
        $down = $state.Down['repmgrd']
        if ($down) { Wait-BenchProcessesGone $down.Processes; $state.Down.Remove('repmgrd') }
        # Host 1 primary again, hosts 2 and 3 copied from it and registered; then repmgrd on each, monitoring.
        $null = Reset-BenchCluster -Cluster $Repmgrd -Standby $Repmgrd.Hosts[1..2]
        foreach ($h in $Repmgrd.Hosts) { Start-BenchRepmgrd -LabHost $h | Out-Null }
        $state.Leader['repmgrd'] = $Repmgrd.PrimaryHost
    }
    $crash = {
        param($Cluster, [string] $Key, [string] $Fault)
        $leader = $state.Leader[$Key]
        $password = $Cluster.AdminPassword
        $receivers = @{}
        foreach ($h in $Cluster.Hosts) { $receivers[$h.Name] = "$(try { Invoke-BenchSql $h.Address $password 'SELECT pid FROM pg_catalog.pg_stat_wal_receiver' } catch { '' })" }
        # Acknowledged writes through the same kind of connection string, from 1 s before the crash until the end.
        $load = Start-BenchWriteLoad -Address @($Cluster.Hosts | ForEach-Object Address) -Password $password -FirstId $state.NextId
        $state.NextId += 1000000
        try {
            $probe = Start-AutoFailoverProbe -Cluster $Cluster -Crashed $leader.Name -ReceiverPid $receivers
            try {
                Start-Sleep -Seconds 1
                $processes = Get-BenchPostmaster $leader
                $state.Down[$Key] = @{ Processes = $processes; Host = if ($Fault -eq 'host') { $leader } else { $null } }
                $killedAt = [DateTime]::UtcNow
                Start-BenchClock $probe
                if ($Fault -eq 'postmaster') { [Diagnostics.Process]::GetProcessById($processes.Postmaster).Kill() } else { Stop-BenchHost $leader }
                # No write attempt before the postmaster is dead: its listening socket goes with it.
                Wait-BenchProcessesGone ([pscustomobject]@{ Postmaster = $processes.Postmaster; Children = @() })
                $probe.State.Go = $true
            }
            catch { $probe.Job | Remove-Job -Force; throw }
            $found = Complete-AutoFailoverProbe $probe
        }
        finally { $writes = Stop-BenchWriteLoad $load }
        $how = if ($found.Writer -eq $leader.Name) { 'restarted in place' } else { "failed over from $($leader.Name)" }
        # The manager's own account, from the host that took the write: where the time went.
        $writer = $Cluster.Hosts | Where-Object Name -EQ $found.Writer
        $events = try { Get-AutoFailoverEvents -LabHost $writer -Since $killedAt } catch { "its log not read: $(Get-BenchErrorText $_)" }
        @{ writable = $found.Writable; siblings = $found.SiblingsStreaming; lost = (Get-BenchLostCount $found.WriterAddress $password $writes.Acked)
            acked = $writes.Acked.Count; Note = "$($found.Writer) took the first write ($how): $events" }
    }
    $faults = @(
        @{ Id = 'autofailover-postmaster'; Fault = 'postmaster'; Title = "Primary's postmaster killed (kill -9), nobody at the keyboard (pgbench scale $($Patroni.Scale))" }
        @{ Id = 'autofailover-host'; Fault = 'host'; Title = "Primary host crashed (kill -9 of everything it runs), nobody at the keyboard (pgbench scale $($Patroni.Scale))" }
    )
    foreach ($f in $faults) {
        $fault = $f.Fault
        $contenders = @(
            @{ Key = 'patroni'; Name = 'PgReplication + Patroni'; Reset = $patroniReset; Run = { & $crash $Patroni 'patroni' $fault } }
            @{ Key = 'repmgrd'; Name = 'repmgrd'; Reset = $repmgrdReset; Run = { & $crash $Repmgrd 'repmgrd' $fault } }
        )
        $rounds = Invoke-BenchRounds -Contender $contenders -Runs $Runs -Case $f.Id
        New-BenchCase -Id $f.Id -Group '6. Automatic failover' -Title $f.Title `
            -Figures ([ordered]@{ writable = @('crash to the first write accepted (multi-host connection string)', 's')
                siblings = @('to every surviving standby streaming from that host', 's'); lost = @('acknowledged writes missing on it', 'count')
                acked = @('writes acknowledged during the run', 'count') }) -Contenders $rounds `
            -Ratios @(@{ Metric = 'writable'; Of = 'patroni'; To = 'repmgrd' }, @{ Metric = 'siblings'; Of = 'patroni'; To = 'repmgrd' }) `
            -Data @{ Patroni = $AutoFailoverPatroni; Repmgrd = $AutoFailoverRepmgrd } -Method (Get-AutoFailoverMethod)
    }
    # The last crash's processes gone before the labs are removed.
    foreach ($down in @($state.Down.Values)) { Wait-BenchProcessesGone $down.Processes }
}

function Get-AutoFailoverMethod {
    $patroni = ($AutoFailoverPatroni.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value)" }) -join ', '
    $repmgrd = ($AutoFailoverRepmgrd.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value)" }) -join ', '
    @"
Issue 19: the primary fails and nobody types anything. Two labs of 3 hosts, set up as in the other cases (host 1
primary, hosts 2 and 3 built by ``Invoke-PgBaseBackup | Enable-PgHotStandby``), then handed to their manager once:
PgReplication's ``Enable-PgAutoFailover`` (Patroni 3.0 and a 3-member etcd cluster with TLS on the same hosts; ${patroni}:
the minimum ttl and loop_wait Patroni's documentation gives, and the retry_timeout the module's documentation asks with
three etcd members, within Patroni's rule loop_wait + 2 x retry_timeout <= ttl; primary_start_timeout 0, failing over at once
after a crash of postgres rather than restarting it in place, as repmgrd does; maximum_lag_on_failover 1 MB) and repmgrd (repmgr 5.3, ``failover=automatic``,
``repmgr standby promote`` / ``repmgr standby follow`` as promote and follow commands, shared_preload_libraries repmgr;
$repmgrd, its smallest intervals: its documented defaults, 2 s, 6 attempts 10 s apart, wait a minute). The contenders
alternate, the order reversed every other round; each ratio is taken within a round.

Before each run: the contender's cluster healthy (one host writable, the two others streaming from it; Patroni's
etcd members healthy, then 2 loop_waits; repmgrd's cluster rebuilt with host 1 primary and repmgrd started on each host
and monitoring). A client thread writes acknowledged ids through a multi-host connection string (read-write) from 1 s
before the fault. The fault hits the current primary: (a) **postmaster**: kill -9 of its postmaster only (Patroni and
repmgrd stay alive; with primary_start_timeout 0 Patroni fails over rather than start PostgreSQL again in place, unless
no standby may be promoted: the figure is the cluster's first write, whichever host takes it, and the run's note names it); (b) **host**: the host crashed, kill -9
by PID of everything it runs (repmgrd; the supervisors, Patroni, its etcd member; postgres). The clock starts just
before the first kill. The probe (a thread of the bench) then opens a new session every 20 ms through the multi-host
connection string (target_session_attrs read-write, 1 s connect timeout) until an INSERT is acknowledged, and records
the host that took it; then it polls every other surviving host every 20 ms until its ``pg_stat_wal_receiver`` streams
from that host with a WAL receiver started after the crash. Acknowledged ids missing on that host afterwards are
counted (asynchronous replication: both may lose the primary's last commits; Patroni refuses to promote a standby
more than 1 MB behind, repmgrd promotes the most advanced one). Guarantees the timings do not show: Patroni promotes
only the holder of the leader key in etcd (a quorum), so a partitioned primary is demoted within the TTL (the fault
suite, docs/reliability.md); repmgrd has no fencing: a partitioned primary keeps taking writes while a standby is
promoted (split brain). Patroni's failover on a host crash waits for the dead leader's key to expire (the TTL).
"@
}
