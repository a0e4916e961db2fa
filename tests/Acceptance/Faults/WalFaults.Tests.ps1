# Issue 9, faults 7 to 9: WAL removed before a standby fetched it (without a slot, and a slot past
# max_slot_wal_keep_size), an archive target that cannot be written, and a data directory of another cluster.
# Debian layout for the cluster (config in /etc), an Upstream host with a cluster of its own for the last.
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Faults of WAL, archive and identity' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Upstream -NoCluster 2
        $h1, $h2, $h3 = $lab.Hosts
        $repl = New-ReplicationCredential
        $archive = '/var/lib/postgresql/wal_archive'
        $n1 = New-LabNode $lab $h1
        $n1 | New-PgReplicationUser -Credential $repl |
            Set-PgMasterConfig -Standby $h2.Address -WalKeepSize 1 -MaxSlotWalKeepSize 1 -WalArchive $archive -Restart -Confirm:$false | Out-Null
        # No slot: only wal_keep_size (1 MB) keeps WAL for it.
        $n2 = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $n1 -NoSlot -Confirm:$false | Enable-PgHotStandby
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE filler (x int, pad text)' | Out-Null

        # Writes and switches WAL on the primary, a checkpoint each time (which removes what nothing keeps),
        # until -Until holds or 20 rounds are done.
        function Invoke-WalChurn([scriptblock] $Until) {
            foreach ($round in 1..20) {
                Invoke-PgLabSql -LabHost $h1 -Sql "INSERT INTO filler SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g; SELECT pg_switch_wal(); CHECKPOINT;" | Out-Null
                if (& $Until) { return $round }
            }
            throw 'The primary kept the WAL after 20 rounds of writes, switches and checkpoints.'
        }
        function Get-StandbyHealth { $n1, $n2 | Test-PgReplication | Where-Object Standby -EQ $h2.Name }
        function Assert-Reclone {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $back = $n2 | Restore-PgStandby -Primary $n1 -Reclone -Confirm:$false
            $back.Role | Should -Be 'Standby'
            Wait-Streaming $h2 $h1.Address | Should -BeTrue
            $health = Get-StandbyHealth
            $health.IsHealthy | Should -BeTrue -Because ($health.Checks -join '; ')
            Add-ScenarioNote ('Restore-PgStandby -Reclone: streaming again after {0:0.0} s' -f $clock.Elapsed.TotalSeconds)
        }
        function Get-HostState($LabHost) { Get-LabState @{ Hosts = @($LabHost) } }
    }
    AfterAll {
        Save-ScenarioResults Fault
        Remove-PgLab -Lab $lab
    }

    It 'WAL removed before a standby fetched it (no slot, wal_keep_size 1MB, the standby stopped while the primary writes) -> Test-PgReplication names the cause and the remedy' {
        $needed = Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_walfile_name(pg_current_wal_lsn())'
        Stop-PgLabPostgres -LabHost $h2
        $rounds = Invoke-WalChurn { (Invoke-PgLabSql -LabHost $h1 -Sql "SELECT min(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'").Substring(8) -gt $needed.Substring(8) }
        Start-PgLabPostgres -LabHost $h2
        # The standby starts, asks for the WAL it needs, and is told it is gone.
        Wait-Condition { (Get-LabValue $h2 'SELECT pg_is_in_recovery()') -eq 't' } | Should -BeTrue
        $health = Get-StandbyHealth
        $health.IsHealthy | Should -BeFalse
        $cause = $health.Checks | Where-Object Name -EQ 'WAL still on the primary'
        $cause.Passed | Should -BeFalse -Because ($health.Checks -join '; ')
        $cause.Message | Should -Match 'Restore-PgStandby -Reclone'
        Add-ScenarioNote "after $rounds round(s) of writes and checkpoints: $($cause.Name): $($cause.Message)"
    }

    It 'a standby whose WAL is gone -> Restore-PgStandby -Reclone takes a new copy and it streams again' {
        Assert-Reclone
    }

    It 'a standby stopped until its slot passed max_slot_wal_keep_size (1MB) -> the slot shows wal_status lost, Test-PgReplication says so, and -Reclone brings it back' {
        $slot = Get-StandbyAppName $h2
        Get-LabValue $h1 "SELECT active FROM pg_replication_slots WHERE slot_name = '$slot'" | Should -Be 't' -Because 'the reclone uses a slot'
        Stop-PgLabPostgres -LabHost $h2
        $rounds = Invoke-WalChurn { (Get-LabValue $h1 "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$slot'") -eq 'lost' }
        # Asked while the standby is still stopped: once started it may fetch the missing WAL from the archive and
        # bring the slot back (PostgreSQL 15 lets a physical slot be used again), so 'lost' is seen before that.
        $health = Get-StandbyHealth
        $health.State | Should -Be 'unreachable'
        $health.SlotWalStatus | Should -Be 'lost'
        $check = $health.Checks | Where-Object Name -EQ 'slot healthy'
        $check.Passed | Should -BeFalse
        $check.Message | Should -Match 'wal_status lost'
        Start-PgLabPostgres -LabHost $h2
        Wait-Condition { (Get-LabValue $h2 'SELECT pg_is_in_recovery()') -eq 't' } | Should -BeTrue
        Add-ScenarioNote "after $rounds round(s) of writes and checkpoints: $($check.Name): $($check.Message)"
        Assert-Reclone
    }

    It 'archive target unwritable (Set-PgMasterConfig -WalArchive to a directory, then made read-only) -> pg_stat_archiver.failed_count rises, Test-PgReplication reports it, and the WAL waits in pg_wal until archiving works again' {
        Invoke-PgLabCommand -LabHost $h1 -ArgumentList chmod, 0500, $archive | Out-Null
        try {
            $failedBefore = [int] (Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT failed_count FROM pg_stat_archiver')
            $segment = Invoke-PgLabSql -LabHost $h1 -Sql "INSERT INTO filler VALUES (1, 'a'); SELECT pg_walfile_name(pg_current_wal_lsn()) FROM (SELECT pg_switch_wal()) s"
            Wait-Condition { [int] (Get-LabValue $h1 'SELECT failed_count FROM pg_stat_archiver') -gt $failedBefore } | Should -BeTrue
            $health = Get-StandbyHealth
            ($health.Checks | Where-Object Name -EQ 'archiver not failing').Passed | Should -BeFalse
            $health.IsHealthy | Should -BeFalse
            # Nothing is dropped: the segment stays, marked ready for the archiver.
            Get-LabValue $h1 "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name = '$segment.ready'" | Should -Be '1'
            Add-ScenarioNote ('failed_count {0} -> {1}; {2} kept in pg_wal, ready' -f $failedBefore, (Get-LabValue $h1 'SELECT failed_count FROM pg_stat_archiver'), $segment)
        }
        finally { Invoke-PgLabCommand -LabHost $h1 -ArgumentList chmod, 0700, $archive | Out-Null }
        # A new segment ready to archive wakes the archiver, which then archives the one it failed on first.
        Invoke-PgLabSql -LabHost $h1 -Sql "INSERT INTO filler VALUES (2, 'b'); SELECT pg_switch_wal()" | Out-Null
        Wait-Condition { (Get-LabValue $h1 'SELECT last_archived_wal FROM pg_stat_archiver') -gt $segment } -Seconds 90 | Should -BeTrue
        Invoke-PgLabCommand -LabHost $h1 -ArgumentList test, -f, "$archive/$segment" | Out-Null
        $health = Get-StandbyHealth
        ($health.Checks | Where-Object Name -EQ 'archiver not failing').Passed | Should -BeTrue
    }

    It 'a data directory of another cluster (another system identifier) -> Enable-PgHotStandby refuses it, changing nothing' {
        $other = New-LabNode $lab $h3 -Credential $h3.AdminCredential
        $other.SystemIdentifier | Should -Not -Be $n1.SystemIdentifier
        $before = Get-HostState $h3
        $out = $other | Enable-PgHotStandby -Primary $n1 -Credential $repl -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        "$($refused[0])" | Should -Match 'another cluster'
        "$($refused[0])" | Should -Match ([regex]::Escape($h3.Name))
        Get-HostState $h3 | Should -Be $before
        Add-ScenarioNote (Format-ErrorSummary $refused[0])
    }

    It 'a standby of another cluster -> Set-PgStandbyUpstream refuses to make it follow this primary, changing nothing' {
        # A standby of its own cluster: its own data directory started in recovery.
        Invoke-PgLabCommand -LabHost $h3 -User postgres -ArgumentList touch, "$($h3.DataDirectory)/standby.signal" | Out-Null
        Stop-PgLabPostgres -LabHost $h3
        Start-PgLabPostgres -LabHost $h3
        $other = New-LabNode $lab $h3 -Credential $h3.AdminCredential
        $other.Role | Should -Be 'Standby'
        $before = Get-HostState $h3
        $out = $other | Set-PgStandbyUpstream -Primary $n1 -Credential $repl -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        "$($refused[0])" | Should -Match 'not a copy|another cluster'
        Get-HostState $h3 | Should -Be $before
        Get-LabValue $h1 "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$(Get-StandbyAppName $h3)'" | Should -Be '0'
        Add-ScenarioNote (Format-ErrorSummary $refused[0])
    }
}
