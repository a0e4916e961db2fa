# Day two on real hosts over SSH (issue 21): slots, pausing and delaying a standby, removing one. Two labs, one with
# the primary on Debian's layout (pg_hba.conf in /etc) and one with it on the upstream layout (pg_hba.conf in the data
# directory); each has a standby of either layout. Every -WhatIf is checked against the state of every host: the hash
# of each configuration file, passfile and top-level file of the data directory, the data directory's file list,
# the roles, the slots, and each server's replay state and settings.
BeforeDiscovery {
    $layouts = @(
        @{ PrimaryLayout = 'Debian'; Layout = @('Debian', 'Debian', 'Upstream') }
        @{ PrimaryLayout = 'Upstream'; Layout = @('Upstream', 'Upstream', 'Debian') }
    )
    # One layout only when asked (a rerun of one): PGREPLICATION_DAYTWO_LAYOUT=Debian or Upstream.
    if ($env:PGREPLICATION_DAYTWO_LAYOUT) { $layouts = @($layouts | Where-Object { $_.PrimaryLayout -eq $env:PGREPLICATION_DAYTWO_LAYOUT }) }
}

BeforeAll {
    . "$PSScriptRoot/Faults/FaultSuite.ps1" -WithModule

    # What a -WhatIf must leave as it was, per host.
    # A standby copied from a primary of the other layout has the primary's path: every data directory path is looked at.
    function Get-DayTwoState($Lab) {
        foreach ($h in $Lab.Hosts) {
            $files = Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, @'
for f in /etc/postgresql/15/main/* /var/lib/postgresql/.pgpass; do [ -f "$f" ] && sha256sum "$f"; done
# Left out: what the server changes by itself (WAL, statistics, transaction status, pg_internal.init, the relation
# cache file it removes and writes again whenever it likes).
for d in "$@"; do
  for f in "$d"/*; do [ -f "$f" ] && sha256sum "$f"; done
  [ -d "$d" ] && find "$d" -path "$d/pg_wal" -prune -o -path "$d/pg_stat_tmp" -prune -o -path "$d/pg_stat" -prune -o -path "$d/pg_logical" -prune \
      -o -path "$d/pg_subtrans" -prune -o -path "$d/pg_xact" -prune -o -path "$d/pg_multixact" -prune -o -path "$d/base" -prune \
      -o -name pg_internal.init -prune -o -print | sort
done
true
'@, sh, '/var/lib/postgresql/15/main', '/var/lib/postgresql/15/data'
            $catalog = Get-LabValue $h @'
SELECT (SELECT string_agg(r.rolname || ':' || r.rolsuper || r.rolreplication || r.rolcanlogin || ':' || coalesce(md5(a.rolpassword), '-'), ',' ORDER BY r.rolname)
          FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid)
       || ' slots:' || coalesce((SELECT string_agg(slot_name || '/' || slot_type, ',' ORDER BY slot_name) FROM pg_replication_slots), '')
       || ' recovery:' || pg_is_in_recovery()::text
       || ' paused:' || CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused()::text ELSE '-' END
       || ' delay:' || current_setting('recovery_min_apply_delay')
       || ' sync:' || current_setting('synchronous_standby_names')
'@
            "$($h.Name) running:$(Test-PgLabPostgres -LabHost $h)`n$files`n$catalog"
        }
    }
}

Describe 'Day two, primary on the <PrimaryLayout> layout' -Tag Acceptance, DayTwo -ForEach $layouts {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout $Layout -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        # Logical slots need wal_level logical; Set-PgMasterConfig keeps a level that is already enough.
        Invoke-PgLabSql -LabHost $h1 -Sql "ALTER SYSTEM SET wal_level = 'logical'" | Out-Null
        $primary, $s2, $s3 = Initialize-LabCluster $lab (New-ReplicationCredential)
        $app2, $app3 = (Get-StandbyAppName $h2), (Get-StandbyAppName $h3)
        Wait-Streaming $h2 $h1.Address | Out-Null
        Wait-Streaming $h3 $h1.Address | Out-Null
    }
    AfterAll { Remove-PgLab -Lab $lab }

    Context 'Slots' {
        It 'lists every slot of the primary, physical and logical, with the standby each serves' {
            Invoke-PgLabSql -LabHost $h1 -Sql "SELECT pg_create_physical_replication_slot('orphan_slot', true)" | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql "SELECT pg_create_logical_replication_slot('orphan_logical', 'test_decoding')" | Out-Null
            $slots = @(Get-PgReplicationSlot $primary -Standby $s2, $s3)
            $slots.SlotName | Should -Be @($app2, $app3, 'orphan_logical', 'orphan_slot' | Sort-Object)
            $mine = $slots | Where-Object SlotName -EQ $app3
            $mine.SlotType | Should -Be 'physical'
            $mine.Active | Should -BeTrue
            $mine.Serves | Should -Be $h3.Name
            $mine.WalStatus | Should -Be 'reserved'
            $mine.RetainedBytes | Should -BeGreaterOrEqual 0
            $logical = $slots | Where-Object SlotName -EQ 'orphan_logical'
            $logical.SlotType, $logical.Plugin, $logical.Database, $logical.Active | Should -Be @('logical', 'test_decoding', 'postgres', $false)
            ($slots | Where-Object SlotName -EQ 'orphan_slot').Serves | Should -BeNullOrEmpty
            # Without -Standby the WAL sender names who a slot serves.
            (Get-PgReplicationSlot $primary -Name $app2).Serves | Should -BeLike "$app2@$($h2.Address)"
        }

        It 'shows the bytes an orphan slot holds back growing, and safe_wal_size under max_slot_wal_keep_size' {
            $before = (Get-PgReplicationSlot $primary -Name orphan_slot).RetainedBytes
            Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE slot_fill AS SELECT g, repeat($$x$$, 100) AS pad FROM generate_series(1, 20000) g' | Out-Null
            (Get-PgReplicationSlot $primary -Name orphan_slot).RetainedBytes | Should -BeGreaterThan ($before + 1MB)
            Invoke-PgLabSql -LabHost $h1 -Sql "ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'" | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
            Wait-Condition { (Get-PgReplicationSlot $primary -Name orphan_slot).SafeWalSize -gt 0 } -Seconds 10 | Should -BeTrue
            (Get-PgReplicationSlot $primary -Name orphan_slot).SafeWalSize | Should -BeLessOrEqual 1GB
            Invoke-PgLabSql -LabHost $h1 -Sql 'ALTER SYSTEM RESET max_slot_wal_keep_size' | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
        }

        It 'has the acceptance kit flag the slots that serve no known standby' {
            $run = $primary, $s2, $s3 | Invoke-PgReplicationAcceptance -Output None
            $failed = @($run.Failed | Where-Object ExpandedName -EQ 'keeps no slot that serves no known standby')
            $failed.Count | Should -Be 1
            "$($failed[0].ErrorRecord)" | Should -Match 'orphan_slot'
            "$($failed[0].ErrorRecord)" | Should -Match 'orphan_logical'
            "$($failed[0].ErrorRecord)" | Should -Not -Match $app2
            # Given only one standby, the other's slot serves no known standby either.
            $run = $primary, $s2 | Invoke-PgReplicationAcceptance -Output None
            "$(@($run.Failed | Where-Object ExpandedName -EQ 'keeps no slot that serves no known standby')[0].ErrorRecord)" | Should -Match $app3
        }

        It 'changes nothing with Remove-PgReplicationSlot -WhatIf' {
            $before = Get-DayTwoState $lab
            Remove-PgReplicationSlot $primary -Name orphan_slot, $app2 -Force -WhatIf | Out-Null
            Get-PgReplicationSlot $primary | Remove-PgReplicationSlot -Force -WhatIf | Out-Null
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'refuses to drop a slot in use without -Force, naming its standby, and changes nothing' {
            $before = Get-DayTwoState $lab
            Remove-PgReplicationSlot $primary -Name $app2 -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable refused | Out-Null
            $refused.Count | Should -Be 1
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.SlotActive*'
            "$($refused[0])" | Should -Match ([regex]::Escape($h2.Address))
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'drops the orphan slots, physical and logical, and a second run changes nothing and says so' {
            $out = Get-PgReplicationSlot $primary -Standby $s2, $s3 | Where-Object { -not $_.Serves } | Remove-PgReplicationSlot -Confirm:$false
            @($out.Name | Select-Object -Unique) | Should -Be $h1.Name
            Get-LabValue $h1 'SELECT string_agg(slot_name, $$,$$ ORDER BY slot_name) FROM pg_replication_slots' | Should -Be (@($app2, $app3 | Sort-Object) -join ',')
            $before = Get-DayTwoState $lab
            $verbose = Remove-PgReplicationSlot $primary -Name orphan_slot, orphan_logical -Confirm:$false -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
            ($verbose -join "`n") | Should -Match 'no replication slot orphan_slot: nothing to drop'
            Get-DayTwoState $lab | Should -Be $before
            $run = $primary, $s2, $s3 | Invoke-PgReplicationAcceptance -Output None
            @($run.Failed | Where-Object ExpandedName -EQ 'keeps no slot that serves no known standby').Count | Should -Be 0
        }
    }

    Context 'Slots in use' {
        It 'drops a slot in use with -Force: its WAL sender is ended first (the slot is then made again so the standby streams on)' {
            Remove-PgReplicationSlot $primary -Name $app3 -Force -Confirm:$false | Out-Null
            Get-LabValue $h1 "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$app3'" | Should -Be '0'
            Invoke-PgLabSql -LabHost $h1 -Sql "SELECT pg_create_physical_replication_slot('$app3', true)" | Out-Null
            Wait-Streaming $h3 $h1.Address -Seconds 60 | Should -BeTrue
            Wait-Condition { (Get-LabValue $h1 "SELECT active FROM pg_replication_slots WHERE slot_name = '$app3'") -eq 't' } | Should -BeTrue
        }
    }

    Context 'Pause, resume and delay' {
        BeforeAll {
            Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE replay_marks (id int PRIMARY KEY)' | Out-Null
            Wait-Condition { (Get-LabValue $h2 "SELECT to_regclass('replay_marks') IS NOT NULL") -eq 't' -and (Get-LabValue $h3 "SELECT to_regclass('replay_marks') IS NOT NULL") -eq 't' } | Out-Null
            function Get-Verbose([scriptblock] $Run) { (& $Run 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }) -join "`n" }
        }

        It 'changes nothing with -WhatIf of Suspend-PgStandbyReplay and Set-PgStandbyDelay' {
            $before = Get-DayTwoState $lab
            $s2, $s3 | Suspend-PgStandbyReplay -WhatIf | Out-Null
            $s2, $s3 | Set-PgStandbyDelay -ApplyDelay '00:10:00' -WhatIf | Out-Null
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'pauses replay: the standby keeps receiving WAL but shows nothing new, and Test-PgReplication says paused' {
            $out = $s2 | Suspend-PgStandbyReplay -Confirm:$false
            $out.Name | Should -Be $h2.Name
            Get-LabValue $h2 'SELECT pg_is_wal_replay_paused()' | Should -Be 't'
            $received = Get-LabValue $h2 'SELECT pg_last_wal_receive_lsn()'
            Invoke-PgLabSql -LabHost $h1 -Sql 'INSERT INTO replay_marks VALUES (1)' | Out-Null
            Wait-Condition { (Get-LabValue $h2 "SELECT pg_last_wal_receive_lsn() > '$received'") -eq 't' } | Should -BeTrue
            Get-LabValue $h2 'SELECT count(*) FROM replay_marks' | Should -Be '0'
            $r = $primary, $s2 | Test-PgReplication -WarningAction SilentlyContinue | Where-Object Standby -EQ $h2.Name
            $r.Failing | Should -Match 'replay not paused'
            $r.State | Should -Be 'streaming'
        }

        It 'changes nothing and says so when a paused standby is paused again' {
            $before = Get-DayTwoState $lab
            Get-Verbose { $s2 | Suspend-PgStandbyReplay -Confirm:$false -Verbose } | Should -Match 'nothing to change'
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'resumes replay: the rows written meanwhile appear' {
            $s2 | Resume-PgStandbyReplay -Confirm:$false | Out-Null
            Get-LabValue $h2 'SELECT pg_is_wal_replay_paused()' | Should -Be 'f'
            Wait-Condition { (Get-LabValue $h2 'SELECT count(*) FROM replay_marks') -eq '1' } | Should -BeTrue
            Get-Verbose { $s2 | Resume-PgStandbyReplay -Confirm:$false -Verbose } | Should -Match 'nothing to change'
        }

        It 'delays a standby: it receives at once, applies later, and Test-PgReplication reports it delayed, not lagging' {
            $s3 | Set-PgStandbyDelay -ApplyDelay '00:10:00' -Confirm:$false | Out-Null
            Get-LabValue $h3 "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'" | Should -Be '600000'
            $received = Get-LabValue $h3 'SELECT pg_last_wal_receive_lsn()'
            Invoke-PgLabSql -LabHost $h1 -Sql 'INSERT INTO replay_marks VALUES (2)' | Out-Null
            Wait-Condition { (Get-LabValue $h3 "SELECT pg_last_wal_receive_lsn() > '$received'") -eq 't' } | Should -BeTrue
            Wait-Condition { (Get-LabValue $h2 'SELECT count(*) FROM replay_marks') -eq '2' } | Should -BeTrue
            Start-Sleep -Seconds 2
            Get-LabValue $h3 'SELECT count(*) FROM replay_marks' | Should -Be '1'
            $r = $primary, $s3 | Test-PgReplication -WarningAction SilentlyContinue | Where-Object Standby -EQ $h3.Name
            $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ')
            $r.Delayed | Should -BeTrue
            $r.ApplyDelay | Should -Be ([timespan]::FromMinutes(10))
            ($r.Checks | Where-Object Name -EQ 'lag under threshold').Message | Should -Match 'delayed on purpose by 10 min'
            ($r | Format-Table | Out-String -Width 120) | Should -Match 'delayed'
            # The kit agrees: a delayed standby within its delay passes the lag check.
            $run = $primary, $s2, $s3 | Invoke-PgReplicationAcceptance -Output None
            @($run.Failed | ForEach-Object ExpandedName) | Should -Not -Contain 'is within the lag thresholds'
            Get-Verbose { $s3 | Set-PgStandbyDelay -ApplyDelay '00:10:00' -Confirm:$false -Verbose } | Should -Match 'nothing to change'
        }

        It 'has Invoke-PgPromotion pick the standby that is not delayed, refuse only delayed ones, and take the delayed one when named (-WhatIf: nothing changes)' {
            $before = Get-DayTwoState $lab
            $plan = Get-Verbose { $s3, $s2 | Invoke-PgPromotion -Primary $primary -Force -WhatIf -Verbose }
            $plan | Should -Match "Planned: promote $([regex]::Escape($h2.Name))"
            $plan | Should -Not -Match "Planned: promote $([regex]::Escape($h3.Name))"
            $refused = $null
            try { $s3 | Invoke-PgPromotion -Primary $primary -Force -WhatIf -ErrorAction Stop | Out-Null } catch { $refused = $_ }
            $refused.FullyQualifiedErrorId | Should -BeLike 'PgReplication.OnlyDelayedCandidates*'
            Get-Verbose { $s3, $s2 | Invoke-PgPromotion -Primary $primary -Name $h3.Name -Force -WhatIf -Verbose } |
                Should -Match "Planned: promote $([regex]::Escape($h3.Name))"
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'turns the delay off with 0: the standby catches up' {
            $s3 | Set-PgStandbyDelay -ApplyDelay 0 -Confirm:$false | Out-Null
            Get-LabValue $h3 "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'" | Should -Be '0'
            Wait-Condition { (Get-LabValue $h3 'SELECT count(*) FROM replay_marks') -eq '2' } | Should -BeTrue
            ($primary, $s3 | Test-PgReplication -WarningAction SilentlyContinue | Where-Object Standby -EQ $h3.Name).Delayed | Should -BeFalse
        }
    }

    Context 'Remove a standby' {
        BeforeAll {
            # db2 and db3 both synchronous candidates, one needed; a line for db3's address that the module did not write.
            Invoke-PgLabSql -LabHost $h1 -Sql "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ($app2, $app3)'" | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
            $handLine = "host    replication     replicator      $($h3.Address)/32          scram-sha-256"
            Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c, 'printf "%s\n" "$1" >> "$2"', sh, $handLine, $h1.HbaFile | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
            Wait-Condition { (Get-LabValue $h1 "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") -eq '1' } | Out-Null
            function Get-Verbose([scriptblock] $Run) { (& $Run 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }) -join "`n" }
            function Get-HbaText { Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList cat, $h1.HbaFile }
        }

        It 'changes nothing with -WhatIf, and lists every step' {
            $before = Get-DayTwoState $lab
            $plan = Get-Verbose { $s3 | Remove-PgStandby -Primary $primary -EmptyDataDirectory -WhatIf -Verbose }
            $plan | Should -Match "synchronous_standby_names on $([regex]::Escape($h1.Name))"
            $plan | Should -Match "stop $([regex]::Escape($h3.Name))"
            $plan | Should -Match "drop the slot $app3"
            $plan | Should -Match ([regex]::Escape("$($h3.Address)/32"))
            $plan | Should -Match ([regex]::Escape("empty $($s3.DataDirectory) on $($h3.Name) (a running standby of $($h1.Name)"))
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'takes the standby out: out of the sync set, stopped, its slot and only its marked pg_hba.conf line gone, its directory kept' {
            $marked = @((Get-HbaText) -split "`n" | Where-Object { $_ -match [regex]::Escape("$($h3.Address)/32") -and $_ -match 'added by PgReplication' })
            $marked.Count | Should -Be 1
            $out = $s3 | Remove-PgStandby -Primary $primary -Confirm:$false
            $out.Name | Should -Be $h3.Name
            Get-LabValue $h1 'SHOW synchronous_standby_names' | Should -Be "FIRST 1 (`"$app2`")"
            Test-PgLabPostgres -LabHost $h3 | Should -BeFalse
            Get-LabValue $h1 "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$app3'" | Should -Be '0'
            $hba = Get-HbaText
            $hba | Should -Not -Match ([regex]::Escape($marked[0]))
            $hba | Should -Match ([regex]::Escape($handLine)) -Because 'a line the module did not write is never removed'
            Get-LabValue $h1 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL' | Should -Be '0'
            Invoke-PgLabCommand -LabHost $h3 -ArgumentList test, -f, "$($s3.DataDirectory)/PG_VERSION" | Out-Null
            # Commits still complete: the synchronous standby left streams.
            Invoke-PgLabSql -LabHost $h1 -Sql "SET statement_timeout = '20s'; INSERT INTO replay_marks VALUES (3)" | Out-Null
            ($primary, $s2 | Test-PgReplication -WarningAction SilentlyContinue).IsHealthy | Should -BeTrue
        }

        It 'changes nothing on a second run, and says so' {
            $before = Get-DayTwoState $lab
            Get-Verbose { $s3 | Remove-PgStandby -Primary $primary -Confirm:$false -Verbose } | Should -Match 'nothing to change'
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'refuses to take out the last synchronous standby without -Force, changing nothing' {
            $before = Get-DayTwoState $lab
            $s2 | Remove-PgStandby -Primary $primary -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable refused | Out-Null
            $refused.Count | Should -Be 1
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.SyncUnsatisfiable*'
            "$($refused[0])" | Should -Match ([regex]::Escape($h1.Name))
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'empties the data directory of the removed standby only with -EmptyDataDirectory (-WhatIf first: nothing changes), then nothing more' {
            $before = Get-DayTwoState $lab
            $s3 | Remove-PgStandby -Primary $primary -EmptyDataDirectory -WhatIf | Out-Null
            Get-DayTwoState $lab | Should -Be $before
            $s3 | Remove-PgStandby -Primary $primary -EmptyDataDirectory -Confirm:$false | Out-Null
            Invoke-PgLabCommand -LabHost $h3 -ArgumentList sh, -c, 'ls -A "$1" | wc -l', sh, $s3.DataDirectory | Should -Be '0'
            Get-Verbose { $s3 | Remove-PgStandby -Primary $primary -EmptyDataDirectory -Confirm:$false -Verbose } | Should -Match 'nothing to change'
        }

        It 'refuses to empty the data directory of a primary, with or without -Force' {
            $before = Get-DayTwoState $lab
            $primary | Remove-PgStandby -Primary $primary -EmptyDataDirectory -Force -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable refused | Out-Null
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.NotAStandby*'
            Get-DayTwoState $lab | Should -Be $before
        }

        It 'takes out the last synchronous standby with -Force: replication becomes asynchronous first, commits go on' {
            $s2 | Remove-PgStandby -Primary $primary -Force -Confirm:$false | Out-Null
            Get-LabValue $h1 'SHOW synchronous_standby_names' | Should -Be ''
            Test-PgLabPostgres -LabHost $h2 | Should -BeFalse
            Get-LabValue $h1 'SELECT count(*) FROM pg_replication_slots' | Should -Be '0'
            (Get-HbaText) | Should -Not -Match ([regex]::Escape("$($h2.Address)/32") + '.*added by PgReplication')
            Invoke-PgLabSql -LabHost $h1 -Sql "SET statement_timeout = '20s'; INSERT INTO replay_marks VALUES (4)" | Out-Null
            $run = $primary | Invoke-PgReplicationAcceptance -Output None
            @($run.Failed | Where-Object ExpandedName -EQ 'keeps no slot that serves no known standby').Count | Should -Be 0
        }
    }
}
