# Issue 21, point 3: Enable-PgReplicationSsl on real hosts over SSH, a Debian primary with a Debian and an Upstream
# standby: every WAL sender on TLS, keys 0600 owned by postgres, a server certificate for another name refused by a
# standby, and a switchover and a failover that keep TLS; Get-PgConnectionString with verify-full.
BeforeAll {
    . "$PSScriptRoot/Faults/FaultSuite.ps1" -WithModule
    # The CA type, to sign a certificate for another name (the module keeps Core in its own load context).
    Add-Type -Path (Join-Path $env:PGREPLICATION_MODULE 'Dependencies/PgReplication.Core.dll')
    # Every WAL sender of the host, and how many are on TLS: "<on tls>|<all>".
    function Get-TlsSenders($LabHost) { Get-LabValue $LabHost 'SELECT count(*) FILTER (WHERE s.ssl) || ''|'' || count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)' }
    # A standby copied from a Debian primary has the primary's data directory path, whatever its host's layout: the
    # node knows where it is.
    function Get-DataDir($LabHost) { ($nodes | Where-Object ComputerName -EQ $LabHost.Address).DataDirectory }
    function Get-TlsDirs($Lab) {
        foreach ($h in $Lab.Hosts) { Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'd="$1.tls"; [ -d "$d" ] && sha256sum "$d"/*; true', sh, (Get-DataDir $h) | Where-Object { $_ } }
    }
    function Get-Conninfo($LabHost) { Get-LabValue $LabHost "SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'" }
}

