# Issue 22, point 3: a rejoin that never dead-ends. The scenario a new user met on three Debian hosts (PostgreSQL 15): a
# switchover under a write load, kill -9 of the new primary before its first checkpoint after the promotion, a promotion of
# another node, then Restore-PgStandby of the killed one, which pg_rewind must bring back (it failed there: "could not find
# previous WAL record"). Then a rewind interrupted while it copies: the half-rewound directory must never start, a rerun
# without -AllowReclone changes nothing, and with it the node comes back from a new copy. One lab, one story.
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll {
    . "$PSScriptRoot/FaultSuite.ps1" -WithModule
    Add-Type -Path (Join-Path $(if ($env:PGREPLICATION_MODULE) { $env:PGREPLICATION_MODULE } else { "$PSScriptRoot/../../../out/PgReplication" }) 'Dependencies/PgReplication.Core.dll')
}

Describe 'Rejoining a crashed or half-rewound node' -Tag Acceptance, Faults, Rejoin {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Debian -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $admin = $h1.AdminCredential
        $n1, $n2, $n3 = Initialize-LabCluster $lab (New-ReplicationCredential)
        $nodes = @($n1, $n2, $n3)
        New-AckedTable $h1
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE EXTENSION IF NOT EXISTS amcheck' | Out-Null
        # TPC-B tables: the load dirties their pages, so the checkpoint after a promotion has much to write, and takes its time.
        function Invoke-LabPgbench($LabHost, [string[]] $Arguments) {
            Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList (@("$($LabHost.BinDirectory)/pgbench") + $Arguments + @('-h', '/var/run/postgresql', 'postgres')) -TimeoutSeconds 300 | Out-Null
        }
        Invoke-LabPgbench $h1 '-i', '-q', '-s', '5'
        $client = "$(Get-PgConnectionString $nodes -Format Npgsql -TargetSessionAttribute ReadWrite -Credential $admin -IncludePassword -WarningAction SilentlyContinue)"

        function Get-LabHostOf($Node) { $lab.Hosts | Where-Object Name -EQ $Node.Name }
        # The same rows everywhere once every standby has replayed what the primary has: count and sum of the acknowledged table.
        function Assert-SameData($Primary) {
            $primaryHost = Get-LabHostOf $Primary
            $lsn = Get-LabValue $primaryHost 'SELECT pg_current_wal_lsn()'
            foreach ($h in $lab.Hosts | Where-Object Name -NE $Primary.Name) {
                Wait-Condition { (Get-LabValue $h "SELECT pg_last_wal_replay_lsn() >= '$lsn'") -eq 't' } | Should -BeTrue -Because "$($h.Name) must replay up to $lsn"
            }
            $sums = @($lab.Hosts | ForEach-Object { Get-LabValue $_ 'SELECT count(*) || '':'' || coalesce(sum(id), 0) FROM acked' })
            @($sums | Select-Object -Unique).Count | Should -Be 1 -Because "every node must hold the same rows ($($sums -join ', '))"
            $sums[0]
        }
        # pg_amcheck (heap and B-tree indexes) of a node's databases: a rewind that mixed the wrong blocks shows here.
        function Assert-Amcheck($LabHost) {
            Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList "$($LabHost.BinDirectory)/pg_amcheck", --all, --heapallindexed, -h, /var/run/postgresql -TimeoutSeconds 300 | Out-Null
        }
    }
    AfterAll {
        Save-ScenarioResults Fault
        Remove-PgLab -Lab $lab
    }

    It 'switchover under a write load, the new primary killed (kill -9) before its first checkpoint, another node promoted -> Restore-PgStandby rewinds it with pg_rewind, and every node holds the same rows' {
        $load = Start-AckedWriteLoad $client -FirstId 1
        try {
            Wait-AckedWrites $load
            $null = $n2 | Invoke-PgSwitchover -Primary $n1 -Sibling $n3 -Confirm:$false
            Invoke-LabPgbench $h2 '-T', '3', '-c', '2'
            Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20)
            # The checkpoint after a promotion is spread out over the dirty pages: seconds later the control file still names the old timeline.
            Get-LabValue $h2 'SELECT timeline_id FROM pg_control_checkpoint()' | Should -Be '1' -Because 'the crash must come before the checkpoint on the new timeline'
            Stop-PgLabPostgres -LabHost $h2
            $new = $n1, $n3 | Invoke-PgPromotion -Confirm:$false
            Start-Sleep -Seconds 2
        }
        finally { $written = Stop-AckedWriteLoad $load }
        $new.Name | Should -BeIn $h1.Name, $h3.Name

        $clock = [Diagnostics.Stopwatch]::StartNew()
        $verbose = $n2 | Restore-PgStandby -Primary $new -Confirm:$false -Verbose -WarningVariable warnings 4>&1
        $seconds = $clock.Elapsed.TotalSeconds
        $back = $verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $back.Role | Should -Be 'Standby'
        "$($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })" | Should -Match 'pg_rewind from .* done' -Because 'the rewind itself must work, not a new copy'
        $warnings | Should -BeNullOrEmpty
        Wait-Streaming $h2 (Get-LabHostOf $new).Address | Should -BeTrue
        $data = Assert-SameData $new
        Assert-Amcheck $h2
        $lost = @(Get-MissingIds (Get-LabHostOf $new) $written.Acked)
        Set-ScenarioCount AsyncLost $lost.Count
        Add-ScenarioNote ('rewound with pg_rewind in {0:0.0} s; {1} of {2} acknowledged writes lost to the asynchronous crash; rows (count:sum) {3} on all three, pg_amcheck clean' -f $seconds, $lost.Count, $written.Acked.Count, $data)
        foreach ($r in $nodes | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
        $script:primary = $new
    }

    It 'pg_rewind killed (kill -9) while it copies -> the half-rewound directory refuses to start, Restore-PgStandby refuses it (HalfRewound) and changes nothing, and with -AllowReclone takes a new copy' {
        # A node to rewind with much to copy: the old primary of a failover, restarted unfenced, while the new primary writes new tables.
        $oldHost = Get-LabHostOf $primary
        $old = $nodes | Where-Object Name -EQ $primary.Name
        $standbys = @($nodes | Where-Object Name -NE $primary.Name)
        Stop-PgLabPostgres -LabHost $oldHost
        $new = $standbys | Invoke-PgPromotion -Confirm:$false
        $newHost = Get-LabHostOf $new
        Invoke-LabPgbench $newHost '-i', '-q', '-s', '8'
        Set-LabLinkRate $newHost -Mbit 40
        try {
            $fault = Start-LabFault KillRewind $oldHost $oldHost '*/pg_rewind *' -DelaySeconds 3
            $failed = @()
            $null = $old | Restore-PgStandby -Primary $new -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
            $killedAt = $fault | Wait-Job | Receive-Job
        }
        finally { Clear-LabLinkRate $newHost }
        $killedAt | Should -Not -BeNullOrEmpty
        $failed.FullyQualifiedErrorId | Should -BeLike 'PgReplication.RewindFailed*'
        "$($failed[0])" | Should -Match 'half-rewound'

        { Start-PgLabPostgres -LabHost $oldHost -TimeoutSeconds 20 } | Should -Throw
        Test-PgLabPostgres -LabHost $oldHost | Should -BeFalse -Because 'a half-rewound directory must never start'
        $mode = Invoke-PgLabCommand -LabHost $oldHost -ArgumentList stat, -c, '%a', $oldHost.DataDirectory
        $refused = @()
        $null = $old | Restore-PgStandby -Primary $new -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable refused
        $refused.FullyQualifiedErrorId | Should -BeLike 'PgReplication.HalfRewound*'
        Invoke-PgLabCommand -LabHost $oldHost -ArgumentList stat, -c, '%a', $oldHost.DataDirectory | Should -Be $mode -Because 'a refusal changes nothing'
        Test-PgLabPostgres -LabHost $oldHost | Should -BeFalse

        $clock = [Diagnostics.Stopwatch]::StartNew()
        $back = $old | Restore-PgStandby -Primary $new -AllowReclone -Confirm:$false -WarningAction SilentlyContinue
        $back.Role | Should -Be 'Standby'
        Wait-Streaming $oldHost $newHost.Address | Should -BeTrue
        $data = Assert-SameData $new
        Assert-Amcheck $oldHost
        Add-ScenarioNote ('pg_rewind killed while copying (directory mode {0}); refused without -AllowReclone; new copy with it in {1:0.0} s; rows {2} on all three, pg_amcheck clean' -f $mode, $clock.Elapsed.TotalSeconds, $data)
        foreach ($r in $nodes | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
        $script:standby = $back
        $script:standbyHost = $oldHost
    }

    It 'a node that crashed and came back -> the pooled sessions opened before the crash are all replaced, even when many open at once' {
        # The CI failure this guards: a promotion's sibling follow opens several pooled sessions to the new primary at
        # once; sessions pooled before that node's crash held its last words ("terminating connection due to unexpected
        # postmaster exit"), and one of them was handed out again while another session was clearing the pool.
        $node = $standby
        # Each parallel runspace opens a pooled session to the node, reads, and holds it a moment so they overlap
        # ([NullString] because PowerShell passes $null to a string parameter as '').
        $read = {
            param($Node)
            $session = [PgReplication.Core.Sql.PgSession]::Open($Node, $null, $null, [NullString]::Value, $null, $null, $null, $true, [NullString]::Value)
            try { $session.Scalar[string]('SELECT pg_catalog.pg_backend_pid()::text'); Start-Sleep -Milliseconds 500 } finally { $session.Dispose() }
        }.ToString()
        $before = @(1..8 | ForEach-Object -ThrottleLimit 8 -Parallel { & ([scriptblock]::Create($using:read)) $using:node })
        @($before | Select-Object -Unique).Count | Should -BeGreaterThan 1 -Because 'the pool must hold several connections to the node'
        Stop-PgLabPostgres -LabHost $standbyHost
        Start-PgLabPostgres -LabHost $standbyHost

        $after = @(1..8 | ForEach-Object -ThrottleLimit 8 -Parallel { try { & ([scriptblock]::Create($using:read)) $using:node } catch { "failed: $_" } })
        $after | Where-Object { $_ -like 'failed:*' } | Should -BeNullOrEmpty
        $after.Count | Should -Be 8
        Add-ScenarioNote ("$($after.Count) pooled sessions opened at once after kill -9 and restart; none failed")
    }
}
