# The Pester kit (Invoke-PgReplicationAcceptance) against a real primary and standby on 127.0.0.1, built by the
# module's own pipeline as the demo does: it passes on the healthy pair, and fails naming each check when broken.
# Without PostgreSQL 15 these tests fail saying so (build.ps1 installs it); -Tag Surface leaves them out.
Describe 'Invoke-PgReplicationAcceptance on local clusters' -Tag Kit {
    BeforeAll {
        $BinDirectory = '/usr/lib/postgresql/15/bin'
        if (-not (Test-Path "$BinDirectory/initdb")) { throw "PostgreSQL 15 is not installed ($BinDirectory/initdb is missing: Debian's postgresql-15)." }
        Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
        Import-Module (Join-Path $PSScriptRoot '../LocalCluster.psm1') -Force
        $Clusters = New-LocalClusterRoot 'pgrepl-kit'
        $pair = New-LocalStreamingPair -Root $Clusters.Root -BinDirectory $BinDirectory
        $Primary, $Standby, $PrimaryPort, $StandbyPort = $pair.Primary, $pair.Standby, $pair.PrimaryPort, $pair.StandbyPort
        $StandbyData, $Password = $pair.StandbyData, $pair.Password
        $Reports = Join-Path $Clusters.Root 'reports'
        New-Item -ItemType Directory $Reports | Out-Null
    }

    AfterAll {
        if ($Clusters) { Remove-LocalClusterRoot $Clusters.Root $BinDirectory }
    }

    It 'passes on a healthy pair and writes a JUnit report' {
        $junit = Join-Path $Reports 'healthy.xml'
        $run = $Primary, $Standby | Invoke-PgReplicationAcceptance -Output None -OutputPath $junit -OutputFormat JUnitXml

        $run.Result | Should -Be 'Passed' -Because (@($run.Failed | ForEach-Object ExpandedPath) -join '; ')
        $run.PassedCount | Should -BeGreaterOrEqual 10
        # Archiving and synchronous replication are not set up here: those checks are skipped, not passed.
        @($run.Skipped | ForEach-Object Name) | Should -Be @('archives WAL without failing', 'has its synchronous standbys streaming')
        ([xml](Get-Content -Raw $junit)).testsuites.failures | Should -Be '0'
    }

    It 'fails, naming the check, on a superuser replication role and a trust rule on the standby' {
        Invoke-LocalSql $PrimaryPort $Password 'ALTER ROLE replicator SUPERUSER' | Out-Null
        Add-Content "$StandbyData/pg_hba.conf" 'host all all 127.0.0.2/32 trust'
        Invoke-LocalSql $StandbyPort $Password 'SELECT pg_catalog.pg_reload_conf()' | Out-Null
        try {
            $run = $Primary, $Standby | Invoke-PgReplicationAcceptance -Output None
            $run.Result | Should -Be 'Failed'
            @($run.Failed | ForEach-Object ExpandedPath) | Should -Be @(
                'Node standby.has no trust rule in pg_hba.conf'
                'Primary primary.lets its standbys in as a role that is not a superuser')
            "$($run.Failed[0].ErrorRecord)" | Should -Match 'line \d+: host all all 127\.0\.0\.2'
            "$($run.Failed[1].ErrorRecord)" | Should -Match "'replicator'"

            $run = $Primary, $Standby | Invoke-PgReplicationAcceptance -Output None -ExcludeCheck Hba, Roles
            $run.Result | Should -Be 'Passed'
        }
        finally { Invoke-LocalSql $PrimaryPort $Password 'ALTER ROLE replicator NOSUPERUSER' | Out-Null }
    }

    It 'fails on a stopped standby (unreachable, not streaming, its slot inactive) and counts it in the NUnit report' {
        Invoke-AsOwner "$BinDirectory/pg_ctl" @('-D', $StandbyData, '-m', 'fast', '-w', 'stop')
        $nunit = Join-Path $Reports 'stopped.xml'
        $run = $Primary, $Standby | Invoke-PgReplicationAcceptance -Output None -OutputPath $nunit

        $failed = @($run.Failed | ForEach-Object ExpandedPath)
        $failed | Should -Contain 'Node standby.answers'
        $failed | Should -Contain 'Primary primary.has no inactive replication slot'
        $failed | Should -Contain 'Standby standby of primary.streams from its primary'
        $failed | Should -Contain 'Standby standby of primary.is within the lag thresholds'
        ([xml](Get-Content -Raw $nunit)).'test-results'.failures | Should -Be "$($run.FailedCount)"
    }
}

Describe 'Invoke-PgReplicationAcceptance without Pester' -Tag Surface {
    It 'stops with PesterMissing before asking any server' {
        # A session that finds modules only in PowerShell's own folder, where no Pester is; 192.0.2.1 is never reached.
        $script = "`$env:PSModulePath = Join-Path `$PSHOME 'Modules'; " +
            "Import-Module '$(Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1')'; " +
            "try { Invoke-PgReplicationAcceptance 192.0.2.1:5432 -ErrorAction Stop } catch { `$_.FullyQualifiedErrorId; `$_.Exception.Message }"
        $out = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command $script
        $out[0] | Should -BeLike 'PgReplication.PesterMissing*'
        $out[1] | Should -Match 'Pester 5\.5\.0 or later'
    }
}
