# Faults of a cluster handed to Patroni and etcd (issue 19), on real lab hosts with real etcd 3.4 and Patroni 3.0: etcd
# members down (one, then two: no quorum), the primary partitioned from the others while alive, and five host crashes in
# a row in synchronous mode. One lab, one story: each It starts from the cluster the one before it left.
BeforeAll {
    . "$PSScriptRoot/FaultSuite.ps1" -WithModule
    . "$PSScriptRoot/../PatroniLab.ps1"
}

Describe 'Faults of a cluster handed to Patroni and etcd' -Tag Acceptance, Faults, AutoFailover {
    BeforeAll {
        # The first primary in the upstream layout (pg_hba.conf in its data directory, so a re-clone copies it), the third
        # host Debian's (/etc/postgresql): AutoFailover.Tests runs the other way round.
        $lab = New-PgLab -HostCount 3 -Layout Upstream, Upstream, Debian -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $repl = New-ReplicationCredential
        $api = New-RestApiCredential
        $nodes = Initialize-LabCluster $lab $repl
        New-AckedTable $h1
        $connection = "$(Get-PgConnectionString $nodes -Format Npgsql -TargetSessionAttribute ReadWrite -Credential $h1.AdminCredential -IncludePassword -WarningAction SilentlyContinue)"
        # Wider than AutoFailover.Tests' 10/2/3 s: Patroni gives each of the 3 etcd members retry_timeout / 3 to answer,
        # and when the member it talks to dies the two others first elect a raft leader (1 s and more on a loaded machine).
        # With 3 s the primary was demoted for about 10 s in 1 of 3 runs although etcd kept its quorum. Not much wider:
        # a primary cut off keeps taking writes until its retries run out (up to loop + 2 x retry; 19 s with 9 s).
        $PatroniTtl = 20; $PatroniRetryTimeout = 6
        $timing = @{ TtlSeconds = $PatroniTtl; LoopWaitSeconds = $PatroniLoopWait; RetryTimeoutSeconds = $PatroniRetryTimeout }
        $nodes | Enable-PgAutoFailover -RestApiCredential $api @timing -Confirm:$false | Out-Null
        foreach ($h in $h2, $h3) { if (-not (Wait-Streaming $h $h1.Address -Seconds 60)) { throw "$($h.Name) does not stream from $($h1.Name) after the hand-over." } }
        $timings = [ordered]@{}

        # The one writable host now (each It starts from where the one before left the cluster; a member may still be rejoining).
        function Get-Primary {
            $w = @()
            $null = Wait-Condition { $script:w = Get-WritableHost $lab.Hosts; $script:w.Count -eq 1 } -Seconds 60
            $w = $script:w
            if ($w.Count -ne 1) { throw "Expected one writable host, found $($w.Count): $(($w | ForEach-Object Name) -join ', ')." }
            $w[0]
        }
        function Test-EtcdHealthy($LabHost) {
            $out = Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList sh, -c,
                "etcdctl --endpoints https://$($LabHost.Address):2379 --cacert $PatroniDirectory/ca.crt --cert $PatroniDirectory/node.crt --key $PatroniDirectory/node.key --dial-timeout 2s --command-timeout 3s endpoint health 2>&1; echo rc=`$?"
            $out -match 'rc=0'
        }
        function Format-Seconds([double] $Seconds) { '{0:n1} s' -f $Seconds }
        # Cuts -Primary off from the others while two clients write: one pinned to it (it keeps trying there), one that
        # follows whichever host is writable (-FirstId and -FirstId + 10000). Once another host is writable, -WhileCut
        # runs with it, the following client gets 20 more writes, and after 3 s (the isolated side still being asked)
        # the loads stop and the partition heals.
        function Invoke-PrimaryPartition($Primary, [int] $FirstId, [scriptblock] $WhileCut = {}) {
            $others = @($lab.Hosts | Where-Object { $_ -ne $Primary })
            $pinnedNode = $nodes | Where-Object ComputerName -EQ $Primary.Address
            # (-TargetSessionAttribute Any: Npgsql takes a target only with several hosts.)
            $pinned = "$(Get-PgConnectionString $pinnedNode -Format Npgsql -TargetSessionAttribute Any -Credential $h1.AdminCredential -IncludePassword -WarningAction SilentlyContinue)"
            $isolatedLoad = Start-AckedWriteLoad $pinned -FirstId $FirstId
            $load = Start-AckedWriteLoad $connection -FirstId ($FirstId + 10000)
            Wait-AckedWrites $isolatedLoad; Wait-AckedWrites $load
            $cut = [pscustomobject]@{ CutAt = [DateTime]::UtcNow; NewLeader = $null; WritableAt = $null; HealAt = $null; Isolated = $null; Result = $null }
            Set-LabPartition @($Primary) $others
            try {
                $cut.NewLeader = Wait-NewWritable $lab.Hosts $Primary -Seconds (3 * $PatroniTtl + 30)
                $cut.WritableAt = [DateTime]::UtcNow
                if ($cut.NewLeader) {
                    & $WhileCut $cut.NewLeader
                    Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20) -Seconds 60
                    Start-Sleep -Seconds 3
                }
                $cut.Isolated = Stop-AckedWriteLoad $isolatedLoad
                $cut.Result = Stop-AckedWriteLoad $load
            }
            finally {
                Stop-AckedWriteLoad $isolatedLoad | Out-Null; Stop-AckedWriteLoad $load | Out-Null
                $cut.HealAt = [DateTime]::UtcNow
                Set-LabPartition @($Primary) $others -Action del
            }
            $cut
        }
    }
    AfterAll {
        try { Save-ScenarioResults Fault }
        finally {
            if ($timings.Count) { Write-Host ("Auto failover fault timings: " + (($timings.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value)" }) -join '; ')) }
            Remove-PgLab -Lab $lab
        }
    }

    It 'a member Patroni re-clones from the first primary, then Patroni fails over to it -> the old primary streams from it (the copied pg_hba.conf admits it)' {
        # The first primary's own pg_hba.conf admitted its standbys, not itself, and a re-clone copies it: before the
        # hand-over added every member's line to every member, the old primary was refused by this new leader for good.
        # The failover is Patroni's own (POST /failover, as after a crash): Invoke-PgSwitchover would add the line itself.
        $primary = Get-Primary
        $member = @($lab.Hosts | Where-Object { $_ -ne $primary })[0]
        $primaryNode = $nodes | Where-Object ComputerName -EQ $primary.Address
        $memberNode = $nodes | Where-Object ComputerName -EQ $member.Address
        $memberNode | Restore-PgStandby -Primary $primaryNode -Reclone -Confirm:$false | Out-Null
        Wait-Streaming $member $primary.Address -Seconds 60 | Should -BeTrue
        $load = Start-AckedWriteLoad $connection -FirstId 5000
        Wait-AckedWrites $load
        Invoke-PatroniFailover $primary $api (Get-StandbyAppName $member) | Out-Null
        (Wait-NewWritable $lab.Hosts $primary -Seconds 60).Name | Should -Be $member.Name
        $streams = Wait-Streaming $primary $member.Address -Seconds 60
        if (-not $streams) { Write-Host (Invoke-PgLabCommand -LabHost $primary -ArgumentList sh, -c, "tail -n 30 $PatroniDirectory/patroni.log") }
        $streams | Should -BeTrue -Because "the re-cloned leader admits the old primary $($primary.Name)"
        Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20)
        $acked = (Stop-AckedWriteLoad $load).Acked
        Get-MissingIds $member $acked | Should -BeNullOrEmpty
        Wait-Condition { (Get-LabValue $primary "SELECT count(*) FROM acked WHERE id >= 5000") -eq (Get-LabValue $member "SELECT count(*) FROM acked WHERE id >= 5000") } -Seconds 30 | Should -BeTrue
        Add-ScenarioNote "$($member.Name) re-cloned from $($primary.Name), Patroni failed over to it; $($primary.Name) streams from it; $($acked.Count) writes acknowledged, 0 lost"
        Set-ScenarioCount AckedWrites $acked.Count
        Set-ScenarioCount AckedLost 0
    }

    It 'one etcd member down, the one on the primary''s host -> no failover: the primary keeps its role and takes every write' {
        $primary = Get-Primary
        $load = Start-AckedWriteLoad $connection -FirstId 10000
        Wait-AckedWrites $load
        Stop-LabDaemon $primary etcd
        # Two TTLs: long enough for a lock that is not renewed to expire.
        Start-Sleep -Seconds (2 * $PatroniTtl)
        $writable = Get-WritableHost $lab.Hosts
        $rows = Get-PgReplicationTopology $nodes -TimeoutSeconds 5
        $result = Stop-AckedWriteLoad $load
        Start-LabDaemon $primary etcd
        $writable.Name | Should -Be $primary.Name
        $result.Failures | Should -Be 0 -Because "the primary's Patroni renews its lock through the two other members ($($result.Errors -join ' | '))"
        (Get-PatroniRow $rows $primary).MemberRole | Should -BeIn 'leader', 'master'
        Get-MissingIds $primary $result.Acked | Should -BeNullOrEmpty
        Wait-Condition { Test-EtcdHealthy $primary } -Seconds 30 | Should -BeTrue -Because 'the member rejoins when it starts again'
        Add-ScenarioNote "$($result.Acked.Count) writes acknowledged over $(2 * $PatroniTtl) s (2 x TTL) with the member down, 0 refused; the leader stayed"
        Set-ScenarioCount AckedWrites $result.Acked.Count
        Set-ScenarioCount AckedLost 0
    }

    It 'two of three etcd members down (no quorum) -> no standby is promoted; the primary turns read-only (Patroni 3.0 demotes a leader that cannot renew its lock; failsafe mode is off) and a leader takes writes again once quorum is back, 0 acknowledged writes lost' {
        $primary = Get-Primary
        $others = @($lab.Hosts | Where-Object { $_ -ne $primary })
        $load = Start-AckedWriteLoad $connection -FirstId 20000
        Wait-AckedWrites $load
        $downAt = [DateTime]::UtcNow
        foreach ($h in $others) { Stop-LabDaemon $h etcd }
        Wait-Condition { (Get-WritableHost $lab.Hosts).Count -eq 0 } -Seconds (3 * $PatroniTtl) -IntervalMilliseconds 100 | Should -BeTrue -Because 'without quorum the leader lock cannot be renewed'
        $readOnlyAfter = ([DateTime]::UtcNow - $downAt).TotalSeconds
        # Nobody may take over without quorum: no writable host for another TTL and loop.
        $stillNone = -not (Wait-Condition { (Get-WritableHost $lab.Hosts).Count -gt 0 } -Seconds ($PatroniTtl + $PatroniLoopWait) -IntervalMilliseconds 200)
        $backAt = [DateTime]::UtcNow
        Start-LabDaemon $others[0] etcd
        $leader = Wait-NewWritable $lab.Hosts $null -Seconds 90
        $writableAfter = ([DateTime]::UtcNow - $backAt).TotalSeconds
        Start-LabDaemon $others[1] etcd
        $leader | Should -Not -BeNullOrEmpty -Because 'with two members of three back, Patroni elects a leader'
        Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20) -Seconds 60
        $result = Stop-AckedWriteLoad $load
        $firstRefusal = @($result.FailedAt | Where-Object { $_ -gt $downAt })[0]
        $stillNone | Should -BeTrue -Because 'no member may be promoted while etcd has no quorum'
        $refusedAfter = ($firstRefusal - $downAt).TotalSeconds
        # Patroni demotes once a DCS call has failed for retry_timeout; etcd's own timeouts come on top (about the TTL here).
        $refusedAfter | Should -BeLessThan (2 * $PatroniTtl)
        # The old primary was stopped cleanly (Patroni's offline demotion): its standbys received everything it acknowledged.
        $lost = @(Get-MissingIds $leader $result.Acked)
        $lost | Should -BeNullOrEmpty
        foreach ($h in $lab.Hosts | Where-Object { $_ -ne $leader }) { Wait-Streaming $h $leader.Address -Seconds 90 | Should -BeTrue }
        $timings['no quorum: writes refused after'] = Format-Seconds $refusedAfter
        $timings['no quorum: quorum back to writable'] = Format-Seconds $writableAfter
        Add-ScenarioNote ("first write refused {0}, no writable host {1} after the members died; {2} writable {3} after one member came back (it was {4}); {5} writes acknowledged, 0 lost" -f
            (Format-Seconds $refusedAfter), (Format-Seconds $readOnlyAfter), $leader.Name, (Format-Seconds $writableAfter), $(if ($leader -eq $primary) { 'the old primary' } else { 'a standby' }), $result.Acked.Count)
        Set-ScenarioCount AckedWrites $result.Acked.Count
        Set-ScenarioCount AckedLost $lost.Count
    }

    It 'the primary partitioned from the others while alive (its Patroni and etcd member keep running) -> it stops taking writes within the TTL, nothing is acknowledged on the isolated side after the new leader''s election, and it rejoins as a standby when the partition heals' {
        $primary = Get-Primary
        $cut = Invoke-PrimaryPartition $primary -FirstId 30000 -WhileCut {
            # Demoted: read-only, or stopped while Patroni restarts it as a standby; either way it refuses writes.
            $demoted = Wait-Condition { (Get-LabValue $primary 'SELECT pg_is_in_recovery()') -ne 'f' } -Seconds 30
            if (-not $demoted) { Write-Host (Invoke-PgLabCommand -LabHost $primary -ArgumentList sh, -c, "tail -n 40 $PatroniDirectory/patroni.log") }
            $demoted | Should -BeTrue -Because 'the isolated primary was demoted'
        }
        $newLeader = $cut.NewLeader
        $newLeader | Should -Not -BeNullOrEmpty -Because 'the majority side elects a leader once the lock expires'
        $cutAt, $writableAt, $healAt, $isolated, $result = $cut.CutAt, $cut.WritableAt, $cut.HealAt, $cut.Isolated, $cut.Result
        $electedAt = Get-PatroniElectionTime $newLeader
        $electedAt | Should -BeGreaterThan $cutAt -Because 'the new leader''s log shows when it took the lock'
        $lastIsolatedAck = ($isolated.AckedAt | Measure-Object -Maximum).Maximum
        $firstRefusal = @($isolated.FailedAt | Where-Object { $_ -gt $cutAt })[0]
        $lastIsolatedAck | Should -BeLessThan $electedAt -Because 'nothing may be acknowledged on the isolated side once another leader is elected'
        ($lastIsolatedAck - $cutAt).TotalSeconds | Should -BeLessThan $PatroniTtl -Because 'the isolated primary stops taking writes within the TTL'
        $isolated.Failures | Should -BeGreaterThan 0
        # Asynchronous replication: what the isolated primary acknowledged between the cut and its demotion never reached
        # the others, and is lost. Everything acknowledged after the election is on the new leader.
        $allAcked = @($isolated.Acked) + @($result.Acked)
        $allAckedAt = @($isolated.AckedAt) + @($result.AckedAt)
        $lost = @(Get-MissingIds $newLeader $allAcked)
        $afterElection = @(for ($i = 0; $i -lt $allAcked.Count; $i++) { if ($allAckedAt[$i] -gt $electedAt) { $allAcked[$i] } })
        $afterElection.Count | Should -BeGreaterThan 0
        $lost | Where-Object { $_ -in $afterElection } | Should -BeNullOrEmpty
        $lostAfterCut = @(for ($i = 0; $i -lt $allAcked.Count; $i++) { if ($allAcked[$i] -in $lost -and $allAckedAt[$i] -le $cutAt) { $allAcked[$i] } })
        $lostAfterCut | Should -BeNullOrEmpty -Because 'only writes the isolated primary took after the cut can be missing'
        # Healed: the old primary finds the new leader, rewinds its diverged tail and streams from it.
        $rejoined = Wait-Streaming $primary $newLeader.Address -Seconds 90
        # What Patroni did on the old primary's host, for the report when it did not rejoin (seen once in 2026-12's runs).
        if (-not $rejoined) {
            Write-Host (try { Invoke-PgLabCommand -LabHost $primary -ArgumentList sh, -c, "tail -n 60 $PatroniDirectory/patroni.log" } catch { "patroni.log not read: $_" })
        }
        $rejoined | Should -BeTrue -Because 'the healed old primary rewinds and streams from the new leader'
        $rejoinedAfter = ([DateTime]::UtcNow - $healAt).TotalSeconds
        if ($lost.Count) { Wait-Condition { @(Get-MissingIds $primary $lost).Count -eq $lost.Count } -Seconds 30 | Should -BeTrue -Because 'pg_rewind removed the diverged commits' }
        Get-LabValue $newLeader 'SELECT count(*) - count(DISTINCT id) FROM acked' | Should -Be '0'
        $timings['partition: last write on the isolated side'] = Format-Seconds ($lastIsolatedAck - $cutAt).TotalSeconds
        $timings['partition: new leader elected'] = Format-Seconds ($electedAt - $cutAt).TotalSeconds
        $timings['partition: new leader writable'] = Format-Seconds ($writableAt - $cutAt).TotalSeconds
        $timings['partition: healed to streaming'] = Format-Seconds $rejoinedAfter
        Add-ScenarioNote ("after the cut: last write acknowledged on the isolated side at {0}, first refused at {1}; {2} elected at {3} (TTL {4} s), writable at {5}; rejoined {6} after the heal; asynchronous tail lost: {7} of {8}" -f
            (Format-Seconds ($lastIsolatedAck - $cutAt).TotalSeconds), (Format-Seconds ($firstRefusal - $cutAt).TotalSeconds), $newLeader.Name,
            (Format-Seconds ($electedAt - $cutAt).TotalSeconds), $PatroniTtl, (Format-Seconds ($writableAt - $cutAt).TotalSeconds), (Format-Seconds $rejoinedAfter), $lost.Count, $allAcked.Count)
        Set-ScenarioCount AsyncAcked $allAcked.Count
        Set-ScenarioCount AsyncLost $lost.Count
    }

    It 'synchronous mode (synchronous_standby_names set before the hand-over) under a write load, five primary host crashes in a row -> 0 acknowledged writes lost' -Tag Full {
        $nodes | Disable-PgAutoFailover -Confirm:$false | Out-Null
        $primary = Get-Primary
        $primaryNode = $nodes | Where-Object ComputerName -EQ $primary.Address
        $standbyNodes = @($nodes | Where-Object { $_ -ne $primaryNode })
        $primaryNode | Set-PgMasterConfig -Standby $standbyNodes -SynchronousStandby @($lab.Hosts | Where-Object { $_ -ne $primary } | ForEach-Object { Get-StandbyAppName $_ }) -Confirm:$false | Out-Null
        $nodes | Enable-PgAutoFailover -RestApiCredential $api @timing -Confirm:$false | Out-Null
        Wait-Condition { (Get-PatroniSyncStandby $primary).Count -ge 1 } -Seconds 60 | Should -BeTrue -Because 'synchronous_standby_names was set: Patroni runs in synchronous mode'
        # The setting is Patroni's now: postgresql.auto.conf (copied to every standby) no longer overrides it.
        foreach ($h in $lab.Hosts) {
            Get-LabValue $h "SELECT coalesce(sourcefile, '') FROM pg_settings WHERE name = 'synchronous_standby_names'" | Should -Not -BeLike '*postgresql.auto.conf'
        }
        (Get-PgReplicationTopology $nodes -TimeoutSeconds 5 | Where-Object { $_.MemberRole -in 'leader', 'master' }).ComputerName | Should -Be $primary.Address
        $acked = 0; $lostTotal = 0; $took = @()
        foreach ($round in 1..5) {
            $primary = Get-Primary
            foreach ($h in $lab.Hosts | Where-Object { $_ -ne $primary }) { Wait-Streaming $h $primary.Address -Seconds 90 | Should -BeTrue }
            Wait-Condition { (Get-PatroniSyncStandby $primary).Count -ge 1 } -Seconds 60 | Should -BeTrue -Because "round $($round): Patroni names a synchronous standby"
            $load = Start-AckedWriteLoad $connection -FirstId (100000 * $round)
            Wait-AckedWrites $load
            $clock = [Diagnostics.Stopwatch]::StartNew()
            Stop-LabHostHa $primary
            $newPrimary = Wait-NewWritable $lab.Hosts $primary -Seconds (2 * ($PatroniTtl + $PatroniLoopWait) + 20)
            $newPrimary | Should -Not -BeNullOrEmpty -Because "round $($round): a synchronous standby takes over"
            $took += $clock.Elapsed.TotalSeconds
            Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20) -Seconds 60
            $result = Stop-AckedWriteLoad $load
            $lost = @(Get-MissingIds $newPrimary $result.Acked)
            $acked += $result.Acked.Count; $lostTotal += $lost.Count
            $lost | Should -BeNullOrEmpty -Because "round $($round): synchronous mode loses no acknowledged write"
            Start-LabHostHa $primary
        }
        $last = Get-Primary
        foreach ($h in $lab.Hosts | Where-Object { $_ -ne $last }) { Wait-Streaming $h $last.Address -Seconds 90 | Should -BeTrue }
        Get-LabValue $last 'SELECT count(*) - count(DISTINCT id) FROM acked' | Should -Be '0'
        $timings['synchronous: crash to writable'] = ($took | ForEach-Object { Format-Seconds $_ }) -join ', '
        Add-ScenarioNote ("5 crashes, writable after {0}; {1} writes acknowledged, {2} lost" -f (($took | ForEach-Object { Format-Seconds $_ }) -join ', '), $acked, $lostTotal)
        Set-ScenarioCount AckedWrites $acked
        Set-ScenarioCount AckedLost $lostTotal
    }
    It 'synchronous mode, the primary partitioned while alive -> its commits wait for a synchronous standby it cannot reach, so nothing acknowledged is lost; it rejoins when healed' -Tag Full {
        $primary = Get-Primary
        $others = @($lab.Hosts | Where-Object { $_ -ne $primary })
        foreach ($h in $others) { Wait-Streaming $h $primary.Address -Seconds 90 | Should -BeTrue }
        Wait-Condition { (Get-PatroniSyncStandby $primary).Count -ge 1 } -Seconds 60 | Should -BeTrue -Because 'Patroni still runs in synchronous mode'
        $cut = Invoke-PrimaryPartition $primary -FirstId 700000
        $newLeader = $cut.NewLeader
        $newLeader | Should -Not -BeNullOrEmpty -Because 'the majority side elects a synchronous standby once the lock expires'
        $cutAt, $writableAt, $healAt, $isolated, $result = $cut.CutAt, $cut.WritableAt, $cut.HealAt, $cut.Isolated, $cut.Result
        $allAcked = @($isolated.Acked) + @($result.Acked)
        $lost = @(Get-MissingIds $newLeader $allAcked)
        $lost | Should -BeNullOrEmpty -Because 'in synchronous mode a commit is acknowledged only once a synchronous standby has it'
        $ackedAfterCut = @(for ($i = 0; $i -lt $isolated.Acked.Count; $i++) { if ($isolated.AckedAt[$i] -gt $cutAt.AddSeconds(1)) { $isolated.Acked[$i] } })
        Wait-Streaming $primary $newLeader.Address -Seconds 90 | Should -BeTrue
        Get-LabValue $newLeader 'SELECT count(*) - count(DISTINCT id) FROM acked' | Should -Be '0'
        $timings['synchronous partition: new leader writable'] = Format-Seconds ($writableAt - $cutAt).TotalSeconds
        $timings['synchronous partition: acknowledged on the isolated side more than 1 s after the cut'] = $ackedAfterCut.Count
        $timings['synchronous partition: healed to streaming'] = Format-Seconds ([DateTime]::UtcNow - $healAt).TotalSeconds
        Add-ScenarioNote ("synchronous mode, primary cut off: {0} writable after {1}; {2} writes acknowledged (both clients), {3} lost; {4} acknowledged on the isolated side more than 1 s after the cut" -f
            $newLeader.Name, (Format-Seconds ($writableAt - $cutAt).TotalSeconds), $allAcked.Count, $lost.Count, $ackedAfterCut.Count)
        Set-ScenarioCount AckedWrites $allAcked.Count
        Set-ScenarioCount AckedLost $lost.Count
    }
    It 'synchronous mode, kill -9 of the primary''s postgres (its Patroni alive) -> a synchronous standby is promoted at once (primary_start_timeout 0, the default in synchronous mode), 0 acknowledged writes lost, the old primary rejoins' -Tag Full {
        $primary = Get-Primary
        foreach ($h in $lab.Hosts | Where-Object { $_ -ne $primary }) { Wait-Streaming $h $primary.Address -Seconds 90 | Should -BeTrue }
        (Get-PatroniConfig $primary).primary_start_timeout | Should -Be 0 -Because 'synchronous mode fails over at once by default'
        $sync = @(Get-PatroniSyncStandby $primary)
        $sync.Count | Should -BeGreaterOrEqual 1
        $load = Start-AckedWriteLoad $connection -FirstId 800000
        Wait-AckedWrites $load
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Stop-PgLabPostgres -LabHost $primary
        $newPrimary = Wait-NewWritable $lab.Hosts $primary -Seconds (2 * ($PatroniTtl + $PatroniLoopWait) + 20)
        $writable = $clock.Elapsed.TotalSeconds
        if (-not $newPrimary) { Write-Host (Invoke-PgLabCommand -LabHost $primary -ArgumentList sh, -c, "tail -n 60 $PatroniDirectory/patroni.log") }
        $newPrimary | Should -Not -BeNullOrEmpty -Because 'a synchronous standby is promoted, not the crashed primary restarted in place'
        Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20) -Seconds 60
        $result = Stop-AckedWriteLoad $load
        $lost = @(Get-MissingIds $newPrimary $result.Acked)
        $lost | Should -BeNullOrEmpty -Because 'the promoted synchronous standby has every acknowledged commit'
        Wait-Streaming $primary $newPrimary.Address -Seconds 90 | Should -BeTrue -Because 'the old primary rejoins as a standby by itself'
        Get-LabValue $newPrimary 'SELECT count(*) - count(DISTINCT id) FROM acked' | Should -Be '0'
        $timings['synchronous: postgres killed to writable'] = Format-Seconds $writable
        Add-ScenarioNote ("synchronous mode, postgres killed on {0}: {1} writable after {2} (TTL {3} s, loop {4} s); {5} writes acknowledged, {6} lost; the old primary streams from it" -f
            $primary.Name, $newPrimary.Name, (Format-Seconds $writable), $PatroniTtl, $PatroniLoopWait, $result.Acked.Count, $lost.Count)
        Set-ScenarioCount AckedWrites $result.Acked.Count
        Set-ScenarioCount AckedLost $lost.Count
    }
    It 'failsafe mode (-FailsafeMode), two of three etcd members down -> the primary keeps taking writes while it reaches every member, nothing is promoted, 0 acknowledged writes lost' -Tag Full {
        $nodes | Disable-PgAutoFailover -Confirm:$false | Out-Null
        $primary = Get-Primary
        $others = @($lab.Hosts | Where-Object { $_ -ne $primary })
        $nodes | Enable-PgAutoFailover -RestApiCredential $api @timing -FailsafeMode -Confirm:$false | Out-Null
        foreach ($h in $others) { Wait-Streaming $h $primary.Address -Seconds 60 | Should -BeTrue }
        $config = Invoke-PgLabCommand -LabHost $primary -User postgres -ArgumentList sh, -c, "curl -s --max-time 3 --cacert '$PatroniDirectory/ca.crt' https://$($primary.Address):8008/config; true"
        ($config | ConvertFrom-Json).failsafe_mode | Should -BeTrue
        $load = Start-AckedWriteLoad $connection -FirstId 1000000
        Wait-AckedWrites $load
        # Patroni writes the failsafe key (the members it must reach) while etcd has quorum; give it a loop or two.
        Start-Sleep -Seconds (2 * $PatroniLoopWait + 1)
        $downAt = [DateTime]::UtcNow
        foreach ($h in $others) { Stop-LabDaemon $h etcd }
        try {
            # Longer than the bound within which the primary turned read-only without failsafe mode (2 x TTL).
            $demoted = Wait-Condition { (Get-LabValue $primary 'SELECT pg_is_in_recovery()') -ne 'f' } -Seconds (2 * $PatroniTtl + 5)
            $promoted = @(Get-WritableHost $others)
            Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20) -Seconds 20
        }
        finally { foreach ($h in $others) { Start-LabDaemon $h etcd } }
        $result = Stop-AckedWriteLoad $load
        $demoted | Should -BeFalse -Because 'in failsafe mode a primary that reaches every member stays primary without etcd'
        $promoted | Should -BeNullOrEmpty -Because 'nothing is promoted without etcd'
        $refusedDuring = @($result.FailedAt | Where-Object { $_ -gt $downAt }).Count
        $lost = @(Get-MissingIds $primary $result.Acked)
        $lost | Should -BeNullOrEmpty
        $timings['failsafe: writes refused while etcd had no quorum'] = $refusedDuring
        Add-ScenarioNote ("failsafe mode, two etcd members down for {0}: {1} stayed primary, {2} writes refused meanwhile; {3} acknowledged, 0 lost" -f
            (Format-Seconds (2 * $PatroniTtl + 5)), $primary.Name, $refusedDuring, $result.Acked.Count)
        Set-ScenarioCount AckedWrites $result.Acked.Count
        Set-ScenarioCount AckedLost $lost.Count
    }
}
