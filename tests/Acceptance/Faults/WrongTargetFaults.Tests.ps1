# Issue 15: a destructive step aimed at the wrong place. Each attempt below is refused, naming the host and what is
# there, and nothing changes: the primary's configuration files, pid file and relation files are hashed before and
# after, its rows read back, and it still takes a write (the same for the other cluster a step was aimed at).
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'A destructive step aimed at the wrong place' -Tag Acceptance, Faults {
    BeforeAll {
        # h1: the primary. h2: a primary of another cluster. h3: a cluster of another major (13).
        $lab = New-PgLab -HostCount 3 -Layout Upstream, Upstream, Upstream -Major 15, 15, 13
        $h1, $h2, $h3 = $lab.Hosts
        $primary = New-LabNode $lab $h1
        $replication = New-ReplicationCredential
        $primary | New-PgReplicationUser -Credential $replication | Out-Null
        foreach ($h in $h1, $h2) { Invoke-PgLabSql -LabHost $h -Sql 'CREATE TABLE precious (id int PRIMARY KEY); INSERT INTO precious SELECT generate_series(1, 100)' | Out-Null }

        # What a destructive step would change: the configuration, the pid file (same postmaster), the relation files.
        function Get-ClusterFingerprint($LabHost) {
            $script = 'cd "$1" && sha256sum PG_VERSION postgresql.conf postgresql.auto.conf pg_hba.conf postmaster.pid && find base global -type f ! -name pg_control ! -name pg_internal.init | sort'
            $files = Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList sh, -c, $script, sh, $LabHost.DataDirectory
            $rows = Get-LabValue $LabHost 'SELECT count(*) || '':'' || sum(id) FROM precious'
            "$files`n$rows"
        }
        function Assert-ClusterUnchanged($LabHost, [string] $Before) {
            Get-ClusterFingerprint $LabHost | Should -Be $Before -Because "nothing on $($LabHost.Name) may change"
            Get-LabValue $LabHost 'SELECT pg_is_in_recovery()' | Should -Be 'f'
            Invoke-PgLabSql -LabHost $LabHost -Sql 'CREATE TABLE IF NOT EXISTS still_writable (id int); INSERT INTO still_writable VALUES (1)' | Out-Null
        }
        # A second node on a lab host (another port, nothing running there), reached over SSH like any other.
        function New-SecondNode($LabHost) {
            New-PgNode -ComputerName $LabHost.Address -Port 5499 -SshUser postgres -SshKeyPath $LabHost.PostgresKeyPath -KnownHostsPath $lab.KnownHostsPath `
                -Credential $h1.AdminCredential -Name "$($LabHost.Name)-second" -NoConnect
        }
        # Runs a step that must be refused; returns the error text (one line).
        function Get-Refusal([scriptblock] $Step) {
            # The suite runs with ErrorActionPreference Stop: here a refusal is what is expected, so it is collected, not thrown.
            $ErrorActionPreference = 'Continue'
            $all = @(try { & $Step 2>&1 } catch { $_ })
            $refused = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
            @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }) | Should -BeNullOrEmpty -Because 'a refused step outputs no node'
            $refused | Should -Not -BeNullOrEmpty -Because 'the step must be refused'
            $text = (@($refused) | ForEach-Object { if ($_.ErrorDetails) { $_.ErrorDetails.Message } else { "$_" } }) -join ' '
            # The reason is the ErrorId, whatever cmdlet refused: scripts tell the cases apart without reading the text.
            $script:RefusalIds = @($refused | ForEach-Object { "$($_.FullyQualifiedErrorId)" }) -join ' '
            Add-ScenarioNote ("refused: " + ($text -replace '\s+', ' '))
            $text
        }
    }
    AfterAll {
        Save-ScenarioResults WrongTarget
        Remove-PgLab -Lab $lab
    }

    It "the primary's own data directory, from a second node on its host over SSH -> Invoke-PgBaseBackup refuses it with and without -Force, and the primary is unchanged" {
        $before = Get-ClusterFingerprint $h1
        $second = New-SecondNode $h1
        foreach ($force in $false, $true) {
            $text = Get-Refusal { $second | Invoke-PgBaseBackup -Primary $primary -Credential $replication -DataDirectory $h1.DataDirectory -Force:$force -Confirm:$false }
            $text | Should -Match 'itself'
            $text | Should -Match ([regex]::Escape($second.Name))
            $text | Should -Match ([regex]::Escape($h1.DataDirectory))
        }
        Assert-ClusterUnchanged $h1 $before
    }

    It "a symlink to the primary's data directory, on its host over SSH -> Invoke-PgBaseBackup -Force refuses it, and the primary is unchanged" {
        $before = Get-ClusterFingerprint $h1
        $link = '/var/lib/postgresql/looks-new'
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList ln, -sfn, $h1.DataDirectory, $link | Out-Null
        try {
            $text = Get-Refusal { New-SecondNode $h1 | Invoke-PgBaseBackup -Primary $primary -Credential $replication -DataDirectory $link -Force -Confirm:$false }
            $text | Should -Match 'itself'
            $RefusalIds | Should -Match 'PgReplication\.TargetIsSourcePrimary'
        }
        finally { Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList rm, -f, $link | Out-Null }
        Assert-ClusterUnchanged $h1 $before
    }

    It "the folder holding the primary's data directory, on its host over SSH -> Invoke-PgBaseBackup -Force refuses it, and the primary is unchanged" {
        $before = Get-ClusterFingerprint $h1
        $text = Get-Refusal { New-SecondNode $h1 | Invoke-PgBaseBackup -Primary $primary -Credential $replication -DataDirectory (Split-Path $h1.DataDirectory) -Force -Confirm:$false }
        $text | Should -Match 'lies inside'
        Assert-ClusterUnchanged $h1 $before
    }

    It "the primary's own data directory, -Local on this machine -> Invoke-PgBaseBackup -Force refuses it, and the primary is unchanged" {
        Import-Module "$PSScriptRoot/../../LocalCluster.psm1" -Force
        $root = (New-LocalClusterRoot 'pgrepl-wrongtarget').Root
        try {
            $password = New-Secret
            $port = Get-FreePort
            $data = Start-LocalPrimary -Root $root -Name primary -Port $port -AdminPassword $password -BinDirectory '/usr/lib/postgresql/15/bin'
            $admin = New-Credential postgres $password
            Invoke-LocalSql -Port $port -Password $password -Sql 'CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)' | Out-Null
            $pidBefore = Get-Content -Raw (Join-Path $data 'postmaster.pid')
            $localPrimary = New-PgNode -Local -Port $port -Credential $admin
            $text = Get-Refusal {
                New-PgNode "127.0.0.1:$(Get-FreePort)" -Local -NoConnect -Credential $admin |
                    Invoke-PgBaseBackup -Primary $localPrimary -Credential $replication -DataDirectory $data -Force -Confirm:$false
            }
            $text | Should -Match 'itself'
            $RefusalIds | Should -Match 'PgReplication\.TargetIsSourcePrimary'
            Get-Content -Raw (Join-Path $data 'postmaster.pid') | Should -Be $pidBefore
            Invoke-LocalSql -Port $port -Password $password -Sql 'SELECT count(*) FROM precious' | Should -Be 1
            Invoke-LocalSql -Port $port -Password $password -Sql 'INSERT INTO precious VALUES (2)' | Out-Null
        }
        finally { Remove-LocalClusterRoot -Root $root -BinDirectory '/usr/lib/postgresql/15/bin' }
    }

    It 'a running primary of another cluster -> Invoke-PgBaseBackup -Force refuses it and Enable-PgHotStandby will not reconfigure it, and both primaries are unchanged' {
        $before1 = Get-ClusterFingerprint $h1
        $before2 = Get-ClusterFingerprint $h2
        $text = Get-Refusal { New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Credential $replication -DataDirectory $h2.DataDirectory -Force -Confirm:$false }
        $text | Should -Match 'a running primary of another cluster'
        $text | Should -Match 'never replaced'
        $RefusalIds | Should -Match 'PgReplication\.TargetIsRunningPrimary'
        $other = New-LabNode $lab $h2 -Credential $h2.AdminCredential
        $text = Get-Refusal { $other | Enable-PgHotStandby -Primary $primary -Credential $replication -TimeoutSeconds 10 }
        $text | Should -Match 'never reconfigures a running primary'
        Assert-ClusterUnchanged $h1 $before1
        Assert-ClusterUnchanged $h2 $before2
    }

    It 'a stopped cluster of another system at the guessed path (no -DataDirectory) -> Invoke-PgBaseBackup -Force refuses it, and it starts again unchanged' {
        $before2 = Get-ClusterFingerprint $h2
        Stop-PgLabPostgres $h2
        try {
            $text = Get-Refusal { New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Credential $replication -Force -Confirm:$false }
            $text | Should -Match 'a stopped cluster, system identifier'
            $text | Should -Match 'guess'
        }
        finally { Start-PgLabPostgres $h2 }
        # postmaster.pid is the new server's: compare the rest.
        $strip = { param($t) ($t -split "`n" | Where-Object { $_ -notmatch 'postmaster.pid' }) -join "`n" }
        & $strip (Get-ClusterFingerprint $h2) | Should -Be (& $strip $before2)
    }

    It 'a data directory of another major (13, running) -> Invoke-PgBaseBackup -Force refuses it, and that cluster still runs with its files' {
        $before1 = Get-ClusterFingerprint $h1
        $version = Invoke-PgLabCommand -LabHost $h3 -User postgres -ArgumentList cat, "$($h3.DataDirectory)/PG_VERSION"
        $text = Get-Refusal { New-LabNode $lab $h3 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Credential $replication -DataDirectory $h3.DataDirectory -Force -Confirm:$false }
        $text | Should -Match 'PostgreSQL 13 data directory'
        Invoke-PgLabCommand -LabHost $h3 -User postgres -ArgumentList cat, "$($h3.DataDirectory)/PG_VERSION" | Should -Be $version
        Test-PgLabPostgres $h3 | Should -BeTrue
        Assert-ClusterUnchanged $h1 $before1
    }

    It 'a rejoin of a node whose data directory is not known, and one given the primary''s -> Restore-PgStandby refuses both, and the primary is unchanged' {
        $before = Get-ClusterFingerprint $h1
        $text = Get-Refusal { New-SecondNode $h1 | Restore-PgStandby -Primary $primary -Credential $replication -Confirm:$false }
        $text | Should -Match 'not known'
        $text | Should -Match '-DataDirectory'
        $text = Get-Refusal { New-SecondNode $h1 | Restore-PgStandby -Primary $primary -Credential $replication -DataDirectory $h1.DataDirectory -Reclone -Confirm:$false }
        $text | Should -Match 'itself'
        Assert-ClusterUnchanged $h1 $before
    }
}
