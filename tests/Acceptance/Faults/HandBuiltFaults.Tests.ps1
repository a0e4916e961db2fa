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

    It 'a switchover with a wrong -Credential on a hand-built cluster -> refused before the demotion (ReplicationLoginRefused), every node running as before' {
        $wrong = [pscredential]::new('replicator', (ConvertTo-SecureString 'not-the-password' -AsPlainText -Force))
        $nodes[1] | Invoke-PgSwitchover -Primary $nodes[0] -Sibling $nodes[2] -Credential $wrong -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue | Out-Null
        $refused | Should -Not -BeNullOrEmpty
        "$($refused[0].FullyQualifiedErrorId)" | Should -Match 'ReplicationLoginRefused'
        "$refused" | Should -Match 'not that role''s password'
        Add-ScenarioNote "refused: $(Format-ErrorSummary $refused[0])"
        Assert-ClusterWhole $h1.Name | Out-Null
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
