# Issue 22, point 2: WAL archived off the primary's host with pgBackRest (Debian's package), its repository on a third
# lab host: the stanza created and checked, archive-push from the primary, a full backup, and a standby whose WAL the
# primary no longer has catching up from the repository (archive-get) before it streams again. Then standbys built from
# the repository instead of the primary (Invoke-PgBaseBackup -Method PgBackRest): a new host, and a stopped standby
# restored over (delta), the primary sending none of the copy.
BeforeDiscovery { . "$PSScriptRoot/Faults/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/Faults/FaultSuite.ps1" -WithModule }

Describe 'pgBackRest with its repository on another host' -Tag Acceptance, BackRest {
    BeforeAll {
        $lab = New-PgLab -HostCount 4 -Layout Debian, Debian, Debian, Debian -NoCluster 2, 3, 4
        $h1, $h2, $h3, $h4 = $lab.Hosts
        $replication = New-ReplicationCredential
        $n1, $n2 = Initialize-LabCluster $lab $replication -Standbys @($h2)
        $repository = New-LabNode $lab $h3 -NoConnect
        # Under the host's own /var/lib/postgresql: the lab's hosts share /var/lib/pgbackrest.
        $repositoryPath = '/var/lib/postgresql/pgbackrest-repo'
        New-AckedTable $h1
        # Enough data that who sent the copy shows in the hosts' sent bytes: in the first backup, so a restore has it.
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE bulk AS SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g' | Out-Null
        $bulkBytes = [long] (Get-LabValue $h1 "SELECT pg_total_relation_size('bulk')")
        # Bytes a host has sent on its link, read in its own network namespace.
        function Get-SentBytes($LabHost) { [long] (ip netns exec $LabHost.Namespace cat /sys/class/net/eth0/statistics/tx_bytes) }
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It 'Initialize-PgBackRest with the repository on a third host -> stanza created and checked, WAL archived there and not on the primary, a full backup; a second run changes nothing' {
        $script:info = Initialize-PgBackRest -Primary $n1 -Standby $n2 -RepositoryHost $repository -RepositoryPath $repositoryPath -Restart -Confirm:$false
        $info.Status | Should -Be 'ok'
        $info.Backups | Should -Be 1
        $info.ArchiveMax | Should -Match '^[0-9A-F]{24}$'
        Get-LabValue $h1 'SHOW archive_command' | Should -BeLike 'pgbackrest --config=* --stanza=main archive-push %p'
        $archived = Invoke-PgLabCommand -LabHost $h3 -User postgres -ArgumentList sh, -c, 'find "$1/archive/main" -name "0000*" -type f | wc -l', sh, $repositoryPath
        [int] $archived | Should -BeGreaterThan 0
        Invoke-PgLabCommand -LabHost $h1 -ArgumentList sh, -c, 'test -e "$1" && echo there || echo absent', sh, $repositoryPath | Should -Be 'absent'
        foreach ($r in $n1 | Test-PgReplication) {
            $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')"
            # Test-PgReplication reads the repository's state too: the last archived WAL and the last backup.
            $archive = $r.Checks | Where-Object Name -EQ 'WAL archive (pgBackRest)'
            $archive.Passed | Should -BeTrue -Because "$archive"
            $archive.Message | Should -Match "stanza 'main' on $([regex]::Escape($h3.Address)): WAL archived up to [0-9A-F]{24} .*last backup $([regex]::Escape($info.LastBackup)) of 1"
        }

        $verbose = Initialize-PgBackRest -Primary $n1 -Standby $n2 -RepositoryHost $repository -RepositoryPath $repositoryPath -Confirm:$false -Verbose 4>&1
        $again = $verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $again.Backups | Should -Be 1 -Because 'a second run takes no second full backup'
        "$($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })" | Should -Not -Match 'wrote |set archive_|authorized|made an SSH key'
    }

    It 'a standby whose WAL the primary has removed (slot gone, wal_keep_size 0) -> with restore_command archive-get it catches up from the repository, then streams' {
        $n2 | Enable-PgHotStandby -Primary $n1 -Credential $replication -RestoreCommand $info.RestoreCommands[$n2.Name] -Confirm:$false | Out-Null
        Wait-Streaming $h2 $h1.Address | Should -BeTrue
        $slot = Get-StandbyAppName $h2
        $replayed = Get-LabValue $h2 'SELECT pg_last_wal_replay_lsn()'
        $needed = Get-LabValue $h1 "SELECT pg_walfile_name('$replayed')"
        Stop-PgLabPostgres -LabHost $h2

        Invoke-PgLabSql -LabHost $h1 -Sql "ALTER SYSTEM SET wal_keep_size = 0; SELECT pg_reload_conf(); SELECT pg_drop_replication_slot('$slot')" | Out-Null
        foreach ($i in 1..4) {
            Invoke-PgLabSql -LabHost $h1 -Sql "INSERT INTO acked (id) SELECT g FROM generate_series($($i * 1000), $($i * 1000 + 499)) g; SELECT pg_switch_wal()" | Out-Null
        }
        $switched = Get-LabValue $h1 'SELECT pg_walfile_name(pg_current_wal_lsn() - 1)'
        Wait-Condition { (Get-LabValue $h1 "SELECT last_archived_wal >= '$switched' FROM pg_stat_archiver") -eq 't' } -Seconds 90 |
            Should -BeTrue -Because "the repository must have every segment up to $switched before the primary removes it ($(Get-LabValue $h1 'SELECT row(a.*) FROM pg_stat_archiver a'))"
        Invoke-PgLabSql -LabHost $h1 -Sql 'CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT' | Out-Null
        Get-LabValue $h1 "SELECT count(*) FROM pg_ls_waldir() WHERE name = '$needed'" | Should -Be '0' -Because "the primary must no longer have $needed, which $($h2.Name) needs"
        # The slot again, reserving from now on: the standby streams from it once the archive has brought it this far.
        Invoke-PgLabSql -LabHost $h1 -Sql "SELECT pg_create_physical_replication_slot('$slot', true)" | Out-Null

        Start-PgLabPostgres -LabHost $h2
        Wait-Streaming $h2 $h1.Address -Seconds 90 | Should -BeTrue -Because "$($h2.Name) must catch up from the archive and stream"
        $lsn = Get-LabValue $h1 'SELECT pg_current_wal_lsn()'
        Wait-Condition { (Get-LabValue $h2 "SELECT pg_last_wal_replay_lsn() >= '$lsn'") -eq 't' } | Should -BeTrue
        Get-LabValue $h2 'SELECT count(*) FROM acked' | Should -Be (Get-LabValue $h1 'SELECT count(*) FROM acked')
        $log = Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'cat /var/log/postgresql/*.log'
        $log | Should -Match "restored log file `"$needed`" from archive"
        foreach ($r in $n1 | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }

    It 'Invoke-PgBaseBackup -Method PgBackRest of a new host -> refused until Initialize-PgBackRest knows the host; then restored from the repository, the primary sending none of it; it catches up from the archive and streams' {
        $n4 = New-LabNode $lab $h4 -NoConnect
        $refused = $null
        $n4 | Invoke-PgBaseBackup -Primary $n1 -Credential $replication -Method PgBackRest -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
        "$($refused[0].FullyQualifiedErrorId)" | Should -BeLike 'PgReplication.BackRestStandbyNotSetUp*'
        "$refused" | Should -Match ([regex]::Escape($h3.Address))
        Invoke-PgLabCommand -LabHost $h4 -ArgumentList sh, -c, 'test -e "$1/PG_VERSION" && echo there || echo absent', sh, $h4.DataDirectory | Should -Be 'absent'

        # The host joins the repository's hosts (a second run for the others changes nothing) and the primary's pg_hba.
        $info = Initialize-PgBackRest -Primary $n1 -Standby $n2, $n4 -RepositoryHost $repository -RepositoryPath $repositoryPath -Confirm:$false
        $info.RestoreCommands[$n4.Name] | Should -BeLike 'pgbackrest --config=* --stanza=main archive-get %f "%p"'
        $n1 | Set-PgMasterConfig -Standby $n2, $n4 -Confirm:$false | Out-Null
        # Written after the backup: they reach the new standby from the archive or by streaming, not from the backup.
        Invoke-PgLabSql -LabHost $h1 -Sql 'INSERT INTO acked (id) SELECT g FROM generate_series(100000, 100999) g; SELECT pg_switch_wal()' | Out-Null
        # Their segment is pushed to the repository before the clock starts: archive-push is the primary sending WAL to
        # the repository host, not serving the copy (in one CI run it fell inside the window: 3.6 MiB counted).
        $switchedNow = Get-LabValue $h1 'SELECT pg_walfile_name(pg_current_wal_lsn() - 1)'
        Wait-Condition { (Get-LabValue $h1 "SELECT last_archived_wal >= '$switchedNow' FROM pg_stat_archiver") -eq 't' } -Seconds 90 |
            Should -BeTrue -Because "the repository must have $switchedNow before the restore is measured"

        $primarySent, $repositorySent = (Get-SentBytes $h1), (Get-SentBytes $h3)
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $out = $n4 | Invoke-PgBaseBackup -Primary $n1 -Credential $replication -Method PgBackRest -Streams 3 -Confirm:$false -Verbose 4>&1
        $clock.Stop()
        $primarySent, $repositorySent = ((Get-SentBytes $h1) - $primarySent), ((Get-SentBytes $h3) - $repositorySent)
        $verbose = "$($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })"
        $built = $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $verbose | Should -Match 'copying with -Method PgBackRest'
        $verbose | Should -Match "pgbackrest restore of backup \S+ from the repository on $([regex]::Escape($h3.Address)) into .* \(empty directory, 3 process"
        Write-Host "  restore of a new host: $([math]::Round($clock.Elapsed.TotalSeconds, 1)) s; bulk table $([math]::Round($bulkBytes / 1MB, 1)) MiB; sent during it: primary $([math]::Round($primarySent / 1MB, 2)) MiB, repository $([math]::Round($repositorySent / 1MB, 2)) MiB"
        $repositorySent | Should -BeGreaterThan ($bulkBytes * 0.2) -Because 'the files come from the repository host'
        $primarySent | Should -BeLessThan ($bulkBytes * 0.05) -Because 'the primary must not serve the copy'
        $restoreCommand = Invoke-PgLabCommand -LabHost $h4 -User postgres -ArgumentList sh, -c, 'grep "^restore_command" "$1/postgresql.auto.conf"', sh, $h4.DataDirectory
        $restoreCommand | Should -Match 'archive-get %f'

        $built | Enable-PgHotStandby -Primary $n1 -Credential $replication -Confirm:$false | Out-Null
        Wait-Streaming $h4 $h1.Address -Seconds 90 | Should -BeTrue -Because "$($h4.Name) must catch up from the archive and stream"
        $lsn = Get-LabValue $h1 'SELECT pg_current_wal_lsn()'
        Wait-Condition { (Get-LabValue $h4 "SELECT pg_last_wal_replay_lsn() >= '$lsn'") -eq 't' } | Should -BeTrue
        Get-LabValue $h4 'SELECT count(*), sum(id) FROM acked' | Should -Be (Get-LabValue $h1 'SELECT count(*), sum(id) FROM acked')
        Get-LabValue $h4 'SELECT count(*) FROM bulk' | Should -Be '1000000'
        Invoke-PgLabCommand -LabHost $h4 -ArgumentList sh, -c, 'cat /var/log/postgresql/*.log' | Should -Match 'restored log file ".*" from archive'
        foreach ($r in $n1 | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }

    It 'Invoke-PgBaseBackup -Method PgBackRest over a stopped standby of the primary -> restored with --delta without -Force, streams again with the same rows' {
        Stop-PgLabPostgres -LabHost $h2
        Invoke-PgLabSql -LabHost $h1 -Sql 'INSERT INTO acked (id) SELECT g FROM generate_series(200000, 200999) g' | Out-Null
        $primarySent = Get-SentBytes $h1
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $out = $n2 | Invoke-PgBaseBackup -Primary $n1 -Credential $replication -Method PgBackRest -Confirm:$false -Verbose 4>&1
        $clock.Stop()
        $primarySent = (Get-SentBytes $h1) - $primarySent
        $verbose = "$($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })"
        $verbose | Should -Match '\(delta, 2 process'
        Write-Host "  delta restore over a stopped standby: $([math]::Round($clock.Elapsed.TotalSeconds, 1)) s; primary sent $([math]::Round($primarySent / 1MB, 2)) MiB"
        $primarySent | Should -BeLessThan ($bulkBytes * 0.05)
        $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] } | Enable-PgHotStandby -Primary $n1 -Credential $replication -Confirm:$false | Out-Null
        Wait-Streaming $h2 $h1.Address -Seconds 90 | Should -BeTrue
        $lsn = Get-LabValue $h1 'SELECT pg_current_wal_lsn()'
        Wait-Condition { (Get-LabValue $h2 "SELECT pg_last_wal_replay_lsn() >= '$lsn'") -eq 't' } | Should -BeTrue
        Get-LabValue $h2 'SELECT count(*), sum(id) FROM acked' | Should -Be (Get-LabValue $h1 'SELECT count(*), sum(id) FROM acked')
        foreach ($r in $n1 | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }

    It 'Restore-PgStandby of a former primary whose WAL since the fork is gone from its pg_wal -> pg_rewind --restore-target-wal takes it from the pgBackRest archive; the node streams again, keeping archive-get as restore_command' {
        # One standby to promote: h4 out of the way.
        Stop-PgLabPostgres -LabHost $h4
        # The last common checkpoint, replayed on h2.
        Invoke-PgLabSql -LabHost $h1 -Sql 'CHECKPOINT' | Out-Null
        $lsn = Get-LabValue $h1 'SELECT pg_current_wal_lsn()'
        Wait-Condition { (Get-LabValue $h2 "SELECT pg_last_wal_replay_lsn() >= '$lsn'") -eq 't' } | Should -BeTrue
        $fork = Get-LabValue $h1 'SELECT pg_walfile_name(pg_current_wal_lsn())'
        # h2 stopped first (its connections end cleanly), then started unable to reach h1 or the repository (routes refused:
        # they fail at once): its promotion forks from h1 where it stands.
        Stop-PgLabPostgres -LabHost $h2
        foreach ($peer in $h1, $h3) { ip netns exec $h2.Namespace ip route add unreachable "$($peer.Address)/32" }
        try {
            Start-PgLabPostgres -LabHost $h2
            Wait-Condition { (Get-LabValue $h2 'SELECT pg_is_in_recovery()') -eq 't' } | Should -BeTrue
            # h1 writes on alone, over several segments, all archived; then it stops cleanly.
            foreach ($i in 1..4) {
                Invoke-PgLabSql -LabHost $h1 -Sql "INSERT INTO acked (id) SELECT g FROM generate_series($(300000 + $i * 1000), $(300000 + $i * 1000 + 499)) g; SELECT pg_switch_wal()" | Out-Null
            }
            $switched = Get-LabValue $h1 'SELECT pg_walfile_name(pg_current_wal_lsn() - 1)'
            Wait-Condition { (Get-LabValue $h1 "SELECT last_archived_wal >= '$switched' FROM pg_stat_archiver") -eq 't' } -Seconds 90 | Should -BeTrue
            Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList pg_ctlcluster, 15, main, stop | Out-Null
            $n2 | Invoke-PgPromotion -Confirm:$false | Out-Null
            Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        }
        finally { foreach ($peer in $h1, $h3) { ip netns exec $h2.Namespace ip route del unreachable "$($peer.Address)/32" } }

        # Every segment of h1's before its shutdown checkpoint's is gone from its pg_wal (recycled future ones stay): in the archive only.
        $removed = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c, `
            'keep=$("$2/pg_controldata" "$1" | sed -n "s/^Latest checkpoint.s REDO WAL file: *//p"); cd "$1/pg_wal" && for f in $(ls | grep -E "^[0-9A-F]{24}$"); do [ "$(printf "%s\n%s\n" "$f" "$keep" | sort | head -n 1)" = "$f" ] && [ "$f" != "$keep" ] && rm -- "$f" && echo "$f"; done; true', sh, $h1.DataDirectory, $h1.BinDirectory
        @($removed -split "`n") | Should -Contain $fork -Because "pg_rewind needs $fork, where h1 and h2 forked"
        $out = $n1 | Restore-PgStandby -Primary $n2 -Confirm:$false -Verbose -WarningVariable warnings 4>&1
        "$($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })" | Should -Match 'pg_rewind with --restore-target-wal'
        "$warnings" | Should -Not -Match 'new base backup|new copy' -Because 'the rewind must work, not fall back'
        # pg_rewind reads h1's WAL from the last common checkpoint (in $fork) on: with it gone from pg_wal, only the archive had it.
        Write-Host "  rewind with WAL from the archive: $(@($removed -split "`n").Count) segments removed from h1's pg_wal, $fork among them; pgBackRest logs on h1: $(Invoke-PgLabCommand -LabHost $h1 -ArgumentList sh, -c, 'ls /var/lib/postgresql/.pgbackrest/log; true')"
        Wait-Streaming $h1 $h2.Address -Seconds 90 | Should -BeTrue
        $lsn = Get-LabValue $h2 'SELECT pg_current_wal_lsn()'
        Wait-Condition { (Get-LabValue $h1 "SELECT pg_last_wal_replay_lsn() >= '$lsn'") -eq 't' } | Should -BeTrue
        Get-LabValue $h1 'SELECT count(*), sum(id) FROM acked' | Should -Be (Get-LabValue $h2 'SELECT count(*), sum(id) FROM acked')
        Get-LabValue $h1 'SHOW restore_command' | Should -BeLike 'pgbackrest --config=* archive-get %f "%p"'
    }
}
