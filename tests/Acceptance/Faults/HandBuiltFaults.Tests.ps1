# Issue 18: a cluster built by hand the classic way, before the module existed: a replication role made with SQL,
# pg_hba lines added by hand, `pg_basebackup -R` with the password written into primary_conninfo, no slots, and a
# stale wildcard line for the role in the standbys' ~/.pgpass. Every cmdlet must work on it and none may leave it
# worse: each scenario ends with every node running, one primary, and the standbys streaming.
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'A cluster built by hand with the raw tools, <Layout> layout' -Tag Acceptance, Faults, HandBuilt -ForEach @(@{ Layout = 'Upstream' }, @{ Layout = 'Debian' }) {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout $Layout, $Layout, $Layout -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $admin = $h1.AdminCredential
        $replicationPassword = 'Hand-' + [guid]::NewGuid().ToString('N').Substring(0, 16)

        # The classic steps, as an admin types them.
        Invoke-PgLabSql -LabHost $h1 -Sql "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '$replicationPassword'" | Out-Null
        $hba = ($h2, $h3 | ForEach-Object { "host replication replicator $($_.Address)/32 scram-sha-256" }) -join "`n"
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c, 'cat >> "$1"', sh, $h1.HbaFile -InputText "$hba`n" | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE acked (id int PRIMARY KEY, at timestamptz DEFAULT now()); INSERT INTO acked (id) SELECT generate_series(1, 1000)' | Out-Null
        $primaryHba = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList cat, $h1.HbaFile
        foreach ($h in $h2, $h3) {
            if ($Layout -eq 'Debian') {
                # Debian's way: a cluster made with pg_createcluster (its configuration in /etc), its data directory emptied
                # for the copy, the primary's pg_hba.conf copied over, the address to listen on set.
                Invoke-PgLabCommand -LabHost $h -ArgumentList pg_createcluster, --locale, C.UTF-8, --port, "$($h.PgPort)", "$($h.Major)", $h.ClusterName | Out-Null
                Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, 'find "$1" -mindepth 1 -delete', sh, $h.DataDirectory | Out-Null
                Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, 'cat > "$1"', sh, $h.HbaFile -InputText "$primaryHba`n" | Out-Null
            }
            # pg_basebackup -R writes the password it was given into primary_conninfo (here from PGPASSWORD, read from stdin).
            $copy = 'read -r PGPASSWORD; export PGPASSWORD; exec "$1/pg_basebackup" -h "$2" -p "$3" -U replicator -D "$4" -R -X stream -c fast'
            Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, $copy, sh, $h.BinDirectory, $h1.Address, "$($h1.PgPort)", $h.DataDirectory `
                -InputText "$replicationPassword`n" -TimeoutSeconds 300 | Out-Null
            Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, 'printf "\nlisten_addresses = %s\n" "$2" >> "$1"', sh, $h.ConfigFile, "'$($h.Address),127.0.0.1'" | Out-Null
            # An old wildcard line for the role, with a password that is no longer right.
            Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, 'umask 077; printf "*:*:*:replicator:stale-password\n" > "$HOME/.pgpass"' | Out-Null
            Start-PgLabPostgres $h
            Wait-Streaming $h $h1.Address | Should -BeTrue -Because "$($h.Name) must stream from $($h1.Name)"
        }
        $nodes = @($h1, $h2, $h3 | ForEach-Object { New-LabNode $lab $_ })
        $client = "$(Get-PgConnectionString $nodes -Format Npgsql -TargetSessionAttribute ReadWrite -Credential $admin -IncludePassword -WarningAction SilentlyContinue)"

        function Get-AutoConf($LabHost) { Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList cat, "$($LabHost.DataDirectory)/postgresql.auto.conf" }
        # Nothing worse: every node runs, exactly one accepts writes, and every other one streams from it.
        function Assert-ClusterWhole([string] $ExpectedPrimary) {
            foreach ($h in $h1, $h2, $h3) { Test-PgLabPostgres $h | Should -BeTrue -Because "$($h.Name) must run" }
            $primaries = @($h1, $h2, $h3 | Where-Object { (Get-LabValue $_ 'SELECT pg_is_in_recovery()') -eq 'f' })
            $primaries.Count | Should -Be 1
            if ($ExpectedPrimary) { $primaries[0].Name | Should -Be $ExpectedPrimary }
            foreach ($h in $h1, $h2, $h3 | Where-Object Name -NE $primaries[0].Name) {
                Wait-Streaming $h $primaries[0].Address | Should -BeTrue -Because "$($h.Name) must stream from $($primaries[0].Name)"
            }
            $primaries[0]
        }
    }
    AfterAll {
        Save-ScenarioResults Fault
        Remove-PgLab -Lab $lab
    }

    It 'a hand-built cluster (password in primary_conninfo, no slots, a stale ~/.pgpass line) -> New-PgNode, the topology and Test-PgReplication see one primary and two healthy streaming standbys' {
        Get-AutoConf $h2 | Should -Match 'password=' -Because 'the classic setup keeps the password in primary_conninfo'
        ($nodes | Where-Object Role -EQ 'Primary').Name | Should -Be $h1.Name
        @($nodes | Where-Object Role -EQ 'Standby').Count | Should -Be 2
        $rows = Get-PgReplicationTopology $nodes
        @($rows | Where-Object { $_.Role -eq 'Standby' -and $_.Status -eq 'running' }).Count | Should -Be 2 -Because "$($rows | Out-String)"
        foreach ($r in $nodes | Test-PgReplication) {
            $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')"
            $r.State | Should -Be 'streaming'
        }
    }

    # Issue 18, point 3: the classic faults are named with their fix, and the fix works. The cluster comes with a password in
    # each standby's primary_conninfo; an md5 replication line (first, so it is the one in force for db2), a superuser
    # replication role, a promote trigger file in /tmp (12 to 15) and a passfile others can read are added here by hand.
    It 'the classic security faults of a hand-built cluster -> Test-PgReplication warns naming host, value and fix (never the password), the kit fails on each' {
        $line = "host replication replicator $($h2.Address)/32 md5"
        $prepend = '{ printf "%s\n" "$2"; cat "$1"; } > "$1.new" && cat "$1.new" > "$1" && rm -f "$1.new"'
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c, $prepend, sh, $h1.HbaFile, $line | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql 'ALTER ROLE replicator SUPERUSER; SELECT pg_reload_conf()' | Out-Null
        $triggerMajor = $h3.Major -ge 12 -and $h3.Major -le 15
        if ($triggerMajor) { Invoke-PgLabSql -LabHost $h3 -Sql "ALTER SYSTEM SET promote_trigger_file = '/tmp/promote_now'; SELECT pg_reload_conf()" | Out-Null }
        Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, 'chmod 0644 "$HOME/.pgpass"' | Out-Null
        Wait-Condition { (Get-LabValue $h1 "SELECT auth_method FROM pg_hba_file_rules WHERE line_number = 1") -eq 'md5' } | Should -BeTrue

        $results = @($nodes | Test-PgReplication -WarningVariable warned -WarningAction SilentlyContinue)
        $warnings = @($warned | ForEach-Object { "$_" })
        Add-ScenarioNote "warned: $($warnings[0])"
        foreach ($r in $results) { $r.IsHealthy | Should -BeTrue -Because 'security findings are not replication health' }
        $warnings -join "`n" | Should -Not -Match ([regex]::Escape($replicationPassword)) -Because 'a finding names "a password", never the password'
        foreach ($h in $h2, $h3) {
            $password = @($warnings | Where-Object { $_ -like "$($h.Name): primary_conninfo (*user=replicator*) in $($h.DataDirectory)/postgresql.auto.conf holds a password in plain text. Fix: Enable-PgHotStandby $($h.Name) -Primary $($h1.Name) *" })
            $password.Count | Should -Be 1 -Because ($warnings -join "`n")
        }
        $md5 = @($warnings | Where-Object { $_ -like "$($h1.Name): line 1 of $($h1.HbaFile) (host replication replicator $($h2.Address) 255.255.255.255 md5) admits replication connections with md5*Fix: Set-PgMasterConfig $($h1.Name) turns it into a scram-sha-256 line*" })
        $md5.Count | Should -Be 1 -Because ($warnings -join "`n")
        $super = @($warnings | Where-Object { $_ -like "$($h1.Name): the replication role 'replicator' (used by *) is a superuser*Fix: New-PgReplicationUser $($h1.Name) -Credential replicator -Force*" })
        $super.Count | Should -Be 1 -Because ($warnings -join "`n")
        if ($triggerMajor) {
            @($warnings | Where-Object { $_ -like "$($h3.Name): promote_trigger_file '/tmp/promote_now' is in /tmp*Fix: Enable-PgHotStandby $($h3.Name) -Primary $($h1.Name) removes the setting*" }).Count |
                Should -Be 1 -Because ($warnings -join "`n")
        }
        ($results | Where-Object Standby -EQ $h2.Name).SecurityFindings.Kind | Should -Contain 'PasswordInConninfo'

        $run = $nodes | Invoke-PgReplicationAcceptance -Output None
        $run.Result | Should -Be 'Failed'
        $expected = @(
            "Node $($h2.Name).keeps no replication password in primary_conninfo"
            "Node $($h2.Name).keeps its configuration and password files from other users"
            "Node $($h3.Name).keeps no replication password in primary_conninfo"
            if ($triggerMajor) { "Node $($h3.Name).has no promote trigger file in a directory anyone can write to" }
            "Primary $($h1.Name).lets its standbys in as a role that is not a superuser"
            "Primary $($h1.Name).admits replication with scram-sha-256 only (no trust, md5 or password line)"
        )
        $failed = @($run.Failed | ForEach-Object ExpandedPath)
        ($failed | Sort-Object) | Should -Be ($expected | Sort-Object) -Because (@($run.Failed | ForEach-Object { "$($_.ExpandedPath): $($_.ErrorRecord)" }) -join "`n")
        $messages = @($run.Failed | ForEach-Object { "$($_.ErrorRecord)" }) -join "`n"
        $messages | Should -Match "Fix: Enable-PgHotStandby $([regex]::Escape($h2.Name)) -Primary $([regex]::Escape($h1.Name))"
        $messages | Should -Match "$([regex]::Escape($h2.Name)): the passfile \S+/\.pgpass \(mode 0644\)"
        $messages | Should -Not -Match ([regex]::Escape($replicationPassword))
    }

    It 'the fixes the findings name, run on the hand-built cluster -> md5 line made scram for the same address and role (-WhatIf first), SUPERUSER dropped, passwords in the 0600 passfile with a reload only, trigger file off; no finding left' {
        # Fresh nodes: the Its after this one use $nodes as New-PgNode made them (no credential carried).
        $p, $s2, $s3 = @($h1, $h2, $h3 | ForEach-Object { New-LabNode $lab $_ })
        $triggerMajor = $h3.Major -ge 12 -and $h3.Major -le 15
        $hbaBefore = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList cat, $h1.HbaFile
        $modeBefore = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList stat, -c, '%a', $h1.HbaFile

        # -WhatIf shows the conversion and changes nothing (its text goes to the host: a transcript catches it).
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "whatif-$([guid]::NewGuid().ToString('N')).txt"
        Start-Transcript -Path $transcript | Out-Null
        try { $p | Set-PgMasterConfig -WhatIf | Out-Null } finally { Stop-Transcript | Out-Null }
        $whatIf = Get-Content -Raw $transcript
        Remove-Item $transcript
        $whatIf | Should -Match ([regex]::Escape("make scram-sha-256 in $($h1.HbaFile): 'host replication replicator $($h2.Address)/32 md5' -> 'host replication replicator $($h2.Address)/32 scram-sha-256'"))
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList cat, $h1.HbaFile | Should -Be $hbaBefore

        $p | Set-PgMasterConfig -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        $hba = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList cat, $h1.HbaFile
        ($hba -split "`n")[0] | Should -Be "host replication replicator $($h2.Address)/32 scram-sha-256"
        ($hba -split "`n").Count | Should -Be ($hbaBefore -split "`n").Count -Because 'only the method changed'
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList stat, -c, '%a', $h1.HbaFile | Should -Be $modeBefore
        Get-LabValue $h1 'SELECT auth_method FROM pg_hba_file_rules WHERE line_number = 1' | Should -Be 'scram-sha-256'
        # The run also wrote wal_log_hints (for a restart) on h1 only: it takes effect when h1 restarts as a standby in the
        # switchover below, and the rejoin of h1 after the kill -9 then plans pg_rewind, which works: h1's crash recovery
        # (single-user) keeps its own wal_log_hints = on (a recovery as a standby replayed the new primary's off: a new copy).
        Invoke-PgLabSql -LabHost $h1 -Sql 'ALTER SYSTEM RESET wal_keep_size; SELECT pg_reload_conf()' | Out-Null

        $replication = [pscredential]::new('replicator', (ConvertTo-SecureString $replicationPassword -AsPlainText -Force))
        $p | New-PgReplicationUser -Credential $replication -Force -Confirm:$false | Out-Null
        Get-LabValue $h1 "SELECT rolsuper FROM pg_roles WHERE rolname = 'replicator'" | Should -Be 'f'

        foreach ($pair in @(@{ H = $h2; N = $s2 }, @{ H = $h3; N = $s3 })) {
            $h = $pair.H
            $started = Get-LabValue $h 'SELECT pg_postmaster_start_time()'
            $pair.N | Enable-PgHotStandby -Primary $p -Confirm:$false | Out-Null
            Get-AutoConf $h | Should -Not -Match 'password=' -Because "$($h.Name)'s password moves to the passfile"
            Get-AutoConf $h | Should -Match "passfile="
            Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, 'stat -c %a "$HOME/.pgpass"' | Should -Be '600'
            if ($h.Major -ge 13) { Get-LabValue $h 'SELECT pg_postmaster_start_time()' | Should -Be $started -Because 'from 13 primary_conninfo changes on a reload' }
            Wait-Streaming $h $h1.Address | Should -BeTrue
        }
        if ($triggerMajor) { Get-LabValue $h3 "SELECT current_setting('promote_trigger_file')" | Should -BeNullOrEmpty }

        $again = @($p, $s2, $s3 | Test-PgReplication -WarningVariable left -WarningAction SilentlyContinue)
        @($left | ForEach-Object { "$_" }) | Should -BeNullOrEmpty
        foreach ($r in $again) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')"; $r.SecurityFindings | Should -BeNullOrEmpty }
        $run = $p, $s2, $s3 | Invoke-PgReplicationAcceptance -Output None
        $run.Result | Should -Be 'Passed' -Because (@($run.Failed | ForEach-Object { "$($_.ExpandedPath): $($_.ErrorRecord)" }) -join "`n")
        Assert-ClusterWhole $h1.Name | Out-Null
    }

    It 'a switchover with a wrong -Credential on a hand-built cluster -> refused before the demotion (ReplicationLoginRefused), every node running as before' {
        $wrong = [pscredential]::new('replicator', (ConvertTo-SecureString 'not-the-password' -AsPlainText -Force))
        $nodes[1] | Invoke-PgSwitchover -Primary $nodes[0] -Sibling $nodes[2] -Credential $wrong -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
        $refused | Should -Not -BeNullOrEmpty
        "$($refused[0].FullyQualifiedErrorId)" | Should -Match 'ReplicationLoginRefused'
        "$refused" | Should -Match 'not that role''s password'
        Add-ScenarioNote "refused: $(Format-ErrorSummary $refused[0])"
        Assert-ClusterWhole $h1.Name | Out-Null
    }

    # Issue 18, point 2: what the new primary must offer its followers is proved (and its missing pg_hba lines added)
    # before the old primary is stopped.
    It 'a switchover to a standby whose pg_hba.conf lacks the followers'' lines -> the lines are added before the demotion, both followers stream from it, and back' {
        $drop = 'grep -v -e "$2" -e "$3" "$1" > "$1.new"; cat "$1.new" > "$1"; rm -f "$1.new"'
        Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, $drop, sh, $h2.HbaFile, " $($h1.Address)/32 ", " $($h3.Address)/32 " | Out-Null
        Invoke-PgLabSql -LabHost $h2 -Sql 'SELECT pg_reload_conf()' | Out-Null
        $before = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList cat, $h2.HbaFile
        $before | Should -Not -Match ([regex]::Escape("$($h3.Address)/32"))
        $new = $nodes[1] | Invoke-PgSwitchover -Primary $nodes[0] -Sibling $nodes[2] -Confirm:$false
        $new.PromotionSummary.Siblings.Streaming | Should -Be @($true, $true) -Because "$($new.PromotionSummary.Siblings)"
        $steps = $new.PromotionSummary.Steps -join "`n"
        $steps | Should -Match ([regex]::Escape($h3.Address)) -Because "the line for $($h3.Name) is a step of its own: $steps"
        $steps.IndexOf($h3.Address) | Should -BeLessThan $steps.IndexOf('shut down') -Because 'the lines go in before the old primary is stopped'
        $after = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList cat, $h2.HbaFile
        foreach ($h in $h1, $h3) { $after | Should -Match "replication\s+replicator\s+$([regex]::Escape($h.Address))/32\s+scram-sha-256" }
        Add-ScenarioNote "added on $($h2.Name) before the demotion: $(@($new.PromotionSummary.Steps | Where-Object { $_ -match 'pg_hba' }) -join '; ')"
        Assert-ClusterWhole $h2.Name | Out-Null
        $back = $nodes[0] | Invoke-PgSwitchover -Primary $nodes[1] -Sibling $nodes[2] -Confirm:$false
        $back.PromotionSummary.Siblings.Streaming | Should -Be @($true, $true) -Because "$($back.PromotionSummary.Siblings)"
        Assert-ClusterWhole $h1.Name | Out-Null
    }

    It 'a switchover to a standby whose pg_hba.conf has an error -> refused before the demotion (FollowerNotAdmitted), every node running as before' {
        $bad = 'hostx replication replicator 10.0.0.1/32 scram-sha-256'
        Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, 'printf "%s\n" "$2" >> "$1"', sh, $h2.HbaFile, $bad | Out-Null
        try {
            Get-LabValue $h2 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL' | Should -Be 1
            $nodes[1] | Invoke-PgSwitchover -Primary $nodes[0] -Sibling $nodes[2] -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
            $refused | Should -Not -BeNullOrEmpty
            "$($refused[0].FullyQualifiedErrorId)" | Should -Match 'FollowerNotAdmitted'
            "$refused" | Should -Match ([regex]::Escape($h2.HbaFile))
            Add-ScenarioNote "refused: $(Format-ErrorSummary $refused[0])"
            Assert-ClusterWhole $h1.Name | Out-Null
        }
        finally {
            Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, 'grep -v "^hostx " "$1" > "$1.new"; cat "$1.new" > "$1"; rm -f "$1.new"', sh, $h2.HbaFile | Out-Null
        }
    }

    It 'a switchover there and back under a write load on a hand-built cluster, no -Credential -> 0 acknowledged writes lost, every node streams, no password left in postgresql.auto.conf' {
        $load = Start-AckedWriteLoad $client 100000 -MaxSeconds 600
        try {
            Wait-AckedWrites $load
            foreach ($step in @(@{ To = 1; From = 0; Other = 2 }, @{ To = 0; From = 1; Other = 2 })) {
                $clock = [Diagnostics.Stopwatch]::StartNew()
                $new = $nodes[$step.To] | Invoke-PgSwitchover -Primary $nodes[$step.From] -Sibling $nodes[$step.Other] -Confirm:$false
                $new.PromotionSummary.Siblings.Streaming | Should -Be @($true, $true) -Because "$($new.PromotionSummary.Siblings)"
                Add-ScenarioNote ('{0} -> {1} in {2:0.0} s' -f $nodes[$step.From].Name, $nodes[$step.To].Name, $clock.Elapsed.TotalSeconds)
                Wait-AckedWrites $load -Count ($load.AckedSoFar.Count + 20) -Seconds 60
            }
        }
        finally { $result = Stop-AckedWriteLoad $load }
        $primary = Assert-ClusterWhole $h1.Name
        $lost = @(Get-MissingIds $primary $result.Acked)
        Set-ScenarioCount AckedWrites $result.Acked.Count
        Set-ScenarioCount AckedLost $lost.Count
        $lost.Count | Should -Be 0 -Because "$($result.Acked.Count) writes were acknowledged"
        foreach ($h in $h1, $h2, $h3) { Get-AutoConf $h | Should -Not -Match 'password=' -Because "$($h.Name) must keep no replication password in postgresql.auto.conf" }
        foreach ($r in $nodes | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }

    It 'Set-PgStandbyUpstream alone on a hand-built cluster, no -Credential -> a standby cascades from the other (its pg_hba line added there), then follows the primary again' {
        $cascaded = $nodes[2] | Set-PgStandbyUpstream -Primary $nodes[1] -Confirm:$false
        $cascaded.Role | Should -Be 'Standby'
        Wait-Streaming $h3 $h2.Address | Should -BeTrue -Because "$($h3.Name) must stream from $($h2.Name)"
        Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList cat, $h2.HbaFile | Should -Match "replication\s+replicator\s+$([regex]::Escape($h3.Address))/32\s+scram-sha-256"
        $back = $nodes[2] | Set-PgStandbyUpstream -Primary $nodes[0] -Confirm:$false
        $back.Role | Should -Be 'Standby'
        Assert-ClusterWhole $h1.Name | Out-Null
        Get-AutoConf $h3 | Should -Not -Match 'password=' -Because 'a re-pointed standby keeps its password in the passfile'
    }

    It 'kill -9 of the primary of a hand-built cluster -> Invoke-PgPromotion promotes a standby, the other follows, Restore-PgStandby rejoins the old primary' {
        $rows = Get-LabValue $h1 'SELECT count(*) FROM acked'
        Invoke-LabFault KillPostgres $h1
        $standbys = @($nodes | Where-Object Name -NE $h1.Name)
        $new = $standbys | Invoke-PgPromotion -Confirm:$false
        $new.PromotionSummary.Siblings.Streaming | Should -Be @($true) -Because "$($new.PromotionSummary.Siblings)"
        $back = $nodes[0] | Restore-PgStandby -Primary $new -Confirm:$false
        $back.Role | Should -Be 'Standby'
        $primary = Assert-ClusterWhole $new.Name
        Get-LabValue $primary 'SELECT count(*) FROM acked' | Should -Be $rows
        foreach ($r in $nodes | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }
}
