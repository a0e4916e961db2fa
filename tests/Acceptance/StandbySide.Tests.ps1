# The standby side on real hosts: Invoke-PgBaseBackup | Enable-PgHotStandby | Test-PgReplication over SSH,
# on both layouts, with the faults and secrets checks of the standby-side issue.
BeforeAll {
    Import-Module "$PSScriptRoot/../Lab/PgLab.psd1" -Force
    Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force

    . "$PSScriptRoot/LabNode.ps1"
    function New-ReplicationCredential {
        # Quotes, a backslash, a dollar and unicode: the password must survive every hop unchanged.
        [pscredential]::new('replicator', (ConvertTo-SecureString ("R'e\p`$l-ü-" + [guid]::NewGuid().ToString('N').Substring(0, 10)) -AsPlainText -Force))
    }
    function Wait-Rows($LabHost, [string] $Sql, [string] $Expected, [int] $Seconds = 30) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        do {
            $value = try { Invoke-PgLabSql -LabHost $LabHost -Sql $Sql } catch { $null }
            if ($value -eq $Expected) { return $value }
            Start-Sleep -Milliseconds 200
        } while ([DateTime]::UtcNow -lt $deadline)
        $value
    }
}

Describe 'Standby side: Debian primary, two standbys over SSH' -Tag Acceptance, StandbySide {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Upstream -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $repl = New-ReplicationCredential
        $replPassword = $repl.GetNetworkCredential().Password
        $primary = New-LabNode $lab $h1 -Credential $h1.AdminCredential
        $standbys = @((New-LabNode $lab $h2 -Credential $h2.AdminCredential -NoConnect), (New-LabNode $lab $h3 -Credential $h3.AdminCredential -NoConnect))

        # Sample every process's command line on the machine (hosts share the PID namespace) during the backup.
        $sampler = Start-ThreadJob -ScriptBlock {
            param($Secret, $StopFile)
            $seen = 0; $samples = 0
            while (-not (Test-Path $StopFile)) {
                foreach ($cmdline in Get-ChildItem /proc -Directory -ErrorAction Ignore | Where-Object Name -Match '^\d+$') {
                    $text = try { [IO.File]::ReadAllText("$($cmdline.FullName)/cmdline") } catch { '' }
                    if ($text.Contains($Secret)) { $seen++ }
                }
                $samples++
                Start-Sleep -Milliseconds 50
            }
            [pscustomobject]@{ Seen = $seen; Samples = $samples }
        } -ArgumentList $replPassword, "$($lab.Root)/sampler.stop"

        $clock = [Diagnostics.Stopwatch]::StartNew()
        $primary | New-PgReplicationUser -Credential $repl | Set-PgMasterConfig -Standby $standbys -Restart -Confirm:$false | Out-Null
        $built = $standbys | Invoke-PgBaseBackup -Primary $primary -Confirm:$false | Enable-PgHotStandby
        $buildSeconds = $clock.Elapsed.TotalSeconds
        New-Item "$($lab.Root)/sampler.stop" | Out-Null
        $sample = $sampler | Wait-Job | Receive-Job
        Write-Host ("Pipeline to two streaming standbys: {0:0.0} s; {1} process-table samples" -f $buildSeconds, $sample.Samples)
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It 'gives two standbys that Test-PgReplication finds healthy' {
        $built.Count | Should -Be 2
        $built.Role | Should -Be @('Standby', 'Standby')
        $results = @($primary, $built) | ForEach-Object { $_ } | Test-PgReplication
        $results.Count | Should -Be 2
        foreach ($r in $results) { $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ') }
        $results.State | Should -Be @('streaming', 'streaming')
    }

    It 'copies the Debian config directory to the same place on the standby' {
        Invoke-PgLabCommand -LabHost $h2 -ArgumentList 'test', '-f', '/etc/postgresql/15/main/postgresql.conf' | Out-Null
        $built[0].ConfigFile | Should -Be '/etc/postgresql/15/main/postgresql.conf'
        $built[0].Control | Should -Be 'PgCtlCluster'
    }

    It 'streams rows written on the primary to every standby' {
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE accept_rows AS SELECT g AS id FROM generate_series(1, 1000) g' | Out-Null
        Wait-Rows $h2 'SELECT count(*) FROM accept_rows' '1000' | Should -Be '1000'
        Wait-Rows $h3 'SELECT count(*) FROM accept_rows' '1000' | Should -Be '1000'
    }

    It 'refuses writes on a standby' {
        { Invoke-PgLabSql -LabHost $h2 -Sql 'CREATE TABLE nope (id int)' } | Should -Throw '*read-only*'
    }

    It 'never shows the replication password in a process command line' {
        $sample.Samples | Should -BeGreaterThan 5
        $sample.Seen | Should -Be 0
    }

    It 'keeps the password in no file but the 0600 passfile' {
        foreach ($h in $h2, $h3) {
            # The passfile holds it escaped as libpq reads it (a backslash doubled, a colon after a backslash): look for both spellings.
            $escaped = $replPassword.Replace('\', '\\').Replace(':', '\:')
            $files = Invoke-PgLabCommand -LabHost $h -ArgumentList 'sh', '-c',
                'grep -rlF --exclude-dir=pglab -e "$1" -e "$2" /var/lib/postgresql /etc/postgresql /tmp /var/log/postgresql 2>/dev/null | sort -u; true', 'sh', $replPassword, $escaped
            @($files -split "`n" | Where-Object { $_ }) | Should -Be @('/var/lib/postgresql/.pgpass')
            Invoke-PgLabCommand -LabHost $h -ArgumentList 'stat', '-c', '%a %U', '/var/lib/postgresql/.pgpass' | Should -Be '600 postgres'
        }
    }

    It 'changes nothing on a second run of each cmdlet, and says so' {
        $verbose = $standbys | Invoke-PgBaseBackup -Primary $primary -Confirm:$false -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'already holds a copy'
        $verbose = $built | Enable-PgHotStandby -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'nothing to change'
    }

    It 'reports a paused replay as a failing named check' {
        Invoke-PgLabSql -LabHost $h2 -Sql 'SELECT pg_catalog.pg_wal_replay_pause()' | Out-Null
        try {
            $r = $built[0] | Test-PgReplication
            $r.IsHealthy | Should -BeFalse
            ($r.Checks | Where-Object Name -EQ 'replay not paused').Passed | Should -BeFalse
        }
        finally { Invoke-PgLabSql -LabHost $h2 -Sql 'SELECT pg_catalog.pg_wal_replay_resume()' | Out-Null }
    }

    It 'reports lag beyond -MaxLagBytes under a pgbench load' {
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList '/usr/lib/postgresql/15/bin/pgbench', '-i', '-s', '2', '-q', 'postgres' | Out-Null
        $load = Start-ThreadJob -ScriptBlock {
            param($LabModule, $LabHost)
            Import-Module $LabModule
            Invoke-PgLabCommand -LabHost $LabHost -User postgres -TimeoutSeconds 60 -ArgumentList '/usr/lib/postgresql/15/bin/pgbench', '-c', '4', '-T', '8', 'postgres'
        } -ArgumentList "$PSScriptRoot/../Lab/PgLab.psd1", $h1
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(8); $lagging = $null
            while (-not $lagging -and [DateTime]::UtcNow -lt $deadline) {
                $lagging = $primary, $built[1] | Test-PgReplication -MaxLagBytes 1 | Where-Object { -not $_.IsHealthy }
            }
            $lagging | Should -Not -BeNullOrEmpty
            ($lagging[0].Checks | Where-Object Name -EQ 'lag under threshold').Passed | Should -BeFalse
        }
        finally { $load | Wait-Job | Remove-Job }
    }

    It 'reports a stopped standby as unhealthy, naming the failing checks' {
        # The standby took the primary's (Debian) data directory, not the lab host's upstream-layout default.
        $h3.DataDirectory = $built[1].DataDirectory
        Test-PgLabPostgres -LabHost $h3 | Should -BeTrue
        Stop-PgLabPostgres -LabHost $h3
        # With the primary given, its other standby is reported too (healthy); the stopped one must fail.
        $all = $primary, $built[1] | Test-PgReplication
        $r = $all | Where-Object Standby -EQ $built[1].Name
        $r.IsHealthy | Should -BeFalse
        $r.Failing | Should -Match 'connected'
        $r.Failing | Should -Match 'streaming'
        ($primary, $built[1] | Test-PgReplication -Quiet) | Should -BeFalse
    }
}

Describe 'Standby side: Upstream primary, Rsync method, and a backup cut off' -Tag Acceptance, StandbySide {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Upstream, Upstream, Upstream -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $repl = New-ReplicationCredential
        $primary = New-LabNode $lab $h1 -Credential $h1.AdminCredential
        $s2 = New-LabNode $lab $h2 -Credential $h2.AdminCredential -NoConnect
        $s3 = New-LabNode $lab $h3 -Credential $h3.AdminCredential -NoConnect
        $primary | New-PgReplicationUser -Credential $repl | Set-PgMasterConfig -Standby $s2, $s3 -Restart -Confirm:$false | Out-Null
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It 'builds a streaming standby with -Method Rsync, showing its progress' {
        # Run in a runspace of its own, whose Write-Progress records can be read (a nested pipeline's go to the host): MiB,
        # files and rate, from rsync's own progress lines.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Manifest, $Standby, $Primary)
                    Import-Module $Manifest
                    $Standby | Invoke-PgBaseBackup -Primary $Primary -Method Rsync -Confirm:$false
                }).AddArgument((Join-Path (Get-Module PgReplication).ModuleBase 'PgReplication.psd1')).AddArgument($s2).AddArgument($primary)
            $copied = @($ps.Invoke())
            $ps.Streams.Error | Should -BeNullOrEmpty
            $progress = @($ps.Streams.Progress | Where-Object StatusDescription -Like 'data directory:*')
        }
        finally { $ps.Dispose() }
        $copied | Should -HaveCount 1
        $progress | Should -Not -BeNullOrEmpty -Because 'rsync''s progress is shown with Write-Progress'
        $progress[-1].StatusDescription | Should -Match '^data directory: \d+\.\d MiB, \d+ files sent, (\d+) of \1 looked at, \d+\.\d MiB/s$'
        $progress[-1].PercentComplete | Should -Be 100
        $r = $copied | Enable-PgHotStandby | Test-PgReplication
        $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ')
        Invoke-PgLabCommand -LabHost $h2 -ArgumentList 'test', '-f', "$($h2.DataDirectory)/standby.signal" | Out-Null
    }

    It 'fails a backup cut off mid-way with an error naming the host, and leaves nothing that starts' {
        # Enough data that the copy takes a few seconds.
        Invoke-PgLabCommand -LabHost $h1 -User postgres -TimeoutSeconds 300 -ArgumentList '/usr/lib/postgresql/15/bin/pgbench', '-i', '-s', '30', '-q', 'postgres' | Out-Null
        $job = Start-ThreadJob -ScriptBlock {
            param($ModulePath, $Standby, $Primary)
            Import-Module (Join-Path $ModulePath 'PgReplication.psd1')
            $Standby | Invoke-PgBaseBackup -Primary $Primary -Confirm:$false -TimeoutSeconds 120 -ErrorVariable failure -ErrorAction SilentlyContinue | Out-Null
            $failure
        } -ArgumentList $env:PGREPLICATION_MODULE, $s3, $primary
        Start-Sleep -Seconds 2
        Disconnect-PgLabHost -LabHost $h1
        try {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $errors = $job | Wait-Job -Timeout 150 | Receive-Job
            Write-Host ("The cut-off backup ended {0:0.0} s after the cut" -f $clock.Elapsed.TotalSeconds)
        }
        finally { Connect-PgLabHost -LabHost $h1 }
        $errors | Should -Not -BeNullOrEmpty
        "$($errors[0])" | Should -Match ([regex]::Escape($s3.Name))
        # Nothing usable is left: the data directory is empty (or holds no pg_control), so no server starts from it.
        $left = Invoke-PgLabCommand -LabHost $h3 -ArgumentList 'sh', '-c', 'ls -A "$1" 2>/dev/null | wc -l; test -f "$1/global/pg_control" && echo control || echo none', 'sh', $h3.DataDirectory
        ($left -split "`n")[-1] | Should -Be 'none'
    }
}

