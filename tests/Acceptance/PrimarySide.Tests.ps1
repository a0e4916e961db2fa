#Requires -Version 7.4
# New-PgReplicationUser and Set-PgMasterConfig against the lab: real hosts (network namespaces) with sshd and
# PostgreSQL, in both layouts (Debian pg_ctlcluster, upstream pg_ctl). Host 3 has no cluster: it is the standby
# address that pg_hba.conf lets in; the other primary's address is the one it keeps out.
BeforeDiscovery {
    $script:Layouts = @(@{ Index = 0; Other = 1; Layout = 'Debian' }, @{ Index = 1; Other = 0; Layout = 'Upstream' })
}

BeforeAll {
    $modulePath = if ($env:PGREPLICATION_MODULE) { $env:PGREPLICATION_MODULE } else { Join-Path $PSScriptRoot '../../out/PgReplication' }
    Import-Module (Join-Path $modulePath 'PgReplication.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot '../Lab/PgLab.psd1') -Force
    $script:lab = New-PgLab -HostCount 3 -Layout Debian, Upstream, Debian -NoCluster 3
    $script:standbyHost = $lab.Hosts[2]

    function script:New-LabNode($LabHost) {
        New-PgNode $LabHost.Address -SshUser postgres -SshKeyPath $LabHost.PostgresKeyPath `
            -SshHostKeyFingerprint $LabHost.HostKeyFingerprint -Credential $LabHost.AdminCredential -ErrorAction Stop
    }
    function script:New-Cred([string] $User, [string] $Password) {
        [pscredential]::new($User, (ConvertTo-SecureString $Password -AsPlainText -Force))
    }
    function script:Get-LabHash($LabHost, [string[]] $Path) {
        (Invoke-PgLabCommand -LabHost $LabHost -ArgumentList (@('sha256sum', '--') + $Path))
    }
    function script:Get-ServerLog($LabHost) {
        $path = if ($LabHost.Layout -eq 'Debian') { '/var/log/postgresql/postgresql-15-main.log' } else { "$($LabHost.DataDirectory)/log/pg_ctl.log" }
        Invoke-PgLabCommand -LabHost $LabHost -ArgumentList cat, '--', $path
    }
    # A replication connection (IDENTIFY_SYSTEM) from a lab host's own address, with psql; the password
    # travels in a 0600 passfile written through stdin. Returns exit code and output.
    function script:Test-ReplicationLogin($From, $To, [string] $User, [string] $Password) {
        $passFile = "/tmp/pgrepl-accept-$([guid]::NewGuid().ToString('N'))"
        $escape = { param($s) $s.Replace('\', '\\').Replace(':', '\:') }
        Invoke-PgLabCommand -LabHost $From -User postgres -ArgumentList sh, -c, 'umask 077; cat > "$1"', sh, $passFile `
            -InputText ("*:*:*:{0}:{1}`n" -f (& $escape $User), (& $escape $Password)) | Out-Null
        try {
            $conninfo = "host=$($To.Address) port=$($To.PgPort) user='$($User.Replace('\', '\\').Replace("'", "\'"))' dbname=postgres replication=true passfile=$passFile connect_timeout=5"
            $out = Invoke-PgLabCommand -LabHost $From -User postgres -ArgumentList sh, -c, 'psql -X -At -w "$1" -c IDENTIFY_SYSTEM 2>&1; echo "exit=$?"', sh, $conninfo
            [pscustomobject]@{ Succeeded = $out -match 'exit=0$'; Output = $out }
        }
        finally { Invoke-PgLabCommand -LabHost $From -ArgumentList rm, -f, '--', $passFile | Out-Null }
    }
}

AfterAll {
    if ($script:lab) { Remove-PgLab -Lab $script:lab }
}

Describe 'New-PgReplicationUser on a <Layout> primary' -Tag Acceptance, Primary -ForEach $Layouts {
    BeforeAll {
        $h = $lab.Hosts[$Index]
        $node = New-LabNode $h
    }

    It 'creates a LOGIN REPLICATION role, not superuser, with a SCRAM verifier, and passes the credential on' {
        $out = $node | New-PgReplicationUser -Credential (New-Cred 'repl_plain' 'Plain-1') -ConnectionLimit 4 -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        $out.ReplicationCredential.UserName | Should -Be 'repl_plain'
        Invoke-PgLabSql -LabHost $h "SELECT rolcanlogin, rolreplication, rolsuper, rolconnlimit, left(rolpassword, 19) FROM pg_catalog.pg_authid WHERE rolname = 'repl_plain'" |
            Should -Be 't|t|f|4|SCRAM-SHA-256$4096:'
    }

    It 'changes nothing on a second run, and says so' {
        $before = Invoke-PgLabSql -LabHost $h "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = 'repl_plain'"
        $verbose = $node | New-PgReplicationUser -Credential (New-Cred 'repl_plain' 'Plain-1') -ConnectionLimit 4 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'nothing changed'
        Invoke-PgLabSql -LabHost $h "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = 'repl_plain'" | Should -Be $before
    }

    It 'takes a role name with a quote and a space and a password with quotes, backslashes, $ and unicode, which never reach the log' {
        Invoke-PgLabSql -LabHost $h "ALTER SYSTEM SET log_statement = 'all'; SELECT pg_catalog.pg_reload_conf();" | Out-Null
        try {
            Start-Sleep -Milliseconds 500
            $role = "rep 'l"
            $password = "Acc'ept`"\\ `$x `u{2168} caf`u{e9}-$Index"
            $null = $node | New-PgReplicationUser -Credential (New-Cred $role $password) -Force -ErrorVariable errs
            $errs | Should -BeNullOrEmpty
            $log = Get-ServerLog $h
            $log | Should -Match 'SET LOCAL log_statement'
            $log | Should -Not -Match 'SCRAM-SHA-256\$'
            $log.Contains("Acc'ept") | Should -BeFalse
            (Invoke-PgLabSql -LabHost $h 'SELECT pg_catalog.string_agg(query, E''\n'') FROM pg_catalog.pg_stat_activity') | Should -Not -Match 'SCRAM-SHA-256|Acc'
        }
        finally {
            Invoke-PgLabSql -LabHost $h 'ALTER SYSTEM RESET log_statement; SELECT pg_catalog.pg_reload_conf();' | Out-Null
        }
    }
}

Describe 'Set-PgMasterConfig on a <Layout> primary' -Tag Acceptance, Primary -ForEach $Layouts {
    BeforeAll {
        $h = $lab.Hosts[$Index]
        $other = $lab.Hosts[$Other]
        $node = New-LabNode $h
        $role = 'repl "q" x'
        $password = "R'e\\p`$l-`u{fc}-$Index"
        $cred = New-Cred $role $password
        $files = @($h.HbaFile, "$($h.DataDirectory)/postgresql.auto.conf")
    }

    It 'adds exactly one hba line for the standby, which can then replicate while another address cannot' {
        $out = $node | New-PgReplicationUser -Credential $cred -Force | Set-PgMasterConfig -Standby $standbyHost.Address -Restart -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        $out.Name | Should -Be $node.Name
        $hba = Invoke-PgLabCommand -LabHost $h -ArgumentList cat, '--', $h.HbaFile
        @($hba -split "`n" | Where-Object { $_ -match "^host\s+replication\s.*$([regex]::Escape($standbyHost.Address))/32\s+scram-sha-256" }) | Should -HaveCount 1
        Invoke-PgLabSql -LabHost $h 'SELECT count(*) FROM pg_catalog.pg_settings WHERE pending_restart' | Should -Be '0'
        (Test-ReplicationLogin -From $standbyHost -To $h -User $role -Password $password).Succeeded | Should -BeTrue
        $refused = Test-ReplicationLogin -From $other -To $h -User $role -Password $password
        $refused.Succeeded | Should -BeFalse
        $refused.Output | Should -Match 'no pg_hba.conf entry'
    }

    It 'changes nothing on a second run' {
        $before = Get-LabHash $h $files
        $verbose = $node | Set-PgMasterConfig -Standby $standbyHost.Address -ReplicationUser $role -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'nothing to change'
        Get-LabHash $h $files | Should -Be $before
    }

    It '-WhatIf changes no file' {
        $before = Get-LabHash $h $files
        $node | Set-PgMasterConfig -Standby 10.255.0.9 -ReplicationUser $role -WalKeepSize 8192 -WhatIf | Should -BeNullOrEmpty
        Get-LabHash $h $files | Should -Be $before
    }

    It 'refuses a value with a newline, naming it, and changes no file' {
        $before = Get-LabHash $h $files
        $node | Set-PgMasterConfig -Standby $standbyHost.Address -ReplicationUser $role -WalArchive "cp %p /tmp/x`nrm -rf /" -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs | Should -HaveCount 1
        $errs[0].Exception.Message | Should -Match 'line break'
        Get-LabHash $h $files | Should -Be $before
    }

    It 'puts back a pg_hba.conf the server rejects, and the server keeps serving' {
        # hostssl with ssl off: our own parse accepts the line, the server's pg_hba_file_rules reports it.
        Invoke-PgLabSql -LabHost $h "ALTER SYSTEM SET ssl = off; SELECT pg_catalog.pg_reload_conf();" | Out-Null
        try {
            Start-Sleep -Milliseconds 500
            $before = Get-LabHash $h $h.HbaFile
            $node | Set-PgMasterConfig -Standby $standbyHost.Address -ReplicationUser $role -RequireSsl -ErrorVariable errs -ErrorAction SilentlyContinue
            $errs | Should -HaveCount 1
            $errs[0].Exception.Message | Should -Match 'put back'
            Get-LabHash $h $h.HbaFile | Should -Be $before
            Invoke-PgLabSql -LabHost $h 'SELECT 1' | Should -Be '1'
        }
        finally {
            Invoke-PgLabSql -LabHost $h 'ALTER SYSTEM RESET ssl; SELECT pg_catalog.pg_reload_conf();' | Out-Null
        }
    }

    It 'archives WAL to a directory and fails loudly when it is unwritable' {
        $archive = "/var/lib/postgresql/pgrepl-archive-$Index"
        $null = $node | Set-PgMasterConfig -Standby $standbyHost.Address -ReplicationUser $role -WalArchive $archive -Restart -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        Invoke-PgLabCommand -LabHost $h -ArgumentList stat, -c, '%U %a', '--', $archive | Should -Be 'postgres 700'
        $wal = Invoke-PgLabSql -LabHost $h 'CREATE TABLE IF NOT EXISTS archive_probe (x int); INSERT INTO archive_probe VALUES (1); SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal());'
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        $arrived = { Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'test -f "$1" && echo yes || echo no', sh, "$archive/$wal" }
        while ((& $arrived) -ne 'yes' -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 300 }
        & $arrived | Should -Be 'yes'
        Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'ls -A "$1" | grep -c "\.part$" || true', sh, $archive | Should -Be '0'
        Invoke-PgLabSql -LabHost $h 'SELECT failed_count FROM pg_catalog.pg_stat_archiver' | Should -Be '0'

        Invoke-PgLabCommand -LabHost $h -ArgumentList chmod, 0500, '--', $archive | Out-Null
        try {
            $null = Invoke-PgLabSql -LabHost $h 'INSERT INTO archive_probe VALUES (2); SELECT pg_catalog.pg_switch_wal();'
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([int](Invoke-PgLabSql -LabHost $h 'SELECT failed_count FROM pg_catalog.pg_stat_archiver') -eq 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 300 }
            [int](Invoke-PgLabSql -LabHost $h 'SELECT failed_count FROM pg_catalog.pg_stat_archiver') | Should -BeGreaterThan 0
        }
        finally {
            Invoke-PgLabCommand -LabHost $h -ArgumentList chmod, 0700, '--', $archive | Out-Null
        }
    }
}
