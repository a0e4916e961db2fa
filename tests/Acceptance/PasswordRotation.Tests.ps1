# Issue 21, point 2: Set-PgReplicationPassword on real hosts over SSH, a Debian primary with a Debian and an
# Upstream standby. No standby stops streaming (its WAL sender keeps its pid), a standby restarted between the
# passfiles and the verifier logs in again, -WhatIf and a second run change nothing.
BeforeAll {
    . "$PSScriptRoot/Faults/FaultSuite.ps1" -WithModule

    # The WAL senders on the primary: client address -> pid, for the standbys' addresses.
    function Get-Senders($LabHost) {
        $map = @{}
        foreach ($line in @((Get-LabValue $LabHost "SELECT string_agg(host(client_addr) || '=' || pid || '=' || state, ',') FROM pg_stat_replication") -split ',' | Where-Object { $_ })) {
            $addr, $id, $state = $line -split '='
            $map[$addr] = "$id/$state"
        }
        $map
    }
    # A replication login from the standby's host with what its passfile holds, as the WAL receiver would make it.
    function Test-PassfileLogin($LabHost, $Primary) {
        try {
            Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList psql, '-XAtq', '-c', 'IDENTIFY_SYSTEM',
                "host=$($Primary.Address) port=5432 user=replicator dbname=replication replication=true passfile=/var/lib/postgresql/.pgpass" | Out-Null
            $true
        } catch { $false }
    }
}