Describe 'TLS end to end (Debian primary, Debian and Upstream standbys)' -Tag Acceptance, Tls {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Upstream -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $nodes = Initialize-LabCluster $lab (New-ReplicationCredential)
        $caDir = "$($lab.Root)/ca"
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It '-WhatIf lists the steps and changes nothing: no file, role or slot on any host, no CA here' {
        $before = Get-LabState $lab
        $verbose = $nodes | Enable-PgReplicationSsl -CertificateAuthorityPath $caDir -WhatIf -Verbose 4>&1 | ForEach-Object { "$_" }
        ($verbose | Where-Object { $_ -like 'Planned: *' }).Count | Should -BeGreaterThan 8 -Because ($verbose -join "`n")
        Get-LabState $lab | Should -Be $before
        Get-TlsDirs $lab | Should -BeNullOrEmpty
        Test-Path $caDir | Should -BeFalse
    }

    It 'turns TLS on: every WAL sender on TLS, keys 0600 owned by postgres, standbys on verify-full, replication lines hostssl' {
        $out = @($nodes | Enable-PgReplicationSsl -CertificateAuthorityPath $caDir -Confirm:$false)
        $out.Count | Should -Be 3
        (Get-Item "$caDir/ca.key").UnixFileMode | Should -Be ([IO.UnixFileMode] 'UserRead, UserWrite')
        Wait-Condition { (Get-TlsSenders $h1) -eq '2|2' } -Seconds 30 | Should -BeTrue -Because "pg_stat_ssl: $(Get-TlsSenders $h1)"
        foreach ($h in $lab.Hosts) {
            Invoke-PgLabCommand -LabHost $h -ArgumentList stat, -c, '%a %U', "$(Get-DataDir $h).tls/server.key" | Should -Be '600 postgres'
            Invoke-PgLabSql -LabHost $h -Sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) AND type = 'host'" | Should -Be '0'
            Invoke-PgLabSql -LabHost $h -Sql "SELECT count(*) > 0 FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) AND type = 'hostssl'" | Should -Be 't'
        }
        foreach ($h in $h2, $h3) {
            Get-Conninfo $h | Should -Match "sslmode='?verify-full"
            Get-Conninfo $h | Should -Match ("sslrootcert='?" + [regex]::Escape("$(Get-DataDir $h).tls/root.crt"))
        }
    }

    It 'a second run changes nothing and says so' {
        $before = @(Get-LabState $lab) + @(Get-TlsDirs $lab)
        $verbose = $nodes | Enable-PgReplicationSsl -CertificateAuthorityPath $caDir -Confirm:$false -Verbose 4>&1 | ForEach-Object { "$_" }
        $verbose -join "`n" | Should -Match 'already replicates over TLS'
        @(Get-LabState $lab) + @(Get-TlsDirs $lab) | Should -Be $before
    }

    It 'a standby given a server certificate for another name (signed by the same CA) refuses to connect, and streams again with the right one' {
        $dir = "$(Get-DataDir $h1).tls"
        $ca = [PgReplication.Core.Operations.CertificateAuthority]::LoadOrCreate($caDir, '')
        $csr = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c,
            'umask 077; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1/wrong.key" -subj /CN=x 2>/dev/null', sh, $dir
        $wrong = $ca.Sign($csr + "`n", 'wrong.example', 30)
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c, 'cat > "$1/wrong.crt"', sh, $dir -InputText $wrong | Out-Null
        Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c,
            'cd "$1" && cp -p server.key right.key && cp -p server.crt right.crt && cp -p wrong.key server.key && cp -p wrong.crt server.crt', sh, $dir | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
        try {
            Stop-PgLabPostgres -LabHost $h2; Start-PgLabPostgres -LabHost $h2
            Wait-Condition { (Get-LabValue $h2 'SELECT pg_is_in_recovery()') -eq 't' } -Seconds 30 | Should -BeTrue
            Start-Sleep -Seconds 3
            Get-LabValue $h2 'SELECT count(*) FROM pg_stat_wal_receiver WHERE status = ''streaming''' | Should -Be '0'
            Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'cat /var/log/postgresql/*.log' | Should -Match 'server certificate for "wrong\.example".* does not match host name'
        }
        finally {
            Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList sh, -c, 'cd "$1" && cp -p right.key server.key && cp -p right.crt server.crt && rm -f right.* wrong.*', sh, $dir | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
        }
        Wait-Streaming $h2 $h1.Address -Seconds 30 | Should -BeTrue
        Wait-Condition { (Get-TlsSenders $h1) -eq '2|2' } -Seconds 30 | Should -BeTrue
    }

    It 'Get-PgConnectionString -SslMode verify-full gives a string a client logs in with, over TLS checked against the CA' {
        $s = $nodes | Get-PgConnectionString -Format Npgsql -UserName postgres -SslMode verify-full -SslRootCertificate "$caDir/ca.crt"
        $s.ConnectionString | Should -Match 'SSL Mode=VerifyFull'
        $libpq = $nodes | Get-PgConnectionString -UserName postgres -SslMode verify-full -SslRootCertificate "$caDir/ca.crt"
        $libpq.ConnectionString | Should -Match "sslmode='verify-full' sslrootcert='$([regex]::Escape("$caDir/ca.crt"))'"
        $c = [Npgsql.NpgsqlConnection]::new($s.ConnectionString + ";Password=$($h1.AdminCredential.GetNetworkCredential().Password)")
        try {
            $c.Open()
            $cmd = $c.CreateCommand(); $cmd.CommandText = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
            $cmd.ExecuteScalar() | Should -BeTrue
        } finally { $c.Dispose() }
    }

    It 'a switchover keeps TLS: the new primary''s WAL senders (the old primary and the sibling) are on TLS with verify-full' {
        $new = $nodes[1] | Invoke-PgSwitchover -Primary $nodes[0] -Sibling $nodes[2] -Confirm:$false
        $new.Role | Should -Be 'Primary'
        Wait-Condition { (Get-TlsSenders $h2) -eq '2|2' } -Seconds 60 | Should -BeTrue -Because "pg_stat_ssl on the new primary: $(Get-TlsSenders $h2)"
        foreach ($h in $h1, $h3) { Get-Conninfo $h | Should -Match "sslmode='?verify-full" }
        Invoke-PgLabSql -LabHost $h2 -Sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) AND type = 'host'" | Should -Be '0'
    }

    It 'a failover keeps TLS: after the primary crashes and a standby is promoted, the other streams from it on TLS with verify-full' {
        Stop-PgLabPostgres -LabHost $h2
        $promoted = $nodes[0], $nodes[2] | Invoke-PgPromotion -Confirm:$false
        $promoted.Role | Should -Be 'Primary'
        $newHost = $lab.Hosts | Where-Object Address -EQ $promoted.ComputerName
        $other = @($h1, $h3 | Where-Object Address -NE $promoted.ComputerName)[0]
        Wait-Condition { (Get-TlsSenders $newHost) -eq '1|1' } -Seconds 60 | Should -BeTrue -Because "pg_stat_ssl on the new primary: $(Get-TlsSenders $newHost)"
        Get-Conninfo $other | Should -Match "sslmode='?verify-full"
        Invoke-PgLabSql -LabHost $newHost -Sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) AND type = 'host'" | Should -Be '0'
    }
}

