# Automatic failover handed to Patroni and etcd (issue 19), on real lab hosts: real etcd 3.4 and Patroni 3.0 run on
# each host as the module starts them. One lab, one story: each It starts from the cluster the one before it left.
BeforeAll {
    . "$PSScriptRoot/Faults/FaultSuite.ps1" -WithModule
    Import-PgReplicationModule

    . "$PSScriptRoot/PatroniLab.ps1"
    $script:Ttl = $PatroniTtl; $script:LoopWait = $PatroniLoopWait
    function Get-Leader($Nodes) { (Get-PgReplicationTopology $Nodes -TimeoutSeconds 3 | Where-Object Role -eq 'Primary') }
    # How many lines of a member's pg_hba.conf in force admit the replication role from -From's address.
    function Get-HbaAdmitsQuery($From) {
        "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND '$($repl.UserName)' = ANY(user_name) AND address = '$($From.Address)'"
    }
}

Describe 'Automatic failover: Patroni and etcd' -Tag Acceptance, AutoFailover {
    BeforeAll {
        # The fourth host stays empty until a standby is built on it for a cluster Patroni already manages.
        $lab = New-PgLab -HostCount 4 -NoCluster 2, 3, 4
        $h1, $h2, $h3, $h4 = $lab.Hosts
        $repl = New-ReplicationCredential
        $api = New-RestApiCredential
        $nodes = Initialize-LabCluster $lab $repl -Standbys $h2, $h3
        $script:joined = @()
        $n1, $n2, $n3 = $nodes
        New-AckedTable $h1
        Invoke-PgLabSql -LabHost $h1 -Sql 'INSERT INTO acked (id) SELECT g FROM generate_series(1, 100) g' | Out-Null
        $connection = "$(Get-PgConnectionString $nodes -Format Npgsql -TargetSessionAttribute ReadWrite -Credential $h1.AdminCredential -IncludePassword -WarningAction SilentlyContinue)"

        $timings = [ordered]@{}
    }
    AfterAll {
        if ($timings.Count) { Write-Host ("Auto failover timings: " + (($timings.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value)" }) -join '; ')) }
        Remove-PgLab -Lab $lab
    }

    It '-WhatIf lists the files and daemons and changes nothing' {
        $verbose = $nodes | Enable-PgAutoFailover -RestApiCredential $api -TtlSeconds $Ttl -LoopWaitSeconds $LoopWait -RetryTimeoutSeconds 3 -WhatIf -Verbose 4>&1
        $planned = @($verbose | Where-Object { "$_" -like 'Planned:*' } | ForEach-Object { "$_" })
        $planned | Where-Object { $_ -like '*patroni.yml*' } | Should -Not -BeNullOrEmpty
        $planned | Where-Object { $_ -like '*start etcd member*' } | Should -HaveCount 3
        @(Get-LabProcess $h1 '*patroni*').Count | Should -Be 0
        Get-LabValue $h1 "SELECT current_setting('pgreplication.patroni', true)" | Should -BeNullOrEmpty
        # The first primary's pg_hba.conf admits its standbys, not itself: the line it lacks is planned, not written.
        $planned | Where-Object { $_ -like '*add to*' -and $_ -like "* $($h1.Address)/*" } | Should -Not -BeNullOrEmpty
        Get-LabValue $h1 (Get-HbaAdmitsQuery $h1) | Should -Be '0'
    }

    It 'hands the running cluster to Patroni under a write load: no acknowledged write lost, the primary keeps its role' {
        $load = Start-AckedWriteLoad $connection -FirstId 1000
        Wait-AckedWrites $load
        $took = Measure-Command {
            $out = $nodes | Enable-PgAutoFailover -RestApiCredential $api -TtlSeconds $Ttl -LoopWaitSeconds $LoopWait -RetryTimeoutSeconds 3 -Confirm:$false
        }
        $timings['hand-over'] = '{0:n1} s' -f $took.TotalSeconds
        @($out).Count | Should -Be 3
        # Patroni has written every member's settings when the hand-over returns: it moves a standby's recovery settings out
        # of postgresql.auto.conf at its first loop, writing that file again from what it read, which would undo an ALTER
        # SYSTEM made in between (Set-PgMasterConfig's reset of what would override Patroni's values).
        $inAutoConf = "SELECT count(*) FROM pg_file_settings WHERE name IN ('primary_conninfo', 'primary_slot_name') AND sourcefile LIKE '%/postgresql.auto.conf'"
        foreach ($h in $h1, $h2, $h3) { Get-LabValue $h $inAutoConf | Should -Be '0' -Because "Patroni wrote $($h.Name)'s settings before the hand-over returned" }
        Start-Sleep -Seconds 2
        $result = Stop-AckedWriteLoad $load
        $result.Acked.Count | Should -BeGreaterThan 20
        # The write outage of the hand-over as the client saw it: its longest wait between two acknowledged writes (the
        # load writes every 5 ms), and the writes refused. Patroni takes the leader lock over the running primary: no restart.
        $waits = @(for ($i = 1; $i -lt $result.AckedAt.Count; $i++) { ($result.AckedAt[$i] - $result.AckedAt[$i - 1]).TotalSeconds })
        $longestWait = ($waits | Measure-Object -Maximum).Maximum
        $timings['hand-over write outage'] = '{0:n2} s at most between acknowledged writes, {1} refused' -f $longestWait, $result.Failures
        $result.Failures | Should -Be 0 -Because "the primary was not restarted (refused: $($result.Errors -join '; '))"
        $longestWait | Should -BeLessThan 2
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        foreach ($h in $h2, $h3) { Wait-Streaming $h $h1.Address | Should -BeTrue }
        Wait-Condition { (Get-LabValue $h3 "SELECT count(*) FROM acked WHERE id >= 1000") -eq "$($result.Acked.Count)" } | Should -BeTrue
        Get-MissingIds $h1 $result.Acked | Should -BeNullOrEmpty
        Get-MissingIds $h2 (@(1..100) + $result.Acked) | Should -BeNullOrEmpty
        # Files with secrets are the postgres user's alone.
        Invoke-PgLabCommand -LabHost $h2 -ArgumentList @('stat', '-c', '%a %U', '/var/lib/postgresql/autofailover/patroni.yml', '/var/lib/postgresql/autofailover/node.key', '/var/lib/postgresql/autofailover') |
            Should -Be "600 postgres`n600 postgres`n700 postgres"
    }

    It 'every member''s pg_hba.conf admits every member for replication, its own address included (a member Patroni re-clones takes the leader''s file)' {
        foreach ($h in $h1, $h2, $h3) {
            foreach ($from in $h1, $h2, $h3) { Get-LabValue $h (Get-HbaAdmitsQuery $from) | Should -Not -Be '0' -Because "$($h.Name) admits $($from.Name)" }
        }
    }

    It 'Get-PgReplicationTopology shows Patroni as the manager, the leader and each member''s state' {
        $rows = Get-PgReplicationTopology $nodes
        $rows | ForEach-Object { $_.Manager | Should -Be 'patroni' }
        (Get-PatroniRow $rows $h1).MemberRole | Should -BeIn 'leader', 'master'
        (Get-PatroniRow $rows $h1).Leader | Should -Be (Get-StandbyAppName $h1)
        (Get-PatroniRow $rows $h2).MemberRole | Should -Be 'replica'
        (Get-PatroniRow $rows $h2).MemberState | Should -BeIn 'running', 'streaming'
    }

    It 'Invoke-PgPromotion refuses while Patroni manages the cluster, and changes nothing' {
        { $n2, $n3 | Invoke-PgPromotion -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'PgReplication.ManagedByPatroni*'
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 't'
    }

    It 'Test-PgReplication shows Patroni as the manager, its leader and each standby''s member state' {
        $health = @(Test-PgReplication $nodes)
        $health | Should -HaveCount 2
        foreach ($r in $health) {
            $r.Manager | Should -Be 'patroni'
            $r.Leader | Should -Be (Get-StandbyAppName $h1)
            $r.MemberRole | Should -Be 'replica'
            $r.MemberState | Should -BeIn 'running', 'streaming'
            $r.IsHealthy | Should -BeTrue
        }
    }

    It 'Set-PgMasterConfig writes through Patroni''s dynamic configuration on every member, never ALTER SYSTEM' {
        $autoConf = "SELECT count(*) FROM pg_file_settings WHERE name = 'wal_keep_size' AND sourcefile LIKE '%/postgresql.auto.conf'"
        $patroniConf = "SELECT setting FROM pg_file_settings WHERE name = 'wal_keep_size' AND sourcefile NOT LIKE '%/postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1"
        $n1 | Set-PgMasterConfig -WalKeepSize 1536 -WhatIf | Out-Null
        Get-LabValue $h1 $patroniConf | Should -Not -Be '1536MB' -Because '-WhatIf changes nothing'
        $n1 | Set-PgMasterConfig -WalKeepSize 1536 -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue | Out-Null
        foreach ($h in $h1, $h2, $h3) {
            Wait-Condition { (Get-LabValue $h $patroniConf) -eq '1536MB' } -Seconds 20 | Should -BeTrue -Because "Patroni writes the dynamic configuration on $($h.Name) too"
            Get-LabValue $h $autoConf | Should -Be '0' -Because 'nothing in postgresql.auto.conf overrides what Patroni writes'
        }
        # The adopted primary took it at the reload (Patroni did not start it, so it has no command-line value).
        Get-LabValue $h1 "SELECT current_setting('wal_keep_size')" | Should -Be '1536MB'
        # archive_mode needs a restart: named in a warning, pending on every member; -Restart has Patroni restart each
        # member, the standbys first, and nothing fails over. (The command archives nothing: this is about the restart.)
        $n1 | Set-PgMasterConfig -WalArchive '/bin/true %p' -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue | Out-Null
        $warned | Where-Object { "$_" -like '*archive_mode*' } | Should -Not -BeNullOrEmpty -Because 'the settings that wait for a restart are named'
        Wait-Condition { @(Get-PgReplicationTopology $nodes -TimeoutSeconds 3 | Where-Object PendingRestart).Count -eq 3 } -Seconds 20 | Should -BeTrue
        $n1 | Set-PgMasterConfig -WalArchive '/bin/true %p' -Restart -Confirm:$false | Out-Null
        Get-LabValue $h1 "SELECT current_setting('archive_mode')" | Should -Be 'on'
        Wait-Condition { -not (Get-PgReplicationTopology $nodes -TimeoutSeconds 3 | Where-Object PendingRestart) } -Seconds 20 | Should -BeTrue
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        foreach ($h in $h2, $h3) { Wait-Streaming $h $h1.Address -Seconds 30 | Should -BeTrue }
        # The same command again: what waits for a restart is read on every member (the running value against Patroni's
        # file for what Patroni put on the command line), and nothing does now: no member is restarted.
        $startedAt = @{}; foreach ($h in $h1, $h2, $h3) { $startedAt[$h.Name] = Get-LabValue $h 'SELECT pg_postmaster_start_time()' }
        $n1 | Set-PgMasterConfig -WalArchive '/bin/true %p' -Restart -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue | Out-Null
        $warned | Should -BeNullOrEmpty
        foreach ($h in $h1, $h2, $h3) { Get-LabValue $h 'SELECT pg_postmaster_start_time()' | Should -Be $startedAt[$h.Name] -Because "nothing waited on $($h.Name)" }
        # Patroni passes max_wal_senders on the server's command line, where a reload never reaches: a change of it waits for
        # a restart, and pg_settings.pending_restart stays false. Patroni's own flag lives in its memory: Patroni restarted
        # (the server running on), nothing flags the members any more. The same command again (no setting to change) must
        # still restart every member that runs another value than Patroni's file holds.
        $senders = [int] (Get-LabValue $h1 "SELECT current_setting('max_wal_senders')") + 2
        Invoke-PatroniConfigPatch $h1 $api @{ postgresql = @{ parameters = @{ max_wal_senders = $senders } } }
        $fileSenders = "SELECT setting FROM pg_file_settings WHERE name = 'max_wal_senders' AND sourcefile NOT LIKE '%/postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1"
        foreach ($h in $h1, $h2, $h3) { Wait-Condition { (Get-LabValue $h $fileSenders) -eq "$senders" } -Seconds 20 | Should -BeTrue }
        foreach ($h in $h3, $h2, $h1) { Stop-LabDaemon $h patroni; Start-LabDaemon $h patroni }
        # A Patroni killed with -9 leaves its member key in etcd (state, flags) until the new process writes it: a member
        # may read as running and flagged for a moment, so the wait is for both at once.
        Wait-Condition {
            $rows = @(Get-PgReplicationTopology $nodes -TimeoutSeconds 3)
            @($rows | Where-Object { $_.MemberState -in 'running', 'streaming' }).Count -eq 3 -and -not ($rows | Where-Object PendingRestart)
        } -Seconds 60 | Should -BeTrue -Because 'a restarted Patroni flags nothing'
        foreach ($h in $h1, $h2, $h3) {
            Get-LabValue $h "SELECT setting || ' ' || source FROM pg_settings WHERE name = 'max_wal_senders'" | Should -Be "$($senders - 2) command line"
        }
        $n1 | Set-PgMasterConfig -WalArchive '/bin/true %p' -Restart -Confirm:$false | Out-Null
        foreach ($h in $h1, $h2, $h3) {
            Wait-Condition { (Get-LabValue $h "SELECT current_setting('max_wal_senders')") -eq "$senders" } -Seconds 30 | Should -BeTrue -Because "the rerun restarted $($h.Name)"
        }
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        foreach ($h in $h2, $h3) { Wait-Streaming $h $h1.Address -Seconds 30 | Should -BeTrue }
        # A listen address Patroni sets per member is refused, naming the node, and nothing changes.
        $n1 | Set-PgMasterConfig -ListenAddress $h1.Address, '127.0.0.2' -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
        $refused[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.PatroniOwnsSetting*'
        "$($refused[0])" | Should -Match '127\.0\.0\.2'
        Get-LabValue $h1 "SELECT current_setting('listen_addresses')" | Should -Not -Match '127\.0\.0\.2'
    }

    It 'Set-PgStandbyDelay on a member: the delay goes through Patroni, which tags it nofailover' {
        $n3 | Set-PgStandbyDelay -ApplyDelay ([timespan]::FromSeconds(3)) -Confirm:$false | Out-Null
        Get-LabValue $h3 "SELECT current_setting('recovery_min_apply_delay')" | Should -Be '3s'
        $config = Invoke-PgLabCommand -LabHost $h3 -User postgres -ArgumentList cat, "$PatroniDirectory/patroni.yml" | Out-String | ConvertFrom-Json
        $config.tags.nofailover | Should -BeTrue
        (Test-PgReplication $n3).NoFailover | Should -BeTrue
        # Patroni keeps it: after its next loops the delay is still in force (ALTER SYSTEM would have been stripped).
        Start-Sleep -Seconds (2 * $LoopWait + 1)
        Get-LabValue $h3 "SELECT current_setting('recovery_min_apply_delay')" | Should -Be '3s'
        Get-LabValue $h3 "SELECT count(*) FROM pg_file_settings WHERE name = 'recovery_min_apply_delay' AND sourcefile LIKE '%/postgresql.auto.conf'" | Should -Be '0'
    }

    It 'etcd and the REST API refuse a client without certificate or password' {
        # etcd: TLS with client certificates; without one the handshake fails.
        $noCert = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList @('sh', '-c',
            "etcdctl --endpoints https://$($h1.Address):2379 --cacert /var/lib/postgresql/autofailover/ca.crt --dial-timeout 2s put /x y 2>&1; echo rc=`$?")
        $noCert | Should -Match 'rc=[1-9]'
        $withCert = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList @('sh', '-c',
            "etcdctl --endpoints https://$($h1.Address):2379 --cacert /var/lib/postgresql/autofailover/ca.crt --cert /var/lib/postgresql/autofailover/node.crt --key /var/lib/postgresql/autofailover/node.key --dial-timeout 2s endpoint health 2>&1; echo rc=`$?")
        $withCert | Should -Match 'rc=0'
        # REST: a change without the password is refused (401), reading is open.
        $noAuth = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList @('sh', '-c',
            "curl -s -o /dev/null -w '%{http_code}' --cacert /var/lib/postgresql/autofailover/ca.crt -X POST -d '{}' https://$($h1.Address):8008/restart")
        $noAuth | Should -Be '401'
        $read = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList @('sh', '-c',
            "curl -s -o /dev/null -w '%{http_code}' --cacert /var/lib/postgresql/autofailover/ca.crt https://$($h1.Address):8008/cluster")
        $read | Should -Be '200'
    }

    It 'kill -9 of the primary''s postgres: Patroni starts it again in place, no failover' {
        $started = Get-LabValue $h1 'SELECT pg_postmaster_start_time()'
        Stop-PgLabPostgres -LabHost $h1
        Wait-Condition { (Get-LabValue $h1 'SELECT pg_is_in_recovery()') -eq 'f' } -Seconds 30 | Should -BeTrue
        Get-LabValue $h1 'SELECT pg_postmaster_start_time()' | Should -Not -Be $started -Because 'the killed postmaster was started again'
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 't'
        foreach ($h in $h2, $h3) { Wait-Streaming $h $h1.Address -Seconds 30 | Should -BeTrue }
    }

    It 'the primary host crashes (kill -9 of Patroni and postgres): a standby is writable within TTL + loop, the other follows, the old primary rejoins' {
        $load = Start-AckedWriteLoad $connection -FirstId 100000
        Wait-AckedWrites $load
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Stop-LabHostHa $h1
        $writable = $null
        Wait-Condition {
            foreach ($h in $h2, $h3) { if ((Get-LabValue $h 'SELECT pg_is_in_recovery()') -eq 'f') { $script:newPrimary = $h; return $true } }
            $false
        } -Seconds ($Ttl + $LoopWait + 20) -IntervalMilliseconds 100 | Should -BeTrue
        $writable = $clock.Elapsed.TotalSeconds
        # What the client had acknowledged when a standby took over: only these can be lost (see below).
        $ackedBeforeTakeover = @($load.AckedSoFar.ToArray())
        $timings['kill -9 to writable'] = '{0:n1} s' -f $writable
        # TTL + loop, plus the promotion itself, with room for a loaded 2-core machine (the benchmark measures the speed).
        $writable | Should -BeLessThan (2 * ($Ttl + $LoopWait))
        $newPrimary | Should -Be $h2 -Because "$($h3.Name) is a delayed standby, tagged nofailover: Patroni never promotes it"
        $sibling = if ($newPrimary -eq $h2) { $h3 } else { $h2 }
        Wait-Streaming $sibling $newPrimary.Address -Seconds 30 | Should -BeTrue
        $timings['kill -9 to sibling streaming'] = '{0:n1} s' -f $clock.Elapsed.TotalSeconds
        Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20)
        $result = Stop-AckedWriteLoad $load
        # The host comes back: Patroni finds the new leader, rewinds the old primary and starts it as a standby.
        Start-LabHostHa $h1
        Wait-Streaming $h1 $newPrimary.Address -Seconds 90 | Should -BeTrue
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 't'
        # Asynchronous replication (the default; synchronous mode is the next cases' subject): a host that dies can take
        # with it the commits it acknowledged in its last moments, before the standbys received them. Patroni bounds
        # them (maximum_lag_on_failover); the test proves that only such a tail is lost: the newest writes the old
        # primary acknowledged, none acknowledged after the takeover, and nothing written twice.
        $lost = @(Get-MissingIds $newPrimary $result.Acked)
        $timings['acknowledged writes lost (asynchronous)'] = $lost.Count
        if ($lost.Count) {
            $lost | Where-Object { $_ -notin $ackedBeforeTakeover } | Should -BeNullOrEmpty -Because 'a write acknowledged after the takeover is on the new primary'
            $kept = @($result.Acked | Where-Object { $_ -notin $lost })
            $keptBetween = @($kept | Where-Object { $_ -gt ($lost | Measure-Object -Minimum).Minimum -and $_ -lt ($lost | Measure-Object -Maximum).Maximum })
            $keptBetween | Should -BeNullOrEmpty -Because 'what is lost is one run of the newest commits on the old timeline, not writes here and there'
            $lost.Count | Should -BeLessThan 200 -Because 'the standbys were streaming: only the last milliseconds of the old primary are at risk'
        }
        # The old primary rejoined by rewinding: it holds exactly what the new primary holds, its lost tail included.
        Wait-Condition { (Get-MissingIds $h1 ($result.Acked | Where-Object { $_ -notin $lost })).Count -eq 0 } -Seconds 30 | Should -BeTrue
        if ($lost.Count) { @(Get-MissingIds $h1 $lost) | Should -HaveCount $lost.Count -Because 'pg_rewind removed the diverged commits' }
        Get-LabValue $newPrimary 'SELECT count(*) - count(DISTINCT id) FROM acked' | Should -Be '0'
    }

    It 'Set-PgStandbyDelay 0 on a member: no delay, the nofailover tag removed' {
        $n3 | Set-PgStandbyDelay -ApplyDelay 0 -Confirm:$false | Out-Null
        Get-LabValue $h3 "SELECT current_setting('recovery_min_apply_delay')" | Should -Be '0'
        (Test-PgReplication $n3).NoFailover | Should -BeFalse
    }

    It 'Invoke-PgSwitchover goes through Patroni under a write load: 0 acknowledged writes lost, the old primary streams from the new one' {
        $current = $lab.Hosts | Where-Object { (Get-LabValue $_ 'SELECT pg_is_in_recovery()') -eq 'f' }
        $current | Should -HaveCount 1
        $target = $h1
        if ($current -eq $h1) { $target = $h2 }
        $from = $nodes | Where-Object ComputerName -eq $current.Address
        $to = $nodes | Where-Object ComputerName -eq $target.Address
        $others = @($nodes | Where-Object { $_ -ne $from -and $_ -ne $to })
        $load = Start-AckedWriteLoad $connection -FirstId 300000
        Wait-AckedWrites $load
        $result = $to | Invoke-PgSwitchover -Primary $from -Sibling $others -Confirm:$false
        $result.PromotionSummary.NewPrimary | Should -Be $to.Name
        Get-LabValue $target 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Wait-Streaming $current $target.Address -Seconds 30 | Should -BeTrue
        Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20)
        $acked = (Stop-AckedWriteLoad $load).Acked
        Get-MissingIds $target $acked | Should -BeNullOrEmpty
        $timings['switchover to writable'] = '{0:n2} s' -f $result.PromotionSummary.TimeToWritable.TotalSeconds
    }

    It 'Restore-PgStandby on a member: nothing while it streams, Patroni''s reinitialisation with -Reclone' {
        $leaderHost = @(Get-WritableHost $lab.Hosts)
        $leaderHost | Should -HaveCount 1
        $member = @($h1, $h2, $h3 | Where-Object { $_ -ne $leaderHost[0] })[0]
        $memberNode = $nodes | Where-Object ComputerName -eq $member.Address
        $leaderNode = $nodes | Where-Object ComputerName -eq $leaderHost[0].Address
        $started = Get-LabValue $member 'SELECT pg_postmaster_start_time()'
        $memberNode | Restore-PgStandby -Primary $leaderNode -Confirm:$false | Out-Null
        Get-LabValue $member 'SELECT pg_postmaster_start_time()' | Should -Be $started -Because 'a member that streams from the leader needs nothing'
        # The leader itself is refused, naming it.
        $leaderNode | Restore-PgStandby -Primary $leaderNode -Reclone -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
        $refused[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.PatroniLeader*'
        $took = Measure-Command { $memberNode | Restore-PgStandby -Primary $leaderNode -Reclone -Confirm:$false | Out-Null }
        $timings['reinitialise a member'] = '{0:n1} s' -f $took.TotalSeconds
        Get-LabValue $member 'SELECT pg_postmaster_start_time()' | Should -Not -Be $started
        Wait-Streaming $member $leaderHost[0].Address -Seconds 5 | Should -BeTrue
        Get-LabValue $leaderHost[0] 'INSERT INTO acked (id) VALUES (900001)' | Out-Null
        Wait-Condition { (Get-LabValue $member 'SELECT count(*) FROM acked WHERE id = 900001') -eq '1' } -Seconds 20 | Should -BeTrue
    }

    It 'Invoke-PgPromotion -Force asks Patroni for a failover to the chosen candidate' {
        $leaderHost = @(Get-WritableHost $lab.Hosts)[0]
        $candidateHost = @($h1, $h2, $h3 | Where-Object { $_ -ne $leaderHost })[-1]
        $candidate = $nodes | Where-Object ComputerName -eq $candidateHost.Address
        $result = $nodes | Where-Object ComputerName -ne $leaderHost.Address | Invoke-PgPromotion -Force -Name $candidate.Name -Confirm:$false
        $result.ComputerName | Should -Be $candidateHost.Address
        Get-LabValue $candidateHost 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        foreach ($h in $h1, $h2, $h3 | Where-Object { $_ -ne $candidateHost }) { Wait-Streaming $h $candidateHost.Address -Seconds 60 | Should -BeTrue }
    }

    It 'a standby built with Invoke-PgBaseBackup | Enable-PgHotStandby joins Patroni as a member' {
        $leaderHost = @(Get-WritableHost $lab.Hosts)[0]
        $leaderNode = $nodes | Where-Object ComputerName -eq $leaderHost.Address
        $n4 = New-LabNode $lab $h4 -NoConnect
        $leaderNode | Set-PgMasterConfig -Standby $n4 -ReplicationUser $repl.UserName -Confirm:$false | Out-Null
        $slot = Get-StandbyAppName $h4
        $slotCount = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'"
        $took = Measure-Command { $copied = @($n4 | Invoke-PgBaseBackup -Primary $leaderNode -Confirm:$false) }
        # The slot was declared permanent (and made by Patroni) before the copy. Patroni drops an idle slot it does not know
        # whenever it reloads its slot list; a change of its slots makes it reload: the control slot made by SQL goes, the
        # standby's stays while it is idle between the copy and its start.
        $copied | Should -HaveCount 1
        @((Get-PatroniConfig $leaderHost).slots.Keys) | Should -Contain $slot
        Invoke-PgLabSql -LabHost $leaderHost -Sql "SELECT pg_create_physical_replication_slot('unknown_probe')" | Out-Null
        Invoke-PatroniConfigPatch $leaderHost $api @{ slots = @{ reload_probe = @{ type = 'physical' } } }
        Wait-Condition { (Get-LabValue $leaderHost "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'unknown_probe'") -eq '0' } -Seconds 30 |
            Should -BeTrue -Because 'Patroni reloaded its slot list and dropped the idle slot it did not know'
        Get-LabValue $leaderHost $slotCount | Should -Be '1' -Because 'the standby''s slot is one Patroni keeps'
        Invoke-PatroniConfigPatch $leaderHost $api @{ slots = @{ reload_probe = $null } }
        $took += Measure-Command { $script:joined = @($copied | Enable-PgHotStandby -Credential $repl -Confirm:$false) }
        $timings['new standby built and joined'] = '{0:n1} s' -f $took.TotalSeconds
        $joined | Should -HaveCount 1
        @((Get-PatroniConfig $leaderHost).slots.Keys) | Should -Not -Contain $slot -Because 'the permanent entry goes once the standby is a member'
        Wait-Streaming $h4 $leaderHost.Address | Should -BeTrue
        $row = Get-PatroniRow (Get-PgReplicationTopology (@($nodes) + $joined)) $h4
        $row.Manager | Should -Be 'patroni'
        $row.MemberRole | Should -Be 'replica'
        $row.MemberState | Should -BeIn 'running', 'streaming'
        Invoke-PgLabCommand -LabHost $h4 -ArgumentList @('stat', '-c', '%a %U', "$PatroniDirectory/patroni.yml", "$PatroniDirectory/node.key", $PatroniDirectory) |
            Should -Be "600 postgres`n600 postgres`n700 postgres"
        # Patroni keeps the slot it streams with as the member's (no permanent entry left), and the member gets new rows.
        Get-LabValue $leaderHost "SELECT active FROM pg_replication_slots WHERE slot_name = '$(Get-StandbyAppName $h4)'" | Should -Be 't'
        Start-Sleep -Seconds (2 * $LoopWait)
        Get-LabValue $leaderHost "SELECT active FROM pg_replication_slots WHERE slot_name = '$(Get-StandbyAppName $h4)'" | Should -Be 't'
        Get-LabValue $leaderHost 'INSERT INTO acked (id) VALUES (900002)' | Out-Null
        Wait-Condition { (Get-LabValue $h4 'SELECT count(*) FROM acked WHERE id = 900002') -eq '1' } -Seconds 20 | Should -BeTrue
    }

    It 'Disable-PgAutoFailover hands back a streaming cluster; manual promotion works again' {
        $primaryHost = ($lab.Hosts | Where-Object { (Get-LabValue $_ 'SELECT pg_is_in_recovery()') -eq 'f' })
        $primaryHost | Should -HaveCount 1
        @($nodes) + @($joined) | Disable-PgAutoFailover -Confirm:$false | Out-Null
        foreach ($h in $lab.Hosts) {
            @(Get-LabProcess $h '*patroni*').Count | Should -Be 0
            @(Get-LabProcess $h '*etcd*').Count | Should -Be 0
            Get-LabValue $h 'SELECT 1' | Should -Be '1'
            Get-LabValue $h "SELECT coalesce(current_setting('pgreplication.patroni', true), '')" | Should -Be ''
        }
        foreach ($h in $lab.Hosts | Where-Object { $_ -ne $primaryHost }) { Wait-Streaming $h $primaryHost.Address | Should -BeTrue }
        (Get-PgReplicationTopology $nodes | Where-Object Manager) | Should -BeNullOrEmpty
        # The primary is lost; the manual cmdlets take over.
        $oldPrimary = $nodes | Where-Object ComputerName -eq $primaryHost.Address
        Stop-PgLabPostgres -LabHost $primaryHost
        $promoted = $nodes | Where-Object { $_ -ne $oldPrimary } | Invoke-PgPromotion -Confirm:$false
        Get-LabValue ($lab.Hosts | Where-Object Address -eq $promoted.ComputerName) 'SELECT pg_is_in_recovery()' | Should -Be 'f'
    }

    It 'Remove-PgLab kills the lab''s etcd, Patroni and supervisors by PID' {
        Start-LabHostHa $h1
        $pids = @(Wait-Condition { @(Get-LabProcess $h1 '*/bin/patroni *').Count -gt 0 } -Seconds 10 | Out-Null
            Get-LabProcess $h1 '*supervise.sh *'; Get-LabProcess $h1 '*/bin/patroni *'; Get-LabProcess $h1 'etcd --config-file*') | ForEach-Object Id
        $pids.Count | Should -BeGreaterOrEqual 3
        Remove-PgLab -Lab $lab
        Wait-Condition { @($pids | Where-Object { Test-Path "/proc/$_" }).Count -eq 0 } -Seconds 10 | Should -BeTrue
    }
}