# Issue 20: every method copies the tablespaces (pg_tblspc holds symlinks to directories outside the data
# directory), to the same path on the standby host; rows stored there are read back on each standby. A tablespace
# whose path is one directory for both hosts (the lab hosts share /tmp) is refused before anything changes.
Describe 'Standby side: a tablespace outside the data directory, with every method' -Tag Acceptance, StandbySide {
    BeforeAll {
        $lab = New-PgLab -HostCount 4 -Layout Upstream, Upstream, Upstream, Upstream -NoCluster 2, 3, 4
        $h1 = $lab.Hosts[0]
        $repl = New-ReplicationCredential
        $primary = New-LabNode $lab $h1
        $primary | New-PgReplicationUser -Credential $repl | Set-PgMasterConfig -Standby @($lab.Hosts[1..3] | ForEach-Object Address) -Restart -Confirm:$false | Out-Null
        # /var/lib/postgresql is each host's own; the tablespace lies outside the data directory.
        $location = '/var/lib/postgresql/tablespaces/ts1'
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList 'mkdir', '-p', '-m', '0700', $location | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql "CREATE TABLESPACE ts1 LOCATION '$location'" | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE in_ts1 TABLESPACE ts1 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g' | Out-Null
        $expected = Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT count(*) || md5(string_agg(v, '','' ORDER BY id)) FROM in_ts1'
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It 'a tablespace on a path both hosts share -> refused with every method, nothing changed' -ForEach @(
        @{ Method = 'PgBaseBackup' }, @{ Method = 'Parallel' }, @{ Method = 'Rsync' }
    ) {
        $shared = "/tmp/pgr-ts-$($lab.Id)"
        Invoke-PgLabCommand -LabHost $h1 -ArgumentList 'install', '-d', '-o', 'postgres', '-m', '0700', $shared | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql "CREATE TABLESPACE shared_ts LOCATION '$shared'" | Out-Null
        try {
            $h2 = $lab.Hosts[1]
            $out = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Method $Method -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue
            $out | Should -BeNullOrEmpty
            "$($refused[0])" | Should -Match 'share that directory'
            "$($refused[0])" | Should -Match ([regex]::Escape($shared))
            Invoke-PgLabCommand -LabHost $h2 -ArgumentList 'sh', '-c', 'ls -A "$1" 2>/dev/null | wc -l', 'sh', $h2.DataDirectory | Should -Be '0'
            Invoke-PgLabSql -LabHost $h1 -Sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%h2'" | Should -Be '0'
        }
        finally {
            Invoke-PgLabSql -LabHost $h1 -Sql 'DROP TABLESPACE shared_ts' | Out-Null
            Invoke-PgLabCommand -LabHost $h1 -ArgumentList 'rm', '-rf', $shared | Out-Null
        }
    }

    It '-Method <Method> -> the standby streams and reads the rows stored in the tablespace' -ForEach @(
        @{ Method = 'PgBaseBackup'; Index = 1 }, @{ Method = 'Parallel'; Index = 2 }, @{ Method = 'Rsync'; Index = 3 }
    ) {
        $h = $lab.Hosts[$Index]
        $r = New-LabNode $lab $h -NoConnect | Invoke-PgBaseBackup -Primary $primary -Method $Method -Confirm:$false | Enable-PgHotStandby | Test-PgReplication
        $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ')
        # The tablespace's files are in the standby's own directory at the same path, reached through its pg_tblspc link.
        $link = Invoke-PgLabCommand -LabHost $h -ArgumentList 'sh', '-c', 'readlink "$1"/pg_tblspc/*', 'sh', $h.DataDirectory
        $link | Should -Be $location
        Invoke-PgLabCommand -LabHost $h -ArgumentList 'sh', '-c', 'find "$1" -type f | wc -l', 'sh', $location | Should -Not -Be '0'
        Invoke-PgLabSql -LabHost $h -Sql 'SELECT count(*) || md5(string_agg(v, '','' ORDER BY id)) FROM in_ts1' | Should -Be $expected
        # And what the primary writes there later reaches it.
        Invoke-PgLabSql -LabHost $h1 -Sql "INSERT INTO in_ts1 VALUES (100000 + $Index, 'later')" | Out-Null
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        do { $later = try { Invoke-PgLabSql -LabHost $h -Sql "SELECT count(*) FROM in_ts1 WHERE id = 100000 + $Index" } catch { $null } }
        while ($later -ne '1' -and [DateTime]::UtcNow -lt $deadline -and -not (Start-Sleep -Milliseconds 200))
        $later | Should -Be '1'
        Invoke-PgLabSql -LabHost $h1 -Sql "DELETE FROM in_ts1 WHERE id > 100000" | Out-Null
    }
}
