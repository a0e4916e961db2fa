# The cases of issue 8, each a function that runs its contenders in alternating rounds and returns a case
# result: Id, Group, Title, Method, Figures (metric -> label and unit), Contenders (see Invoke-BenchRounds),
# Ratios (metric, Of, To: paired by round) and Data (measured facts of the setup). Dot-sourced by Invoke-PgBenchmark.ps1.

function New-BenchCase {
    param([string] $Id, [string] $Group, [string] $Title, [string] $Method, [System.Collections.Specialized.OrderedDictionary] $Figures,
        [object[]] $Contenders, [object[]] $Ratios = @(), [hashtable] $Data = @{})
    # With a baseline build (-BaselineModulePath): each figure of the cold run, this build against that one, round by round.
    if ($Contenders | Where-Object Key -EQ 'baseline-cold') {
        $cold = $Contenders | Where-Object Key -EQ 'ours-cold'
        $measured = @($Figures.Keys | Where-Object { $metric = $_; @($cold.Rounds | Where-Object { $_ -and $_.ContainsKey($metric) }).Count -gt 0 })
        $Ratios = @($Ratios) + @($measured | ForEach-Object { @{ Metric = $_; Of = 'ours-cold'; To = 'baseline-cold' } })
    }
    [pscustomobject]@{ Id = $Id; Group = $Group; Title = $Title; Method = $Method; Figures = $Figures; Contenders = $Contenders; Ratios = $Ratios; Data = $Data }
}

