# Logical replication that survives a failover (PostgreSQL 17 and later), on real servers. One lab of four hosts:
# a primary, two failover candidates built by the module, and a subscriber (a cluster of its own) whose subscription
# was created WITH (failover = true) on a connection string that names every node (target_session_attrs=read-write).
# Rows go in before and after the kill -9 of the primary and the promotion; the subscriber must have each exactly once
# (primary key, count and sum), and its apply worker must have met no error.
BeforeAll {
    Import-Module "$PSScriptRoot/../Lab/PgLab.psd1" -Force
    Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
    . "$PSScriptRoot/LabNode.ps1"
}

Describe 'Logical subscribers keep their place across a failover (PostgreSQL 17)' -Tag Acceptance, LogicalFailover {
    BeforeAll {
        $lab = New-PgLab -HostCount 4 -NoCluster 2, 3 -Major 17 -Layout Upstream, Upstream, Upstream, Upstream
        $h1, $h2, $h3, $h4 = $lab.Hosts
        $repl = [pscredential]::new('replicator', (ConvertTo-SecureString ('Lf-' + [guid]::NewGuid().ToString('N').Substring(0, 16)) -AsPlainText -Force))
        $script:primary = New-LabNode $lab $h1
        $script:standbys = @((New-LabNode $lab $h2 -NoConnect), (New-LabNode $lab $h3 -NoConnect))
        # Rows 1..n as the subscriber must have them: each once.
        function Get-Expected([int] $n) { "$n|$n|$(($n * ($n + 1)) / 2)" }
        $rowsQuery = 'SELECT count(*), count(DISTINCT id), coalesce(sum(id), 0) FROM lf_rows'
    }
    AfterAll {
        if ($lab) { Remove-PgLab -Lab $lab }
    }

    It 'configures the primary for two failover candidates, once' {
        # Logical decoding needs wal_level logical; Set-PgMasterConfig keeps it and restarts for it.
        Invoke-PgLabSql -LabHost $h1 "ALTER SYSTEM SET wal_level = 'logical'" | Out-Null
        $primary | New-PgReplicationUser -Credential $repl | Out-Null
        $primary | Set-PgMasterConfig -Standby $standbys -FailoverStandby $standbys -Restart -Confirm:$false | Out-Null
        $slots = ($standbys | ForEach-Object { $_.Name.ToLowerInvariant() -replace '[^a-z0-9]', '_' }) -join ','
        Invoke-PgLabSql -LabHost $h1 "SELECT current_setting('wal_level') || ' ' || current_setting('synchronized_standby_slots')" |
            Should -Be "logical $slots"
        # The slot sync worker's login: the replication role to the primary's database, one line per candidate.
        Invoke-PgLabSql -LabHost $h1 "SELECT count(*) FROM pg_hba_file_rules WHERE database = '{postgres}' AND 'replicator' = ANY(user_name) AND auth_method = 'scram-sha-256'" |
            Should -Be '2'
        # A second run has nothing to change.
        $again = @($primary | Set-PgMasterConfig -Standby $standbys -FailoverStandby $standbys -Confirm:$false -Verbose 4>&1)
        @($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'already configured; nothing to change' }).Count |
            Should -Be 1
    }

    It 'builds the candidates with slot synchronisation on' {
        $script:built = @($standbys | Invoke-PgBaseBackup -Primary $primary -Method Parallel -Confirm:$false | Enable-PgHotStandby -Confirm:$false)
        $built.Role | Should -Be @('Standby', 'Standby')
        foreach ($h in $h2, $h3) {
            Invoke-PgLabSql -LabHost $h "SELECT current_setting('sync_replication_slots') || ' ' || current_setting('hot_standby_feedback') || ' ' || (current_setting('primary_conninfo') ~ 'dbname=''?postgres') || ' ' || current_setting('wal_level')" |
                Should -Be 'on on true logical'
        }
    }

    It 'a subscriber on a second cluster receives the rows, and both candidates hold its slot synced' {
        Invoke-PgLabSql -LabHost $h1 'CREATE TABLE lf_rows (id int PRIMARY KEY); CREATE PUBLICATION lf_pub FOR TABLE lf_rows; INSERT INTO lf_rows SELECT generate_series(1, 100)' | Out-Null
        Invoke-PgLabSql -LabHost $h4 'CREATE TABLE lf_rows (id int PRIMARY KEY)' | Out-Null
        # The subscriber's password is in a passfile of its own host (0600, written through stdin), not in the catalog.
        $passfile = '/var/lib/postgresql/lf_subscriber.pgpass'
        Invoke-PgLabCommand -LabHost $h4 -User postgres -ArgumentList 'sh', '-c', "umask 077; cat > $passfile" `
            -InputText "*:*:*:postgres:$($h1.AdminCredential.GetNetworkCredential().Password)`n" | Out-Null
        $nodes = @($primary) + $built
        $conn = "$($nodes | Get-PgConnectionString -Format Libpq -TargetSessionAttribute ReadWrite -UserName postgres) passfile=$passfile"
        $conn | Should -Match "target_session_attrs='?read-write"
        Invoke-PgLabSql -LabHost $h4 "CREATE SUBSCRIPTION lf_sub CONNECTION '$($conn -replace "'", "''")' PUBLICATION lf_pub WITH (failover = true)" | Out-Null
        Wait-PgLabSql -LabHost $h4 $rowsQuery -Expected (Get-Expected 100) -TimeoutSeconds 60 | Should -Be (Get-Expected 100)
        Invoke-PgLabSql -LabHost $h1 "SELECT slot_type || ' ' || failover FROM pg_replication_slots WHERE slot_name = 'lf_sub'" | Should -Be 'logical true'

        # The slot sync worker copies it within its nap (up to 30 s); the check names the slot until then.
        $clock = [Diagnostics.Stopwatch]::StartNew()
        do {
            Invoke-PgLabSql -LabHost $h1 'INSERT INTO lf_rows SELECT max(id) + 1 FROM lf_rows' | Out-Null
            $health = @(@($primary) + $built | Test-PgReplication)
            $slotChecks = @($health | ForEach-Object { $_.Checks | Where-Object Name -EQ 'failover slots synced' })
            if ($slotChecks.Count -eq 2 -and @($slotChecks | Where-Object { -not $_.Passed }).Count -eq 0) { break }
            Start-Sleep -Seconds 1
        } while ($clock.Elapsed.TotalSeconds -lt 90)
        $slotChecks.Count | Should -Be 2
        # The subscriber's WAL sender is not taken for a standby (nor its login for a standby's superuser role).
        $health.Count | Should -Be 2
        @($health | ForEach-Object SecurityFindings) | Should -BeNullOrEmpty
        foreach ($c in $slotChecks) { $c.Passed | Should -BeTrue -Because $c.Message; $c.Message | Should -Match 'lf_sub synced' }
        foreach ($r in $health) { $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ') }
        foreach ($h in $h2, $h3) {
            Invoke-PgLabSql -LabHost $h "SELECT synced AND failover AND NOT temporary FROM pg_replication_slots WHERE slot_name = 'lf_sub'" | Should -Be 't'
        }
        $script:before = [int] (Invoke-PgLabSql -LabHost $h1 'SELECT max(id) FROM lf_rows')
        Wait-PgLabSql -LabHost $h4 $rowsQuery -Expected (Get-Expected $before) -TimeoutSeconds 60 | Should -Be (Get-Expected $before)
    }

    It 'after kill -9 of the primary and a promotion, the subscription goes on from the new primary: every row once' {
        Stop-PgLabPostgres -LabHost $h1
        $script:new = $built | Invoke-PgPromotion -Confirm:$false
        $new.Role | Should -Be 'Primary'
        $newHost = if ($new.Name -eq $h2.Name) { $h2 } else { $h3 }
        # The new primary's own slot left the synchronized_standby_slots it inherited (its logical senders would wait for it).
        ($new.PromotionSummary.Steps -join "`n") | Should -Match 'synchronized_standby_slots'
        $sibling = if ($newHost -eq $h2) { $h3 } else { $h2 }
        $siblingSlot = Invoke-PgLabSql -LabHost $sibling "SELECT current_setting('primary_slot_name')"
        Invoke-PgLabSql -LabHost $newHost "SELECT current_setting('synchronized_standby_slots')" | Should -Be $siblingSlot

        $after = $before + 100
        Invoke-PgLabSql -LabHost $newHost "INSERT INTO lf_rows SELECT generate_series($($before + 1), $after)" | Out-Null
        # The apply worker reconnects through the multi-host string every wal_retrieve_retry_interval (5 s).
        Wait-PgLabSql -LabHost $h4 $rowsQuery -Expected (Get-Expected $after) -TimeoutSeconds 90 | Should -Be (Get-Expected $after)
        Invoke-PgLabSql -LabHost $newHost "SELECT active FROM pg_replication_slots WHERE slot_name = 'lf_sub'" | Should -Be 't'
        # None applied twice: a second copy of a row stops the apply worker on the primary key, again at each retry, and
        # its server log says so (a lost connection to the crashed primary is an apply error too, so the count is not 0).
        Invoke-PgLabCommand -LabHost $h4 -ArgumentList 'sh', '-c', "cat $($h4.DataDirectory)/log/* | grep -c 'duplicate key' || true" | Should -Be '0'
    }
    It 'a candidate taken out with Remove-PgStandby leaves synchronized_standby_slots and its database line; logical senders go on' {
        $newHost = if ($new.Name -eq $h2.Name) { $h2 } else { $h3 }
        $sibling = if ($newHost -eq $h2) { $h3 } else { $h2 }
        $siblingNode = $built | Where-Object Name -EQ $sibling.Name
        $siblingSlot = Invoke-PgLabSql -LabHost $sibling "SELECT current_setting('primary_slot_name')"
        $dbLines = "SELECT count(*) FROM pg_hba_file_rules WHERE database = '{postgres}' AND 'replicator' = ANY(user_name) AND address = '$($sibling.Address)'"
        Invoke-PgLabSql -LabHost $newHost $dbLines | Should -Be '1'
        $siblingNode | Remove-PgStandby -Primary $new -Confirm:$false
        # A listed slot that no longer exists would hold back every logical WAL sender of the new primary.
        Invoke-PgLabSql -LabHost $newHost "SELECT current_setting('synchronized_standby_slots') || '|' || (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$siblingSlot')" |
            Should -Be '|0'
        Invoke-PgLabSql -LabHost $newHost $dbLines | Should -Be '0'
        $from = [int] (Invoke-PgLabSql -LabHost $newHost 'SELECT max(id) FROM lf_rows')
        Invoke-PgLabSql -LabHost $newHost "INSERT INTO lf_rows SELECT generate_series($($from + 1), $($from + 50))" | Out-Null
        Wait-PgLabSql -LabHost $h4 $rowsQuery -Expected (Get-Expected ($from + 50)) -TimeoutSeconds 30 | Should -Be (Get-Expected ($from + 50))
    }

    It 'Set-PgMasterConfig -FailoverStandby @() clears the candidates, once' {
        $newHost = if ($new.Name -eq $h2.Name) { $h2 } else { $h3 }
        $new | Set-PgMasterConfig -FailoverStandby 'lf_extra' -Confirm:$false | Out-Null
        Invoke-PgLabSql -LabHost $newHost "SELECT current_setting('synchronized_standby_slots')" | Should -Be 'lf_extra'
        $new | Set-PgMasterConfig -FailoverStandby @() -Confirm:$false | Out-Null
        Invoke-PgLabSql -LabHost $newHost "SELECT current_setting('synchronized_standby_slots')" | Should -Be ''
        $again = @($new | Set-PgMasterConfig -FailoverStandby @() -Confirm:$false -Verbose 4>&1)
        @($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'already configured; nothing to change' }).Count |
            Should -Be 1
    }
}