Describe 'A standby added after TLS is on (<Title>)' -Tag Acceptance, Tls -ForEach @(
    @{ Title = 'PostgreSQL 15: Debian primary and standby; new Debian and Upstream hosts'; Major = 15; Layouts = 'Debian', 'Debian', 'Debian', 'Upstream' }
    @{ Title = 'PostgreSQL 11: recovery.conf, the ssl setting in postgresql.auto.conf apart'; Major = 11; Layouts = 'Upstream', 'Upstream', 'Upstream', 'Upstream' }
) {
    BeforeAll {
        # h1 primary and its standby get TLS; h2 and h3 are empty hosts added later.
        $lab = New-PgLab -HostCount 4 -Layout $Layouts -Major $Major -NoCluster 2, 3, 4
        # Before 12 primary_conninfo is in recovery.conf, not a server setting.
        function Get-Conninfo($LabHost) {
            if ($Major -ge 12) { return Get-LabValue $LabHost "SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'" }
            $data = ($new | Where-Object ComputerName -EQ $LabHost.Address).DataDirectory
            $line = Invoke-PgLabCommand -LabHost $LabHost -ArgumentList sh, -c, 'grep "^primary_conninfo" "$1/recovery.conf"', sh, $data
            ($line -replace "^primary_conninfo\s*=\s*'(.*)'\s*$", '$1').Replace("''", "'")
        }
        $h1, $hOld, $h2, $h3 = $lab.Hosts
        $cred = New-ReplicationCredential
        $nodes = Initialize-LabCluster $lab $cred -Standbys @($hOld)
        $primary = $nodes[0]
        $caDir = "$($lab.Root)/ca"
        $nodes | Enable-PgReplicationSsl -CertificateAuthorityPath $caDir -Confirm:$false | Out-Null
        $new = @($h2, $h3 | ForEach-Object { New-LabNode $lab $_ -NoConnect })
    }
    AfterAll { Remove-PgLab -Lab $lab }

    It 'Invoke-PgBaseBackup | Enable-PgHotStandby: each new standby starts, verifies the primary with the CA (verify-full) and streams on TLS; ssl is off on it until it has a certificate, said once' {
        Wait-Condition { (Get-TlsSenders $h1) -eq '1|1' } -Seconds 30 | Should -BeTrue
        # The primary admits the role over TLS only: the lines for the new standbys are hostssl too.
        $primary | Set-PgMasterConfig -Standby $new -Confirm:$false | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql "SELECT count(*) FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) AND type = 'host'" | Should -Be '0'
        $warnings = @()
        $built = @($new | Invoke-PgBaseBackup -Primary $primary -Confirm:$false | Enable-PgHotStandby -Credential $cred -WarningVariable +warnings -WarningAction SilentlyContinue)
        $built.Count | Should -Be 2
        Wait-Condition { (Get-TlsSenders $h1) -eq '3|3' } -Seconds 30 | Should -BeTrue -Because "pg_stat_ssl on the primary: $(Get-TlsSenders $h1)"
        foreach ($h in $h2, $h3) {
            $data = ($built | Where-Object ComputerName -EQ $h.Address).DataDirectory
            Wait-Streaming $h $h1.Address | Should -BeTrue
            Get-Conninfo $h | Should -Match "sslmode='?verify-full"
            Get-Conninfo $h | Should -Match ("sslrootcert='?" + [regex]::Escape("$data.tls/root.crt"))
            # The CA certificate on the standby is the admin's ca.crt; no key and no certificate of its own yet.
            "$(Invoke-PgLabCommand -LabHost $h -ArgumentList cat, "$data.tls/root.crt")".Trim() | Should -Be (Get-Content -Raw "$caDir/ca.crt").Trim()
            Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'ls "$1"', sh, "$data.tls" | Should -Be 'root.crt'
            Get-LabValue $h 'SHOW ssl' | Should -Be 'off'
            Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'grep "^ssl " "$1/postgresql.auto.conf"', sh, $data | Should -Be "ssl = 'off'"
        }
        $warnings.Count | Should -Be 2 -Because ($warnings -join "`n")
        "$($warnings[0])" | Should -Match 'Run Enable-PgReplicationSsl with every node'
        # The primary keeps its own ssl on; its WAL senders are on TLS.
        Get-LabValue $h1 'SHOW ssl' | Should -Be 'on'
    }

    It 'a second Enable-PgHotStandby changes nothing and warns no more' {
        $warnings = @()
        $verbose = $new | Enable-PgHotStandby -Primary $primary -Credential $cred -WarningVariable +warnings -Verbose 4>&1 | ForEach-Object { "$_" }
        $warnings.Count | Should -Be 0 -Because ($warnings -join "`n")
        ($verbose -join "`n") | Should -Match 'nothing to change'
    }

    It 'survives a restart: the new standby keeps its own ssl off and streams on TLS again' {
        Stop-PgLabPostgres -LabHost $h2; Start-PgLabPostgres -LabHost $h2
        Wait-Streaming $h2 $h1.Address -Seconds 30 | Should -BeTrue
        Get-LabValue $h2 'SHOW ssl' | Should -Be 'off'
        Wait-Condition { (Get-TlsSenders $h1) -eq '3|3' } -Seconds 30 | Should -BeTrue
    }

    It 'Enable-PgReplicationSsl with every node gives the new standbys their certificates and turns ssl on; clients verify them' {
        @($nodes) + $new | Enable-PgReplicationSsl -CertificateAuthorityPath $caDir -Confirm:$false | Out-Null
        foreach ($h in $h2, $h3) {
            $data = ($new | Where-Object ComputerName -EQ $h.Address).DataDirectory
            Get-LabValue $h 'SHOW ssl' | Should -Be 'on'
            Invoke-PgLabCommand -LabHost $h -ArgumentList stat, -c, '%a %U', "$data.tls/server.key" | Should -Be '600 postgres'
            # A standby alone: a plain Npgsql string with verify-full against the CA (Get-PgConnectionString targets the cluster).
            $c = [Npgsql.NpgsqlConnection]::new("Host=$($h.Address);Port=$($h.PgPort);Username=postgres;Database=postgres;SSL Mode=VerifyFull;" +
                "Root Certificate=$caDir/ca.crt;Password=$($h1.AdminCredential.GetNetworkCredential().Password)")  # the copy has the primary's roles
            try {
                $c.Open()
                $cmd = $c.CreateCommand(); $cmd.CommandText = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
                $cmd.ExecuteScalar() | Should -BeTrue
            } finally { $c.Dispose() }
        }
        Wait-Condition { (Get-TlsSenders $h1) -eq '3|3' } -Seconds 30 | Should -BeTrue
    }
}