function Invoke-BuildCase {
    <# Case 1: an empty host to a streaming standby, from command start until pg_stat_wal_receiver says streaming. #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [int] $Runs, [Parameter(Mandatory)] [string] $Id, [Parameter(Mandatory)] [string] $Title,
        [int] $BuildRuns)
    $p, $s = $Cluster.Hosts[0..1]
    $known = $Cluster.Lab.KnownHostsPath
    $primary = New-BenchNode $p -Credential $Cluster.Admin -KnownHostsPath $known
    $bytes = Get-BenchDatabaseBytes $Cluster
    $state = @{}
    $reset = {
        if (Test-PgLabPostgres -LabHost $s) { Stop-PgLabPostgres -LabHost $s }
        # Emptied, then flushed: the last run's writes and the freed blocks' discards are done before the clock starts.
        Invoke-BenchShell -LabHost $s -Script 'mkdir -p -m 0700 "$1" && find "$1" -mindepth 1 -delete && sync' -ArgumentList $s.DataDirectory -TimeoutSeconds 900 | Out-Null
        Clear-BenchSlots $Cluster
        $state.Standby = New-BenchNode $s -Credential $Cluster.Admin -KnownHostsPath $known -NoConnect
    }
    # The cmdlets wait until the standby streams; the other contenders return before: every clock stops at streaming.
    $untilStreaming = {
        param([scriptblock] $Command)
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $run = & $Command
        Wait-BenchStreaming -Address $s.Address -Sender $p.Address -Password $Cluster.AdminPassword -TimeoutSeconds 600
        $figures = @{ streaming = $clock.Elapsed.TotalSeconds }
        # pg_basebackup's own time, where the contender shows it: the raw script's clock, the cmdlet's verbose steps.
        if ($run -and $run.PSObject.Properties['CopySeconds']) { $figures.copy = $run.CopySeconds }
        if ($run -and $run.PSObject.Properties['Profile']) {
            $figures.Profile = $run.Profile
            $steps = @{ copy = @('pg_basebackup from', 'pg_basebackup finished'); verify = @('pg_basebackup finished', 'pg_verifybackup checked')
                start = @('start the server', 'streaming from') }
            # -Method Parallel: the streams, from the backup's start to the last file sent.
            if ($run.Profile -match 'tar streams') { $steps.copy = @('backup started at', ' sent in '); $steps.Remove('verify') }
            foreach ($name in $steps.Keys) {
                $seconds = Get-BenchStepSeconds $run $steps[$name][0] $steps[$name][1]
                if ($null -ne $seconds) { $figures[$name] = $seconds }
            }
        }
        $figures
    }
    $contenders = @(
        @{ Key = 'ours-warm'; Name = 'PgReplication (warm)'; Reset = $reset; Run = {
                & $untilStreaming { Measure-BenchProfiled {
                        $state.Standby | Invoke-PgBaseBackup -Primary $primary -Credential $Cluster.Replication -Confirm:$false -Verbose |
                            Enable-PgHotStandby -Verbose } }
            }
        }
        @{ Key = 'ours-cold'; Name = 'PgReplication (cold)'; Reset = $reset; Run = {
                & $untilStreaming { Invoke-ColdPwsh -Cluster $Cluster -TimeoutSeconds 1800 -Command (
                        "Get-SpecNode '$($s.Name)' -NoConnect | Invoke-PgBaseBackup -Primary (Get-SpecNode '$($p.Name)') -Credential `$repl -Confirm:`$false | " +
                        'Enable-PgHotStandby | Out-Null') | Out-Null }
            }
        }
        @{ Key = 'raw'; Name = 'raw commands'; Reset = $reset; Run = { & $untilStreaming { Invoke-RawStandbyBuild -Cluster $Cluster -LabHost $s } } }
        @{ Key = 'repmgr'; Name = 'repmgr'; Reset = $reset; Run = { & $untilStreaming { Invoke-RepmgrStandbyBuild -Cluster $Cluster -LabHost $s } } }
        # The resumable method, side by side (issue 20): the default picks it from 64 GiB, not at these sizes.
        @{ Key = 'ours-parallel'; Name = 'PgReplication -Method Parallel (warm)'; Reset = $reset; Run = {
                & $untilStreaming { Measure-BenchProfiled {
                        $state.Standby | Invoke-PgBaseBackup -Primary $primary -Credential $Cluster.Replication -Method Parallel -Confirm:$false -Verbose |
                            Enable-PgHotStandby -Verbose } }
            }
        }
    )
    # One copy here varies by up to 1.8 x from run to run (bench/Measure-CopyVariance.ps1): more runs than 5.
    $buildRuns = if ($BuildRuns) { $BuildRuns } elseif ($Runs -gt 1) { [Math]::Max($Runs, 11) } else { $Runs }
    $rounds = Invoke-BenchRounds -Contender $contenders -Runs $buildRuns -Case $Id
    New-BenchCase -Id $Id -Group '1. Standby build' -Title ('{0} (pgbench scale {1}: a {2:0.00} GiB database)' -f $Title, $Cluster.Scale, ($bytes / 1GB)) `
        -Figures ([ordered]@{ streaming = @('command start to standby streaming', 's'); copy = @('of which pg_basebackup itself', 's')
            verify = @('of which pg_verifybackup', 's'); start = @('of which server start to streaming', 's') }) -Contenders $rounds `
        -Ratios @(@{ Metric = 'streaming'; Of = 'ours-warm'; To = 'raw' }, @{ Metric = 'streaming'; Of = 'ours-warm'; To = 'repmgr' },
            @{ Metric = 'copy'; Of = 'ours-warm'; To = 'raw' }, @{ Metric = 'streaming'; Of = 'ours-parallel'; To = 'raw' }) `
        -Data @{ DatabaseBytes = $bytes } -Method @'
From an empty data directory on host 2 to a standby that streams from host 1 (checked from the bench host,
`pg_stat_wal_receiver` polled every 20 ms; every clock stops there). Before each run the standby's server is
killed, its data directory emptied (then `sync`) and every slot on the primary dropped; 11 rounds.
PgReplication: `Invoke-PgBaseBackup -Primary $p | Enable-PgHotStandby` over SSH (its default at this size:
pg_basebackup on the standby host with `--no-sync --manifest-checksums=NONE` and one syncfs, pg_verifybackup, config,
start, wait for streaming); and the same with `-Method Parallel` (backup API, 4 tar streams over SSH between the hosts). Raw commands, on the standby host: the same pg_basebackup
command line (`-X stream -c fast --progress`, the same keepalive conninfo) with `-C -S <slot> -R`, the host's
`listen_addresses` appended to postgresql.auto.conf, `pg_ctl -w start`. repmgr: `repmgr standby clone
--fast-checkpoint`, the same `listen_addresses` line, `repmgr node service --action=start`, `repmgr standby register`.
'@
}

function Invoke-FailoverCase {
    <# Case 2: the primary killed with two streaming standbys; time until one accepts a write and the other streams from it. #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [int] $Runs)
    $h1, $h2, $h3 = $Cluster.Hosts[0..2]
    $state = @{}
    $reset = {
        $state.Nodes = Reset-BenchCluster -Cluster $Cluster -Standby $h2, $h3
        Stop-PgLabPostgres -LabHost $h1
    }
    # One clock for all: the probe's, from the command's start; 'done' is when the command returned.
    $probed = {
        param([scriptblock] $Command)
        $probe = Start-FailoverProbe -Standby $h2, $h3 -Password $Cluster.AdminPassword
        try { $run = & $Command; $done = Get-BenchElapsed $probe }
        catch { $probe.Job | Remove-Job -Force; throw }
        $found = Complete-FailoverProbe $probe
        $figures = @{ writable = $found.Writable; siblings = $found.SiblingsStreaming; done = $done; Note = "promoted $($found.NewPrimary)" }
        if ($run -and $run.PSObject.Properties['Profile']) {
            $figures.Profile = $run.Profile
            $follow = Get-BenchStepSeconds $run 'promoted, accepting writes' 'streaming from'
            if ($null -ne $follow) { $figures.follow = $follow }
        }
        $figures
    }
    $contenders = @(
        @{ Key = 'ours-warm'; Name = 'PgReplication (warm)'; Reset = $reset; Run = {
                & $probed { Measure-BenchProfiled { $state.Nodes.Standbys | Invoke-PgPromotion -Confirm:$false -Verbose } }
            }
        }
        @{ Key = 'ours-cold'; Name = 'PgReplication (cold)'; Reset = $reset; Run = {
                & $probed { Invoke-ColdPwsh -Cluster $Cluster -Command "@((Get-SpecNode '$($h2.Name)'), (Get-SpecNode '$($h3.Name)')) | Invoke-PgPromotion -Confirm:`$false | Out-Null" | Out-Null }
            }
        }
        @{ Key = 'raw'; Name = 'raw SQL'; Reset = $reset; Run = { & $probed { Invoke-RawFailover -Cluster $Cluster -NewPrimary $h2 -Sibling $h3 } } }
        @{ Key = 'repmgr'; Name = 'repmgr'; Reset = $reset; Run = { & $probed { Invoke-RepmgrFailover -NewPrimary $h2 -Sibling $h3 } } }
    )
    $rounds = Invoke-BenchRounds -Contender $contenders -Runs $Runs -Case 'failover'
    $ratios = foreach ($metric in 'writable', 'siblings', 'done') { foreach ($to in 'repmgr', 'raw') { @{ Metric = $metric; Of = 'ours-warm'; To = $to } } }
    New-BenchCase -Id 'failover' -Group '2. Failover' -Title "Primary killed (kill -9), two streaming standbys (pgbench scale $($Cluster.Scale))" `
        -Figures ([ordered]@{ writable = @('command start to a standby accepting a write', 's'); siblings = @('to the other standby streaming from it', 's')
            done = @('to the command returning', 's'); follow = @('of which re-pointing the sibling (its verbose steps)', 's') }) `
        -Contenders $rounds -Ratios $ratios -Method @'