Describe 'Rotating the replication password (Debian primary, Debian and Upstream standbys)' -Tag Acceptance, PasswordRotation {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Upstream -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $old = New-ReplicationCredential
        $nodes = Initialize-LabCluster $lab $old
        $new = New-ReplicationCredential
        $third = New-ReplicationCredential
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It '-WhatIf lists the passfiles and the verifier, and changes nothing (every config file and passfile hashed, roles and slots)' {
        $before = Get-LabState $lab
        $verbose = $nodes | Set-PgReplicationPassword -Credential $new -WhatIf -Verbose 4>&1 | ForEach-Object { "$_" }
        Get-LabState $lab | Should -Be $before
        ($verbose | Where-Object { $_ -like 'Planned: *' }).Count | Should -Be 3 -Because ($verbose -join "`n")
        $verbose -join "`n" | Should -Not -Match ([regex]::Escape((Get-PlainPassword $new)))
    }

    It 'rotates: both standbys keep their WAL sender (same pid, streaming), and each logs in with its passfile only with the new password' {
        $sendersBefore = Get-Senders $h1
        $sendersBefore.Count | Should -Be 2
        $verifierBefore = Get-LabValue $h1 "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'"
        $out = @($nodes | Set-PgReplicationPassword -Credential $new -Confirm:$false)
        $out.Count | Should -Be 3
        $out.ReplicationCredential.Password | Select-Object -Unique | Should -Be (Get-PlainPassword $new)
        (Get-Senders $h1) | ConvertTo-Json | Should -Be ($sendersBefore | ConvertTo-Json)
        $verifier = Get-LabValue $h1 "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'"
        $verifier | Should -Not -Be $verifierBefore
        $verifier | Should -BeLike 'SCRAM-SHA-256$4096:*'
        foreach ($h in $h2, $h3) {
            Test-PassfileLogin $h $h1 | Should -BeTrue -Because "$($h.Name)'s passfile must hold the new password"
            Invoke-PgLabCommand -LabHost $h -ArgumentList stat, -c, '%a %U', /var/lib/postgresql/.pgpass | Should -Be '600 postgres'
        }
        # And the server's log never saw the statement.
        Invoke-PgLabCommand -LabHost $h1 -ArgumentList sh, -c, 'cat /var/log/postgresql/*.log 2>/dev/null; true' | Should -Not -Match 'SCRAM-SHA-256\$'
    }

    It 'a second run with the same password changes nothing and says so' {
        $before = Get-LabState $lab
        $verbose = $nodes | Set-PgReplicationPassword -Credential $new -Confirm:$false -Verbose 4>&1 | ForEach-Object { "$_" }
        $verbose -join "`n" | Should -Match 'already have the new password; nothing changed'
        Get-LabState $lab | Should -Be $before
    }

    It 'a standby restarted between the passfiles and the verifier is refused once, then streams again when the verifier changes; the other keeps streaming' {
        $sendersBefore = Get-Senders $h1
        $admin = $h1.AdminCredential
        # A transaction that holds pg_authid in SHARE mode (logins still read it): the rotation's ALTER ROLE waits behind
        # it, after the passfiles were written.
        $blocker = [Npgsql.NpgsqlConnection]::new("Host=$($h1.Address);Username=postgres;Password=$($admin.GetNetworkCredential().Password);Database=postgres;Pooling=false")
        $blocker.Open()
        try {
            $cmd = $blocker.CreateCommand(); $cmd.CommandText = 'BEGIN; LOCK TABLE pg_catalog.pg_authid IN SHARE MODE'; $null = $cmd.ExecuteNonQuery()
            $passfileBefore = Invoke-PgLabCommand -LabHost $h2 -ArgumentList sha256sum, /var/lib/postgresql/.pgpass
            $job = Start-ThreadJob -ScriptBlock {
                param($ModulePath, $Nodes, $Credential)
                Import-Module (Join-Path $ModulePath 'PgReplication.psd1')
                $r = @($Nodes | Set-PgReplicationPassword -Credential $Credential -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable e)
                [pscustomobject]@{ Count = $r.Count; Errors = @($e | ForEach-Object { "$($_.FullyQualifiedErrorId): $($_.Exception)" }) }
            } -ArgumentList $env:PGREPLICATION_MODULE, $nodes, $third
            Wait-Condition { (Invoke-PgLabCommand -LabHost $h2 -ArgumentList sha256sum, /var/lib/postgresql/.pgpass) -ne $passfileBefore } -Seconds 30 |
                Should -BeTrue -Because 'the passfiles are written before the verifier'
            # The middle: new passfiles, old verifier. h2 restarts (a crash and a start) and cannot log in yet.
            Stop-PgLabPostgres -LabHost $h2
            Start-PgLabPostgres -LabHost $h2
            Wait-Condition { (Get-LabValue $h2 'SELECT pg_is_in_recovery()') -eq 't' } -Seconds 30 | Should -BeTrue
            Start-Sleep -Seconds 2
            (Get-Senders $h1).ContainsKey($h2.Address) | Should -BeFalse -Because 'its new password does not match the old verifier yet'
            Test-PassfileLogin $h2 $h1 | Should -BeFalse
            $job.State | Should -Be 'Running' -Because 'the rotation waits behind the blocking transaction'
        }
        catch { $failed = $_ }
        finally {
            # The blocker ends whatever happened, so the rotation can finish (or be put back) before the lab goes.
            try { $cmd = $blocker.CreateCommand(); $cmd.CommandText = 'COMMIT'; $null = $cmd.ExecuteNonQuery() }
            catch { Write-Host "The blocking transaction could not be committed: $_ ($($blocker.FullState))" }
            $blocker.Dispose()
        }
        if ($failed) { throw $failed }
        $result = $job | Wait-Job -Timeout 60 | Receive-Job
        $result.Errors | Should -BeNullOrEmpty
        $result.Count | Should -Be 3
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Wait-Streaming $h2 $h1.Address -Seconds 30 | Should -BeTrue -Because 'its WAL receiver retries and the verifier now matches'
        Write-Host ("Restarted standby streaming again {0:0.0} s after the rotation finished" -f $clock.Elapsed.TotalSeconds)
        (Get-Senders $h1)[$h3.Address] | Should -Be $sendersBefore[$h3.Address] -Because 'the standby that was not restarted never reconnected'
        Test-PassfileLogin $h3 $h1 | Should -BeTrue
    }
}
