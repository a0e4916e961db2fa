# Failover on real hosts: Invoke-PgPromotion after a crash, Get-PgReplicationTopology during a split brain,
# Restore-PgStandby (pg_rewind and -Reclone), Invoke-PgSwitchover under a write load, -FenceOldPrimary, and
# clients that follow the primary with the strings of Get-PgConnectionString. One lab, one story: each It
# starts from the cluster the one before it left.
BeforeAll {
    Import-Module "$PSScriptRoot/../Lab/PgLab.psd1" -Force
    Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
    # The clients of the connection strings: Npgsql of our own (the module's is in its own load context).
    Add-Type -Path (Join-Path $env:PGREPLICATION_MODULE 'Dependencies/Npgsql.dll')

    function Get-LabValue($LabHost, [string] $Sql) { try { Invoke-PgLabSql -LabHost $LabHost -Sql $Sql } catch { $null } }
    function Wait-LabValue($LabHost, [string] $Sql, [string] $Expected, [int] $Seconds = 30) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        do {
            $value = Get-LabValue $LabHost $Sql
            if ($value -eq $Expected) { return $value }
            Start-Sleep -Milliseconds 200
        } while ([DateTime]::UtcNow -lt $deadline)
        $value
    }
    # A write load that follows the primary: psql with a libpq multi-host string (target_session_attrs=read-write)
    # inserts ids one by one and records each acknowledged one; a failed insert is retried with the same id.
    function Start-WriteLoad([string] $ConnectionString, [string] $PassFile, [string] $AckFile, [string] $StopFile, [int] $FirstId) {
        Start-ThreadJob -ScriptBlock {
            param($ConnectionString, $PassFile, $AckFile, $StopFile, $FirstId)
            $env:PGPASSFILE = $PassFile
            $id = $FirstId; $failures = 0
            while (-not (Test-Path $StopFile)) {
                $out = & /usr/bin/psql $ConnectionString -XAtqc "INSERT INTO acked (id) VALUES ($id) ON CONFLICT DO NOTHING" 2>&1
                if ($LASTEXITCODE -eq 0) { Add-Content -Path $AckFile -Value $id; $id++ }
                else { $failures++; Start-Sleep -Milliseconds 50 }
            }
            [pscustomobject]@{ LastId = $id - 1; Failures = $failures }
        } -ArgumentList $ConnectionString, $PassFile, $AckFile, $StopFile, $FirstId
    }
    function Stop-WriteLoad($Job, [string] $StopFile) {
        New-Item -ItemType File -Force $StopFile | Out-Null
        $result = $Job | Wait-Job -Timeout 60 | Receive-Job
        Remove-Item $StopFile -Force
        $result
    }
    function Get-Acked([string] $AckFile) { @(Get-Content $AckFile -ErrorAction Ignore | ForEach-Object { [int] $_ }) }
    function Get-MissingIds($LabHost, [int[]] $Ids) {
        if ($Ids.Count -eq 0) { return @() }
        $present = @((Invoke-PgLabSql -LabHost $LabHost -Sql "SELECT id FROM acked WHERE id = ANY('{$($Ids -join ',')}'::int[])") -split "`n" |
            Where-Object { $_ } | ForEach-Object { [int] $_ })
        @($Ids | Where-Object { $_ -notin $present })
    }
}