Before each run: host 1 primary, hosts 2 and 3 fresh standbys built by the pipeline and registered with repmgr;
then host 1's postmaster is killed (kill -9) and the clock starts when the command does. A probe thread of the
bench, over sessions opened before the kill, polls both standbys every 10 ms: the time the first one accepts an
INSERT, and the time the other's `pg_stat_wal_receiver` streams from it. PgReplication: `$standbys |
Invoke-PgPromotion` (all its checks: candidates read in parallel, the old primary probed, the most advanced
standby chosen, pg_promote, the sibling re-pointed and waited for on the new timeline; the sibling is re-pointed
over SQL alone, as the lab's passfiles hold the wildcard line for the role that the raw commands and repmgr rely on:
a passfile that names each upstream takes the SSH way, docs/design.md). Raw SQL (psql from the
bench host): `SELECT pg_promote()` and a slot for the sibling on host 2; on host 3 `ALTER SYSTEM SET
primary_conninfo` to host 2 and `pg_reload_conf()`. repmgr: `repmgr standby promote` on host 2, then
`repmgr standby follow` on host 3.
'@
}

function Invoke-FailoverAtCrashCase {
    <#
    Case 2b (issue 19): the clock starts at the kill -9 of the primary's postmaster, and the promotion is fired at
    once (within 100 ms), while the standbys' WAL receivers are still dying and being started again: the moment an
    automatic failover acts in. PgReplication against the raw pg_promote(false) and poll, in the same rounds.
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [int] $Runs)
    $h1, $h2, $h3 = $Cluster.Hosts[0..2]
    $state = @{ Crashed = $null; Nodes = $null }
    $reset = {
        if ($state.Crashed) { Wait-BenchProcessesGone $state.Crashed; $state.Crashed = $null }
        $state.Nodes = Reset-BenchCluster -Cluster $Cluster -Standby $h2, $h3
    }
    # As the issue's user did it: 1000 rows, 300 ms, kill -9 of the postmaster, then at once the promotion.
    $atCrash = {
        param([scriptblock] $Command)
        $probe = Start-FailoverProbe -Standby $h2, $h3 -Password $Cluster.AdminPassword -Deferred -WritableOnly
        try {
            $state.Crashed = Get-BenchPostmaster $h1
            $postmaster = [Diagnostics.Process]::GetProcessById($state.Crashed.Postmaster)
            Invoke-BenchSql $h1.Address $Cluster.AdminPassword "INSERT INTO bench_probe (at) SELECT now() FROM generate_series(1, 1000)" | Out-Null
            Start-Sleep -Milliseconds 300
            $killedAt = [DateTime]::UtcNow
            Start-BenchClock $probe
            $postmaster.Kill()   # SIGKILL
            $fired = Get-BenchElapsed $probe
            $run = & $Command
            $done = Get-BenchElapsed $probe
        }
        catch { $probe.Job | Remove-Job -Force; throw }
        $found = Complete-FailoverProbe $probe
        if ($fired -gt 0.1) { throw "The promotion was fired $([Math]::Round($fired, 3)) s after the kill, not within 0.1 s." }
        # The new primary's own account (its server log): where its startup process was when the promotion came.
        $promoted = $Cluster.Hosts | Where-Object Name -EQ $found.NewPrimary
        $events = try { Get-BenchRecoveryEvents -LabHost $promoted -Since $killedAt } catch { "its log not read: $(Get-BenchErrorText $_)" }
        $figures = @{ writable = $found.Writable; fired = $fired; done = $done; Note = "$($found.NewPrimary): $events" }
        if ($run -and $run.PSObject.Properties['Profile']) {
            $figures.Profile = $run.Profile
            $again = @($run.Steps | Where-Object Message -Match 'signalled it again').Count
            if ($again) { $figures.Note += "; PgReplication signalled the promotion again ($again)" }
        }
        $figures
    }
    $contenders = @(
        @{ Key = 'ours-warm'; Name = 'PgReplication (warm)'; Reset = $reset; Run = {
                & $atCrash { Measure-BenchProfiled { $state.Nodes.Standbys | Invoke-PgPromotion -Confirm:$false -Verbose } }
            }
        }
        @{ Key = 'raw'; Name = 'raw pg_promote(false) and poll'; Reset = $reset; Run = { & $atCrash { Invoke-RawPromote -NewPrimary $h2 -Password $Cluster.AdminPassword } } }
    )
    $rounds = Invoke-BenchRounds -Contender $contenders -Runs $Runs -Case 'failover-at-crash'
    # The primary's last crash: its processes gone before whatever comes next starts it.
    if ($state.Crashed) { Wait-BenchProcessesGone $state.Crashed }
    New-BenchCase -Id 'failover-at-crash' -Group '2. Failover' -Title "Promotion fired at the crash: the clock starts at kill -9 (pgbench scale $($Cluster.Scale))" `
        -Figures ([ordered]@{ writable = @('kill -9 to a standby accepting a write', 's'); fired = @('kill -9 to the command start', 's')
            done = @('kill -9 to the command returning', 's') }) `
        -Contenders $rounds -Ratios @(@{ Metric = 'writable'; Of = 'ours-warm'; To = 'raw' }) -Method @'
Issue 19: an automatic failover promotes within moments of the crash, while the standbys' WAL receivers are still
dying and being started again. Before each run: host 1 primary, hosts 2 and 3 fresh standbys built by the
pipeline. The run: the probe's sessions to both standbys opened, 1000 rows inserted on host 1, 300 ms, then kill -9
of host 1's postmaster (by PID; its children leave by themselves) and, at once, the command (fired within 0.1 s of
the kill, else the run fails). The clock starts at the kill; the probe (as in case 2, every 10 ms) records the first
write a standby accepts. PgReplication: `$standbys | Invoke-PgPromotion` with all its checks (it also re-points
the sibling: the command's return is later). Raw: a new session to host 2 from the bench host, `SELECT
pg_promote(false)`, then `SELECT pg_is_in_recovery()` every 10 ms until false.
'@
}

function Invoke-SwitchoverCase {
    <# Case 3: planned switchover host 1 -> host 2 under a write load; time and acknowledged writes lost. #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [int] $Runs)
    $h1, $h2, $h3 = $Cluster.Hosts[0..2]
    $password = $Cluster.AdminPassword
    $state = @{ NextId = 1 }
    $reset = {
        $state.Nodes = Reset-BenchCluster -Cluster $Cluster -Standby $h2, $h3
        Invoke-PgLabSql -LabHost $h1 -Sql 'TRUNCATE bench_acked' | Out-Null
    }
    $underLoad = {
        param([scriptblock] $Command)
        $load = Start-BenchWriteLoad -Address $h1.Address, $h2.Address, $h3.Address -Password $password -FirstId $state.NextId
        try {
            Start-Sleep -Seconds 1
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $run = & $Command
            $seconds = $clock.Elapsed.TotalSeconds
            Start-Sleep -Seconds 1
        }
        finally { $writes = Stop-BenchWriteLoad $load }
        $state.NextId += 1000000
        # The end state counts only when it is right: host 2 the primary, hosts 1 and 3 streaming from it.
        foreach ($h in $h1, $h3) { Wait-BenchStreaming -Address $h.Address -Sender $h2.Address -Password $password -TimeoutSeconds 60 }
        $figures = @{ switchover = $seconds; lost = (Get-BenchLostCount $h2.Address $password $writes.Acked); acked = $writes.Acked.Count; refused = $writes.Refused }
        if ($run -and $run.PSObject.Properties['Profile']) { $figures.Profile = $run.Profile }
        $figures
    }
    $contenders = @(
        @{ Key = 'ours-warm'; Name = 'PgReplication (warm)'; Reset = $reset; Run = {
                & $underLoad { Measure-BenchProfiled {
                        $state.Nodes.Standbys[0] | Invoke-PgSwitchover -Primary $state.Nodes.Primary -Sibling $state.Nodes.Standbys[1] -Confirm:$false -Verbose } }
            }
        }
        @{ Key = 'ours-cold'; Name = 'PgReplication (cold)'; Reset = $reset; Run = {
                & $underLoad { Invoke-ColdPwsh -Cluster $Cluster -Command (
                        "Get-SpecNode '$($h2.Name)' | Invoke-PgSwitchover -Primary (Get-SpecNode '$($h1.Name)') -Sibling (Get-SpecNode '$($h3.Name)') -Confirm:`$false | Out-Null") | Out-Null }
            }
        }
        @{ Key = 'repmgr'; Name = 'repmgr'; Reset = $reset; Run = { & $underLoad { Invoke-Repmgr -LabHost $h2 -ArgumentList standby, switchover, --siblings-follow | Out-Null } } }
    )
    $rounds = Invoke-BenchRounds -Contender $contenders -Runs $Runs -Case 'switchover'
    New-BenchCase -Id 'switchover' -Group '3. Switchover' -Title "Host 1 to host 2, host 3 re-pointed, under a write load (pgbench scale $($Cluster.Scale))" `
        -Figures ([ordered]@{ switchover = @('command start to return', 's'); lost = @('acknowledged writes missing on the new primary', 'count');
            acked = @('writes acknowledged during the run', 'count'); refused = @('writes refused while switching (retried)', 'count') }) `
        -Contenders $rounds -Ratios @(@{ Metric = 'switchover'; Of = 'ours-warm'; To = 'repmgr' }) -Method @'
