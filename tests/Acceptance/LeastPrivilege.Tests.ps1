# The daily-work admin role (issue 23): on the lab, per major, the superuser builds a primary and two standbys and
# runs New-PgAdminRole once; from then on the nodes carry the admin role's credential, which is not a superuser,
# and the day's work runs with it: discovery, health, topology, a cascade and back, a switchover and back, a
# failover after a crash and the old primary's rejoin. What still needs a superuser refuses with its ErrorId.
BeforeDiscovery {
    $Cases = @(@{ Major = 15 }, @{ Major = 17 })
}

BeforeAll {
    . "$PSScriptRoot/Faults/FaultSuite.ps1" -WithModule
    Import-PgReplicationModule
}

Describe 'Daily work as a role that is not a superuser, PostgreSQL <Major>' -Tag Acceptance, LeastPrivilege -ForEach $Cases {
    BeforeAll {
        $layout = if ($Major -eq 15) { 'Debian' } else { 'Upstream' }
        $method = if (Test-Path "/usr/lib/postgresql/$Major/bin/pg_basebackup") { 'PgBaseBackup' } else { 'Rsync' }
        $script:new = $null
        $lab = New-PgLab -HostCount 3 -NoCluster 2, 3 -Major $Major -Layout $layout, $layout, $layout
        $h1, $h2, $h3 = $lab.Hosts
        $superuser = $h1.AdminCredential
        # The superuser's setup, once.
        $primary = New-LabNode $lab $h1 -Credential $superuser
        $empty = @((New-LabNode $lab $h2 -Credential $superuser -NoConnect), (New-LabNode $lab $h3 -Credential $superuser -NoConnect))
        $primary | New-PgReplicationUser -Credential (New-ReplicationCredential) | Set-PgMasterConfig -Standby $empty -Restart -Confirm:$false | Out-Null
        $built = @($empty | Invoke-PgBaseBackup -Primary $primary -Method $method -Confirm:$false | Enable-PgHotStandby)
        if ($built.Count -ne 2) { throw "Only $($built.Count) of 2 standbys came up." }
        $Admin = [pscredential]::new('pgadmin', (ConvertTo-SecureString (New-OddPassword) -AsPlainText -Force))
        $created = $primary | New-PgAdminRole -Credential $Admin -Confirm:$false
        if (-not $created) { throw 'New-PgAdminRole wrote no node.' }
        # pg_hba.conf lets the new role in as the lab lets the superuser in (from the lab's subnet, SCRAM): an admin's step.
        foreach ($h in $h1, $h2, $h3) {
            Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, 'cat >> "$1"', sh, $h.HbaFile -InputText "host all pgadmin $($lab.Subnet) scram-sha-256`n" | Out-Null
            Invoke-PgLabSql -LabHost $h 'SELECT pg_reload_conf()' | Out-Null
        }
        # Everything after this is the admin role's.
        function New-AdminNode($LabHost, [switch] $NoConnect) { New-LabNode $lab $LabHost -Credential $Admin -NoConnect:$NoConnect }
    }
    AfterAll {
        if ($lab) { Remove-PgLab -Lab $lab }
    }

    It 'made the role LOGIN REPLICATION, not a superuser, with what <Major> grants; a second run changes nothing' {
        Invoke-PgLabSql -LabHost $h1 "SELECT rolsuper, rolcanlogin, rolreplication, pg_has_role('pgadmin', 'pg_monitor', 'MEMBER') FROM pg_roles WHERE rolname = 'pgadmin'" |
            Should -Be 'f|t|t|t'
        Invoke-PgLabSql -LabHost $h1 "SELECT pg_has_role('pgadmin', 'pg_checkpoint', 'MEMBER'), has_parameter_privilege('pgadmin', 'wal_level', 'ALTER SYSTEM'), has_function_privilege('pgadmin', 'pg_promote(boolean, integer)', 'EXECUTE'), has_function_privilege('pgadmin', 'pg_backup_start(text, boolean)', 'EXECUTE')" |
            Should -Be 't|t|t|t'
        $again = New-LabNode $lab $h1 -Credential $superuser | New-PgAdminRole -Credential $Admin -Confirm:$false -Verbose 4>&1
        @($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and "$_" -like 'Planned: *' } | ForEach-Object { "$_" }) |
            Should -Be @("Planned: nothing: the role 'pgadmin' is as it should be")
    }

    It 'New-PgNode discovers each node with its paths' {
        $script:nodes = @($h1, $h2, $h3 | ForEach-Object { New-AdminNode $_ })
        $nodes.Role | Should -Be @('Primary', 'Standby', 'Standby')
        $nodes[0].DataDirectory | Should -Be $h1.DataDirectory
        $nodes[0].HbaFile | Should -Be $h1.HbaFile
        $nodes[1].SystemIdentifier | Should -Be $nodes[0].SystemIdentifier
    }

    It 'Test-PgReplication finds both standbys healthy, and reads the security settings' {
        $results = @($nodes | Test-PgReplication -WarningVariable warnings)
        $results.Count | Should -Be 2
        foreach ($r in $results) { $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ') }
        @($warnings) | Should -BeNullOrEmpty
    }

    It 'Get-PgReplicationTopology shows both standbys running under the primary' {
        $rows = @(Get-PgReplicationTopology $nodes)
        foreach ($row in $rows) { $row.Status | Should -Be 'running' -Because "$($row.Name): $($row.Message)" }
        @($rows | Where-Object Upstream -EQ $h1.Name).Count | Should -Be 2
    }

    It 'the day-two cmdlets: slots listed with the standby each serves, replay paused and resumed, a delay set and removed' {
        $slots = @(Get-PgReplicationSlot $nodes[0] -Standby $nodes[1], $nodes[2])
        $slots.Count | Should -Be 2
        foreach ($slot in $slots) { $slot.Active | Should -BeTrue; $slot.Serves | Should -Not -BeNullOrEmpty }
        $nodes[1] | Suspend-PgStandbyReplay -Confirm:$false | Out-Null
        Get-LabValue $h2 'SELECT pg_is_wal_replay_paused()' | Should -Be 't'
        $nodes[1] | Resume-PgStandbyReplay -Confirm:$false | Out-Null
        Get-LabValue $h2 'SELECT pg_is_wal_replay_paused()' | Should -Be 'f'
        # ALTER SYSTEM ON PARAMETER recovery_min_apply_delay: granted from 15, which both majors here are.
        $nodes[2] | Set-PgStandbyDelay -ApplyDelay ([TimeSpan]::FromSeconds(30)) -Confirm:$false | Out-Null
        Get-LabValue $h3 'SHOW recovery_min_apply_delay' | Should -Be '30s'
        $nodes[2] | Set-PgStandbyDelay -ApplyDelay 0 -Confirm:$false | Out-Null
        Get-LabValue $h3 'SHOW recovery_min_apply_delay' | Should -Be '0'
    }

    It 'Set-PgStandbyUpstream puts h3 under h2 and back' {
        $nodes[2] | Set-PgStandbyUpstream -Primary $nodes[1] | Out-Null
        Wait-PgLabSql -LabHost $h3 'SELECT sender_host FROM pg_stat_wal_receiver' -Expected $h2.Address | Should -Be $h2.Address
        $nodes[2] | Set-PgStandbyUpstream -Primary $nodes[0] | Out-Null
        Wait-PgLabSql -LabHost $h3 'SELECT sender_host FROM pg_stat_wal_receiver' -Expected $h1.Address | Should -Be $h1.Address
    }

    It 'Invoke-PgSwitchover makes h2 the primary and back' {
        # The old primary's shutdown checkpoint: from pg_controldata (15), or from global/pg_control read by the module (the
        # lab's upstream builds ship server programs only).
        $new = $nodes[1] | Invoke-PgSwitchover -Primary $nodes[0] -Sibling $nodes[2] -Confirm:$false
        $new.Role | Should -Be 'Primary'
        @($new.PromotionSummary.Siblings | Where-Object { -not $_.Streaming }) | Should -BeNullOrEmpty
        Invoke-PgLabSql -LabHost $h2 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        $back = $nodes[0] | Invoke-PgSwitchover -Primary $nodes[1] -Sibling $nodes[2] -Confirm:$false
        $back.Role | Should -Be 'Primary'
        Invoke-PgLabSql -LabHost $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
    }

    It 'Invoke-PgPromotion after a crash of the primary: the sibling follows' {
        Stop-PgLabPostgres -LabHost $h1
        $script:new = $nodes[1], $nodes[2] | Invoke-PgPromotion -Confirm:$false
        $new.Role | Should -Be 'Primary'
        $new.PromotionSummary.Siblings[0].Streaming | Should -BeTrue -Because "$($new.PromotionSummary.Siblings[0])"
    }

    It 'Restore-PgStandby rewinds the old primary under the new one (where the host has no pg_rewind: refused, naming it, then a new copy through the backup API)' {
        # The node discovered before the crash: it knows its data directory.
        $old = $nodes[0]
        if (-not (Test-Path "$($h1.BinDirectory)/pg_rewind")) {
            # The lab's upstream builds have no pg_rewind: the refusal names it, and nothing changes.
            $refused = $null
            try { $old | Restore-PgStandby -Primary $new -Confirm:$false -ErrorAction Stop | Out-Null } catch { $refused = $_ }
            "$($refused.FullyQualifiedErrorId)" | Should -BeLike 'PgReplication.RewindProgramMissing*'
            "$refused" | Should -Match "has no \S+/$Major/bin/pg_rewind"
            Test-PgLabPostgres -LabHost $h1 | Should -BeFalse -Because 'a refusal changes nothing'
            # A new copy instead: with no pg_basebackup on the host either, -Method Parallel, which calls the low-level
            # backup API (pg_backup_start/stop) as the admin role: New-PgAdminRole's EXECUTE grants.
            $copy = $old | Restore-PgStandby -Primary $new -Reclone -Confirm:$false -Verbose 4>&1
            @($copy | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and "$_" -like '*copying with -Method Parallel*' }).Count |
                Should -BeGreaterThan 0 -Because 'the new copy must be the one that calls the backup API'
        }
        else { $old | Restore-PgStandby -Primary $new -Confirm:$false | Out-Null }
        $r = @($new, $old | Test-PgReplication)
        $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ')
    }

    It 'what still needs a superuser says so: New-PgReplicationUser (<Major>)' {
        # The primary now: the promoted node when the failover ran, else h1.
        $primaryNow = if ($script:new) { $script:new } else { $nodes[0] }
        $primaryNow | New-PgReplicationUser -Credential (New-ReplicationCredential other) -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
        $refused.Count | Should -Be 1
        $refused[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.SuperuserRequired,*'
        "$($refused[0])" | Should -Match 'not a superuser'
    }
}