Describe 'Failover: promotion, split brain, rejoin, switchover, fencing and clients' -Tag Acceptance, Failover {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Upstream, Upstream, Upstream -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $admin = $h1.AdminCredential   # the standbys are copies: the same roles and passwords
        $repl = [pscredential]::new('replicator', (ConvertTo-SecureString ("Fo'v\e`$r-" + [guid]::NewGuid().ToString('N').Substring(0, 12)) -AsPlainText -Force))
        . "$PSScriptRoot/LabNode.ps1"
        $n1 = New-LabNode $lab $h1 -Credential $admin
        $n2 = New-LabNode $lab $h2 -Credential $admin -NoConnect
        $n3 = New-LabNode $lab $h3 -Credential $admin -NoConnect
        $n1 | New-PgReplicationUser -Credential $repl | Set-PgMasterConfig -Standby $n2, $n3 -Restart -Confirm:$false | Out-Null
        $null = $n2, $n3 | Invoke-PgBaseBackup -Primary $n1 -Confirm:$false | Enable-PgHotStandby
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE acked (id int PRIMARY KEY, at timestamptz DEFAULT now())' | Out-Null

        $passFile = Join-Path $lab.Root 'client.pgpass'
        Set-Content -Path $passFile -Value "*:*:*:postgres:$($admin.GetNetworkCredential().Password)" -NoNewline
        chmod 600 $passFile
        $ackFile = Join-Path $lab.Root 'acked.txt'
        $stopFile = Join-Path $lab.Root 'load.stop'
        $timings = [ordered]@{}
    }
    AfterAll {
        if ($timings.Count) { Write-Host ("Failover timings: " + (($timings.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value)" }) -join '; ')) }
        Remove-PgLab -Lab $lab
    }

    It 'refuses to promote while the old primary answers, and changes nothing' {
        { $n2, $n3 | Invoke-PgPromotion -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'PgReplication.PrimaryStillAlive*'
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 't'
        Get-LabValue $h3 'SELECT pg_is_in_recovery()' | Should -Be 't'
    }

    It 'shows the plan with -WhatIf after the preflight, and changes nothing' {
        # -WhatIf text goes to the host; the same plan is in the verbose stream.
        $out = $n2, $n3 | Invoke-PgPromotion -Force -WhatIf -Verbose 4>&1
        @($out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }) | Should -BeNullOrEmpty
        ($out.Message -join "`n") | Should -Match "promote $([regex]::Escape($h2.Name))"
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 't'
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
    }

    It 'after kill -9 of the primary under load, promotes the standby that is ahead; the other follows on the new timeline' {
        $libpq = "$(Get-PgConnectionString $n1, $n2, $n3 -TargetSessionAttribute ReadWrite -UserName postgres)"
        # pgbench on the primary for volume, and the id writer for a count of what was acknowledged.
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList '/usr/lib/postgresql/15/bin/pgbench', '-i', '-s', '2', '-q', 'postgres' | Out-Null
        $pgbench = Start-ThreadJob -ScriptBlock {
            param($LabModule, $LabHost)
            Import-Module $LabModule
            try { Invoke-PgLabCommand -LabHost $LabHost -User postgres -TimeoutSeconds 60 -ArgumentList '/usr/lib/postgresql/15/bin/pgbench', '-c', '2', '-T', '30', 'postgres' } catch { "pgbench ended: $_" }
        } -ArgumentList "$PSScriptRoot/../Lab/PgLab.psd1", $h1
        $load = Start-WriteLoad $libpq $passFile $ackFile $stopFile 1
        Start-Sleep -Seconds 2
        # Host 3 falls behind: cut off for a while (nothing arrives), and its replay paused.
        Invoke-PgLabSql -LabHost $h3 -Sql 'SELECT pg_wal_replay_pause()' | Out-Null
        Disconnect-PgLabHost -LabHost $h3
        Start-Sleep -Seconds 2
        $replicated = [int] (Get-LabValue $h2 'SELECT coalesce(max(id), 0) FROM acked')
        Stop-PgLabPostgres -LabHost $h1
        $loadResult = Stop-WriteLoad $load $stopFile
        $pgbench | Wait-Job -Timeout 90 | Remove-Job -Force
        Connect-PgLabHost -LabHost $h3
        $replicated | Should -BeGreaterThan 0

        $hook = [System.Collections.Generic.List[string]]::new()
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $new = $n3, $n2 | Invoke-PgPromotion -Confirm:$false -OnPromoted { param($Old, $New) $hook.Add("$($Old.Name)->$($New.Name)") }
        $timings['promotion (kill to siblings streaming)'] = '{0:0.00} s' -f $clock.Elapsed.TotalSeconds
        $timings['promotion to writable'] = '{0:0.00} s' -f $new.PromotionSummary.TimeToWritable.TotalSeconds

        $new.Name | Should -Be $h2.Name
        $new.Role | Should -Be 'Primary'
        $new.Timeline | Should -Be 2
        # The old primary was found from the standbys' primary_conninfo: it is known by its address.
        $hook | Should -Be @("$($h1.Address)->$($h2.Name)")
        $new.PromotionSummary.Siblings.Count | Should -Be 1
        $new.PromotionSummary.Siblings[0].Streaming | Should -BeTrue -Because "$($new.PromotionSummary.Siblings[0])"
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Wait-LabValue $h3 'SELECT received_tli FROM pg_stat_wal_receiver' '2' | Should -Be '2'
        Wait-LabValue $h3 "SELECT sender_host FROM pg_stat_wal_receiver" $h2.Address | Should -Be $h2.Address
        # Everything replicated before the crash is on the new primary; the asynchronous loss window is reported.
        Get-LabValue $h2 "SELECT count(*) FROM acked WHERE id <= $replicated" | Should -Be "$replicated"
        $lost = @(Get-MissingIds $h2 (Get-Acked $ackFile))
        $timings['async writes lost at the crash'] = "$($lost.Count) of $((Get-Acked $ackFile).Count) acknowledged"
        # The promoted node resumed its replay before promoting; host 3 stays paused as it was told, until resumed.
        Invoke-PgLabSql -LabHost $h3 -Sql 'SELECT pg_wal_replay_resume()' | Out-Null
    }

    It 'is safe to run again: nothing is promoted a second time' {
        $again = $n3, $n2 | Invoke-PgPromotion -Confirm:$false -Verbose 4>&1
        ($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Match 'already the primary'
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Get-LabValue $h3 'SELECT pg_is_in_recovery()' | Should -Be 't'
    }

    It 'lets clients find the new primary for writes and a standby for reads' {
        $libpqRw = "$(Get-PgConnectionString $n1, $n2, $n3 -TargetSessionAttribute ReadWrite -UserName postgres)"
        $libpqRo = "$(Get-PgConnectionString $n1, $n2, $n3 -TargetSessionAttribute Standby -UserName postgres)"
        $env:PGPASSFILE = $passFile
        try {
            & /usr/bin/psql $libpqRw -XAtc 'SELECT inet_server_addr()' | Should -Be $h2.Address
            & /usr/bin/psql $libpqRo -XAtc 'SELECT inet_server_addr()' | Should -Be $h3.Address
        }
        finally { Remove-Item Env:PGPASSFILE }
        foreach ($target in @{ Attribute = 'ReadWrite'; Host = $h2 }, @{ Attribute = 'Standby'; Host = $h3 }) {
            $npgsql = Get-PgConnectionString $n1, $n2, $n3 -Format Npgsql -TargetSessionAttribute $target.Attribute -Credential $admin -IncludePassword -WarningAction SilentlyContinue
            $connection = [Npgsql.NpgsqlConnection]::new("$npgsql")
            try {
                $connection.Open()
                $cmd = $connection.CreateCommand(); $cmd.CommandText = 'SELECT host(inet_server_addr())'
                $cmd.ExecuteScalar() | Should -Be $target.Host.Address -Because "Npgsql with $($target.Attribute)"
            }
            finally { $connection.Dispose() }
        }
    }

    It 'shows two primaries as split-brain when the old primary comes back' {
        Start-PgLabPostgres -LabHost $h1      # not fenced: it starts as a primary, the classic split brain
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        $rows = Get-PgReplicationTopology $n1, $n2, $n3 -WarningVariable warned -WarningAction SilentlyContinue
        ($rows | Where-Object Name -EQ $h1.Name).Status | Should -Be 'split-brain'
        ($rows | Where-Object Name -EQ $h2.Name).Status | Should -Be 'split-brain'
        "$warned" | Should -Match ([regex]::Escape($h1.Name))
        $n2, $n3 | Test-PgReplication -Quiet | Should -BeTrue   # the new primary and its standby are fine
    }

    It 'rejoins the diverged old primary with pg_rewind; its own writes after the fork are gone' {
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE diverged AS SELECT 1 AS x; SELECT pg_switch_wal()' | Out-Null
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $back = $n1 | Restore-PgStandby -Primary $n2 -Confirm:$false
        $timings['rejoin with pg_rewind'] = '{0:0.00} s' -f $clock.Elapsed.TotalSeconds
        $back.Role | Should -Be 'Standby'
        $back.Timeline | Should -Be 2
        Wait-LabValue $h1 "SELECT status FROM pg_stat_wal_receiver" 'streaming' | Should -Be 'streaming'
        Get-LabValue $h1 "SELECT to_regclass('diverged') IS NULL" | Should -Be 't'
        $r = $n2, $n1 | Test-PgReplication | Where-Object Standby -EQ $n1.Name
        $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ')
        # A second run changes nothing.
        $verbose = $n1 | Restore-PgStandby -Primary $n2 -Confirm:$false -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'nothing to change'
    }

    It 'switches over under a write load with no acknowledged write lost, and back' {
        foreach ($round in 1, 2) {
            $from, $to, $fromHost, $toHost = if ($round -eq 1) { $n2, $n1, $h2, $h1 } else { $n1, $n2, $h1, $h2 }
            Remove-Item $ackFile -ErrorAction Ignore
            $libpq = "$(Get-PgConnectionString $n1, $n2, $n3 -TargetSessionAttribute ReadWrite -UserName postgres)"
            $load = Start-WriteLoad $libpq $passFile $ackFile $stopFile (100000 * $round)
            Start-Sleep -Seconds 2
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $new = $to | Invoke-PgSwitchover -Primary $from -Sibling $n3 -Confirm:$false
            $timings["switchover $round"] = '{0:0.00} s' -f $clock.Elapsed.TotalSeconds
            Start-Sleep -Seconds 2
            $loadResult = Stop-WriteLoad $load $stopFile
            $new.Name | Should -Be $toHost.Name
            $new.PromotionSummary.Siblings.Streaming | Should -Be @($true, $true) -Because ($new.PromotionSummary.Siblings -join '; ')
            $acked = Get-Acked $ackFile
            $acked.Count | Should -BeGreaterThan 10
            Get-MissingIds $toHost $acked | Should -BeNullOrEmpty
            $timings["switchover $round writes"] = "$($acked.Count) acknowledged, $($loadResult.Failures) refused while switching, 0 lost"
            Get-LabValue $fromHost 'SELECT pg_is_in_recovery()' | Should -Be 't'
            Wait-LabValue $fromHost "SELECT sender_host FROM pg_stat_wal_receiver" $toHost.Address | Should -Be $toHost.Address
            $results = $to, $from, $n3 | Test-PgReplication
            foreach ($r in $results) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
        }
    }

    It 'refuses a switchover to a standby that lags beyond -MaxLagBytes, changing nothing' {
        Invoke-PgLabSql -LabHost $h3 -Sql 'SELECT pg_wal_replay_pause()' | Out-Null
        try {
            Invoke-PgLabSql -LabHost $h2 -Sql 'INSERT INTO acked (id) SELECT g FROM generate_series(900000, 900500) g' | Out-Null
            $n3 | Invoke-PgSwitchover -Primary $n2 -MaxLagBytes 1 -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
            "$($refused[0].FullyQualifiedErrorId)" | Should -Match 'CandidateBehind'
            Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        }
        finally { Invoke-PgLabSql -LabHost $h3 -Sql 'SELECT pg_wal_replay_resume()' | Out-Null }
    }

    It 'with -FenceOldPrimary promotes while the old primary runs, and the old one can only come back as a standby' {
        $new = $n3 | Invoke-PgPromotion -Primary $n2 -Sibling $n1 -FenceOldPrimary -Confirm:$false
        $new.Name | Should -Be $h3.Name
        $new.PromotionSummary.OldPrimaryFenced | Should -BeTrue
        Test-PgLabPostgres -LabHost $h2 | Should -BeFalse
        Start-PgLabPostgres -LabHost $h2    # an admin or init system starts it again
        Get-LabValue $h2 'SELECT pg_is_in_recovery()' | Should -Be 't'
        { Invoke-PgLabSql -LabHost $h2 -Sql 'CREATE TABLE second_primary (x int)' } | Should -Throw '*read-only*'
        Wait-LabValue $h1 "SELECT sender_host FROM pg_stat_wal_receiver" $h3.Address | Should -Be $h3.Address
    }

    It 'rejoins the fenced primary with -Reclone' {
        $back = $n2 | Restore-PgStandby -Primary $n3 -Reclone -Confirm:$false
        $back.Role | Should -Be 'Standby'
        Wait-LabValue $h2 "SELECT sender_host FROM pg_stat_wal_receiver" $h3.Address | Should -Be $h3.Address
        $results = $n3, $n1, $n2 | Test-PgReplication
        $results.Count | Should -Be 2
        foreach ($r in $results) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
        $rows = Get-PgReplicationTopology $n1, $n2, $n3
        @($rows | Where-Object Role -EQ 'Primary').Name | Should -Be @($h3.Name)
    }

    It 'cascades: Set-PgStandbyUpstream points a standby at another standby, and the topology shows the tree' {
        $cascaded = $n2 | Set-PgStandbyUpstream -Primary $n1 -Confirm:$false
        $cascaded.Role | Should -Be 'Standby'
        Wait-LabValue $h2 "SELECT sender_host FROM pg_stat_wal_receiver" $h1.Address | Should -Be $h1.Address
        Invoke-PgLabSql -LabHost $h3 -Sql 'INSERT INTO acked (id) VALUES (777777)' | Out-Null
        Wait-LabValue $h2 'SELECT count(*) FROM acked WHERE id = 777777' '1' | Should -Be '1'
        $rows = @(Get-PgReplicationTopology $n1, $n2, $n3)
        ($rows | Where-Object Name -EQ $h3.Name).Depth | Should -Be 0
        ($rows | Where-Object Name -EQ $h1.Name).Depth | Should -Be 1
        ($rows | Where-Object Name -EQ $h2.Name).Depth | Should -Be 2
        ($rows | Where-Object Name -EQ $h2.Name).Upstream | Should -Be $h1.Name
        $rows.Name | Should -Be @($h3.Name, $h1.Name, $h2.Name)
        # A second run changes nothing and says so.
        $verbose = $n2 | Set-PgStandbyUpstream -Primary $n1 -Confirm:$false -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'nothing to change'
    }

    It 'passes the Pester kit on the healthy cluster, and fails it naming the check when a standby stops' {
        $run = $n3, $n1, $n2 | Invoke-PgReplicationAcceptance -Output None
        $run.Result | Should -Be 'Passed' -Because (@($run.Failed | ForEach-Object { "$($_.ExpandedPath): $($_.ErrorRecord)" }) -join '; ')
        Stop-PgLabPostgres -LabHost $h2
        $run = $n3, $n1, $n2 | Invoke-PgReplicationAcceptance -Output None
        $run.Result | Should -Be 'Failed'
        @($run.Failed | ForEach-Object ExpandedPath) -join "`n" | Should -Match ([regex]::Escape($h2.Name) + '.*streams from its primary')
    }
}