Before each run: host 1 primary, hosts 2 and 3 fresh standbys (as in case 2). A client thread of the bench inserts
ids one by one (about 60 a second) through a multi-host connection string (target_session_attrs=read-write) and
records each acknowledged id; a refused insert is retried with the same id. It runs 1 s before the command and
1 s after. The run counts only if afterwards hosts 1 and 3 stream from host 2; then every acknowledged id is
looked up on host 2. PgReplication: `$h2 | Invoke-PgSwitchover -Primary $h1 -Sibling $h3`. repmgr: `repmgr
standby switchover --siblings-follow` on host 2 (it reaches hosts 1 and 3 by SSH as postgres).
'@
}

function Invoke-FanoutCase {
    <# Case 4: the health check over one primary and 1..7 standbys, against repmgr cluster show on the same nodes. #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [int] $Runs, [Parameter(Mandatory)] [int[]] $Size)
    $h1 = $Cluster.PrimaryHost
    $all = Reset-BenchCluster -Cluster $Cluster -Standby ($Cluster.Hosts | Select-Object -Skip 1)
    # Checks take milliseconds, where one disturbance is a large share: more runs than the other cases.
    $fanoutRuns = if ($Runs -gt 1) { [Math]::Max($Runs, 11) } else { $Runs }
    foreach ($k in $Size) {
        $standbyHosts = @($Cluster.Hosts[1..$k])
        Set-BenchRunningStandby -Cluster $Cluster -Standby $standbyHosts
        Register-RepmgrCluster -Cluster $Cluster -Standby $standbyHosts
        # Servers just started still do their start-up work (a restartpoint, the receivers catching up).
        if ($Runs -gt 1) { Start-Sleep -Seconds 5 }
        $nodes = @($all.Primary) + @($all.Standbys[0..($k - 1)])
        $coldNodes = (@($h1) + $standbyHosts | ForEach-Object { "(Get-SpecNode '$($_.Name)')" }) -join ', '
        $contenders = @(
            @{ Key = 'ours-warm'; Name = 'Test-PgReplication (warm)'; Run = {
                    $clock = [Diagnostics.Stopwatch]::StartNew()
                    $healthy = @($nodes | Test-PgReplication | Where-Object IsHealthy).Count
                    $seconds = $clock.Elapsed.TotalSeconds
                    if ($healthy -ne $k) { throw "Test-PgReplication found $healthy healthy standbys of $k." }
                    @{ check = $seconds }
                }
            }
            @{ Key = 'ours-cold'; Name = 'Test-PgReplication (cold)'; Run = {
                    $clock = [Diagnostics.Stopwatch]::StartNew()
                    $healthy = Invoke-ColdPwsh -Cluster $Cluster -Command "@($coldNodes) | Test-PgReplication | Where-Object IsHealthy | Measure-Object | ForEach-Object Count"
                    $seconds = $clock.Elapsed.TotalSeconds
                    if ("$healthy" -ne "$k") { throw "Test-PgReplication found $healthy healthy standbys of $k." }
                    @{ check = $seconds }
                }
            }
            @{ Key = 'topology-warm'; Name = 'Get-PgReplicationTopology (warm)'; Run = {
                    $clock = [Diagnostics.Stopwatch]::StartNew()
                    $rows = @(Get-PgReplicationTopology $nodes)
                    $seconds = $clock.Elapsed.TotalSeconds
                    $bad = @($rows | Where-Object Status -NE 'running')
                    if ($rows.Count -ne $k + 1 -or $bad) { throw "Get-PgReplicationTopology gave $($rows.Count) rows, not running: $($bad.Name -join ', ')." }
                    @{ check = $seconds }
                }
            }
            @{ Key = 'repmgr'; Name = 'repmgr cluster show'; Run = {
                    $clock = [Diagnostics.Stopwatch]::StartNew()
                    Invoke-Repmgr -LabHost $h1 -ArgumentList cluster, show | Out-Null   # exits non-zero when a node has a problem
                    @{ check = $clock.Elapsed.TotalSeconds }
                }
            }
        )
        $rounds = Invoke-BenchRounds -Contender $contenders -Runs $fanoutRuns -Case "fanout-$k" -WarmUp
        New-BenchCase -Id "fanout-$k" -Group '4. Health check fan-out' -Title "1 primary + $k standby$(if ($k -gt 1) { 's' })" `
            -Figures ([ordered]@{ check = @('command start to its answer', 's') }) -Contenders $rounds `
            -Ratios @(@{ Metric = 'check'; Of = 'ours-warm'; To = 'repmgr' }, @{ Metric = 'check'; Of = 'topology-warm'; To = 'repmgr' }) -Method @'
One cluster built once (host 1 primary, hosts 2..8 standbys); for each size only that many standbys run (the
others are stopped cleanly, so the primary shows only those) and repmgr has exactly those nodes registered. Then
5 s for the started servers to settle, one untimed run of each contender (a warm shell has checked before: its
pooled connections are open and its statements prepared), and 11 timed rounds. PgReplication: `$nodes | Test-PgReplication` (warm: on node objects the shell already has;
cold: `New-PgNode` for each node, then the check) and `Get-PgReplicationTopology $nodes`. Each run must find every
standby healthy (running). repmgr: `repmgr cluster show` on host 1 (it connects to every registered node; it exits
non-zero on a problem), started through nsenter as postgres: its time includes that process start.
'@
    }
}

function Invoke-StartupCase {
    <# Case 5: what importing the module adds to a fresh pwsh: time (minus a bare start, pair by pair) and working set. #>
    param([Parameter(Mandatory)] [int] $Runs, [Parameter(Mandatory)] [string] $ModulePath, [string] $BaselineModulePath)
    $manifest = Join-Path $ModulePath 'PgReplication.psd1'
    $pwsh = { param([string] $Command) Invoke-BenchProcess -FilePath dotnet -ArgumentList 'pwsh', '-NoProfile', '-NonInteractive', '-c', $Command -TimeoutSeconds 120 }
    $timed = { param([string] $Command) $clock = [Diagnostics.Stopwatch]::StartNew(); & $pwsh $Command | Out-Null; @{ start = $clock.Elapsed.TotalSeconds } }
    $workingSet = { param([string] $Manifest)
        $added = & $pwsh ("`$p = [Diagnostics.Process]::GetCurrentProcess(); `$before = `$p.WorkingSet64; Import-Module '$Manifest'; " +
            '$p.Refresh(); $p.WorkingSet64 - $before')
        @{ addedMB = [long] $added / 1MB }
    }
    $importFirst = { param([string] $Manifest)
        $ms = & $pwsh ('$c = [Diagnostics.Stopwatch]::StartNew(); ' + "Import-Module '$Manifest'; " + '$c.Elapsed.TotalMilliseconds')
        @{ import = [double] $ms / 1000 }
    }
    $contenders = @(
        @{ Key = 'bare'; Name = 'dotnet pwsh -NoProfile -c exit'; Run = { & $timed 'exit' } }
        @{ Key = 'import'; Name = 'dotnet pwsh -NoProfile -c "Import-Module ...; exit"'; Run = { & $timed "Import-Module '$manifest'; exit" } }
        @{ Key = 'workingset'; Name = 'working set added by Import-Module'; Run = { & $workingSet $manifest } }
        @{ Key = 'import-first'; Name = 'in a fresh pwsh: Import-Module as its first statement'; Run = { & $importFirst $manifest } }
        # Where the import's time goes: a fresh session's first formatted output builds PowerShell's format tables,
        # which a module with a format file makes the import do; what is left is the module's own.
        @{ Key = 'breakdown'; Name = 'in a fresh pwsh: first formatted output, then Import-Module'; Run = {
                $ms = & $pwsh ('$c = [Diagnostics.Stopwatch]::StartNew(); $null = Get-Date | Out-String; $f = $c.Elapsed.TotalMilliseconds; ' +
                    "Import-Module '$manifest'; " + '"$f $($c.Elapsed.TotalMilliseconds - $f)"')
                $formatting, $module = [double[]] ($ms -split ' ')
                @{ formatting = $formatting / 1000; importAfter = $module / 1000 }
            }
        }
    )
    # Another build of the module (e.g. main's before a change) in the same rounds, for side-by-side ratios.
    if ($BaselineModulePath) {
        $baseline = Join-Path $BaselineModulePath 'PgReplication.psd1'
        $contenders += @(
            @{ Key = 'import-baseline'; Name = "the same, importing $baseline"; Run = { & $timed "Import-Module '$baseline'; exit" } }
            @{ Key = 'workingset-baseline'; Name = "working set added by importing $baseline"; Run = { & $workingSet $baseline } }
            @{ Key = 'import-first-baseline'; Name = "in a fresh pwsh: Import-Module of $baseline as its first statement"; Run = { & $importFirst $baseline } }
        )
    }
    $rounds = @(Invoke-BenchRounds -Contender $contenders -Runs $Runs -Case 'startup')
    $bare = $rounds | Where-Object Key -EQ 'bare'
    # The import's own cost: each import run minus the bare start of the same round.
    $costOf = {
        param([string] $Key, [string] $CostKey, [string] $Name)
        $import = $rounds | Where-Object Key -EQ $Key
        $cost = [pscustomobject]@{ Key = $CostKey; Name = $Name; Rounds = [Collections.Generic.List[object]]::new(); Errors = [Collections.Generic.List[string]]::new() }
        for ($i = 0; $i -lt $Runs; $i++) {
            $cost.Rounds.Add($(if ($bare.Rounds[$i] -and $import.Rounds[$i]) { @{ import = $import.Rounds[$i].start - $bare.Rounds[$i].start } } else { $null }))
        }
        if (-not ($cost.Rounds | Where-Object { $_ })) { $cost.Errors.Add('no round with both a bare and an importing start') }
        $cost
    }
    $costs = @(& $costOf 'import' 'import-cost' 'Import-Module (with import minus bare, pair by pair)')
    $ratios = @()
    if ($BaselineModulePath) {
        $costs += & $costOf 'import-baseline' 'import-cost-baseline' 'Import-Module of the baseline (minus bare, pair by pair)'
        $ratios = @(
            @{ Metric = 'import'; Of = 'import-cost'; To = 'import-cost-baseline' }
            @{ Metric = 'import'; Of = 'import-first'; To = 'import-first-baseline' }
            @{ Metric = 'addedMB'; Of = 'workingset'; To = 'workingset-baseline' }
        )
    }
    New-BenchCase -Id 'startup' -Group '5. Start-up' -Title 'Import-Module PgReplication in a fresh pwsh' `
        -Figures ([ordered]@{ start = @('process start to exit', 's'); import = @('import time', 's'); addedMB = @('working set added', 'MB')
            formatting = @('first formatted output of the session', 's'); importAfter = @('Import-Module after it', 's') }) `
        -Contenders ($rounds + $costs) -Ratios $ratios -Method @'
Fresh processes started by the bench, alternating: `dotnet pwsh -NoProfile -NonInteractive -c exit` and the same with
`Import-Module <out>/PgReplication/PgReplication.psd1` first; the import time is the difference within each round
(the target's figure; process starts vary by tenths of a second here, so it is also timed inside a fresh pwsh).
The working set: `Process.WorkingSet64` of a fresh pwsh just before and just after the import. The last row splits
the import in a fresh pwsh (in-process stopwatch): PowerShell's first formatted output of the session, then the import.
With `-BaselineModulePath` another build of the module runs in the same rounds (the `-baseline` rows), and the
ratios compare the two round by round.
'@
}

function Invoke-DemoCase {
    <# The README's demo (issue 5), timed once: three local clusters built and checked by the pipeline. #>
    param([Parameter(Mandatory)] [string] $ModulePath)
    $demo = Join-Path (Split-Path -Parent $PSScriptRoot) 'tests/Demo/Invoke-PgReplicationDemo.ps1'
    $contenders = @(@{ Key = 'demo'; Name = 'tests/Demo/Invoke-PgReplicationDemo.ps1'; Run = {
                $clock = [Diagnostics.Stopwatch]::StartNew()
                Invoke-BenchProcess -FilePath dotnet -ArgumentList 'pwsh', '-NoProfile', '-NonInteractive', '-File', $demo, '-ModulePath', $ModulePath -TimeoutSeconds 900 | Out-Null
                @{ demo = $clock.Elapsed.TotalSeconds }
            }
        })
    New-BenchCase -Id 'demo' -Group 'The demo' -Title 'build.ps1 -Task Demo without its build step' `
        -Figures ([ordered]@{ demo = @('process start to exit 0', 's') }) -Contenders (Invoke-BenchRounds -Contender $contenders -Runs 1 -Case 'demo') -Method @'
The demo script that `build.ps1 -Task Demo` runs after building, timed once as a fresh process: initdb of a primary
on 127.0.0.1, `New-PgReplicationUser | Set-PgMasterConfig -Restart`, two `Invoke-PgBaseBackup | Enable-PgHotStandby`,
`Test-PgReplication`, rows written and read on both standbys, everything removed.
'@
}
