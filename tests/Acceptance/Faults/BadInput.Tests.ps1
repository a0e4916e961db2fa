# Issue 9, bad input: each value below is refused before anything changes (every config file and passfile of
# both hosts hashed, and the roles and slots listed, before and after), and the odd role names and passwords
# PostgreSQL allows are accepted and work: they log in for replication, and stream.
BeforeDiscovery {
    . "$PSScriptRoot/FaultSuite.ps1"

    $lf = "`n"; $cr = "`r"; $nul = [string] [char] 0
    # What an ssh option would create if anything ran it.
    $pwned = '/tmp/pgrepl-faults-pwned-by-proxycommand'
    $refusals = @(
        # New-PgNode: names and users reach ssh, rsync, sudo and runuser command lines.
        foreach ($c in @(@{ N = 'LF'; V = $lf }, @{ N = 'CR'; V = $cr }, @{ N = 'NUL'; V = $nul })) {
            @{ Case = "New-PgNode -ComputerName with $($c.N)"; Run = { New-PgNode -ComputerName "db1$V" -NoConnect }; V = $c.V }
            @{ Case = "New-PgNode -Database with $($c.N)"; Run = { New-PgNode -ComputerName db1 -Database "postgres$V" -NoConnect }; V = $c.V }
            @{ Case = "New-PgNode -Name with $($c.N)"; Run = { New-PgNode -ComputerName db1 -Name "db1${V}fake log line" -NoConnect }; V = $c.V }
            @{ Case = "New-PgNode -SshUser with $($c.N)"; Run = { New-PgNode -ComputerName db1 -SshUser "postgres$V" -NoConnect }; V = $c.V }
        }
        @{ Case = "New-PgNode -ComputerName '-oProxyCommand=touch`${IFS}$pwned' (an ssh option)"; Run = { New-PgNode -ComputerName "-oProxyCommand=touch`${IFS}$Pwned" -SshUser postgres }; Pwned = $pwned }
        @{ Case = "New-PgNode -ComputerName '-p2222' (starts with '-')"; Run = { New-PgNode -ComputerName '-p2222' -NoConnect } }
        @{ Case = "New-PgNode -ComputerName 'db1;id'"; Run = { New-PgNode -ComputerName 'db1;id' -NoConnect } }
        @{ Case = "New-PgNode -ComputerName 'db`$(id)'"; Run = { New-PgNode -ComputerName 'db$(id)' -NoConnect } }
        @{ Case = 'New-PgNode -ComputerName with a backtick'; Run = { New-PgNode -ComputerName 'db`id`' -NoConnect } }
        @{ Case = "New-PgNode -ComputerName 'db1:0' (port out of range)"; Run = { New-PgNode -ComputerName 'db1:0' -NoConnect } }
        @{ Case = "New-PgNode -ComputerName 'db1:65536' (port out of range)"; Run = { New-PgNode -ComputerName 'db1:65536' -NoConnect } }
        @{ Case = 'New-PgNode -Port 0'; Run = { New-PgNode -ComputerName db1 -Port 0 -NoConnect } }
        @{ Case = 'New-PgNode -Port 65536'; Run = { New-PgNode -ComputerName db1 -Port 65536 -NoConnect } }
        @{ Case = 'New-PgNode -SshPort 70000'; Run = { New-PgNode -ComputerName db1 -SshPort 70000 -NoConnect } }
        @{ Case = "New-PgNode -SshUser '-oProxyCommand=id' (an ssh option)"; Run = { New-PgNode -ComputerName db1 -SshUser '-oProxyCommand=id' -NoConnect } }
        @{ Case = "New-PgNode -OsUser '-x' (starts with '-')"; Run = { New-PgNode -ComputerName db1 -OsUser '-x' -NoConnect } }
        @{ Case = "New-PgNode -OsUser 'postgres;id'"; Run = { New-PgNode -ComputerName db1 -OsUser 'postgres;id' -NoConnect } }

        # New-PgReplicationUser: the role goes into pg_hba.conf and conninfo, the password into passfiles.
        foreach ($c in @(@{ N = 'LF'; V = $lf }, @{ N = 'CR'; V = $cr }, @{ N = 'NUL'; V = $nul })) {
            @{ Case = "New-PgReplicationUser role name with $($c.N)"; Run = { $primary | New-PgReplicationUser -Credential (New-TestCredential "repl${V}x" (New-OddPassword)) }; V = $c.V }
            @{ Case = "New-PgReplicationUser password with $($c.N)"; Run = { $primary | New-PgReplicationUser -Credential (New-TestCredential 'repl2' "pass${V}word") -Force }; V = $c.V }
        }
        @{ Case = 'New-PgReplicationUser role name of 64 bytes'; Run = { $primary | New-PgReplicationUser -Credential (New-TestCredential ('r' * 64) (New-OddPassword)) } }
        @{ Case = 'New-PgReplicationUser role name = the admin role'; Run = { $primary | New-PgReplicationUser -Credential (New-TestCredential 'postgres' (New-OddPassword)) } }

        # Set-PgMasterConfig: values that reach postgresql.auto.conf (ALTER SYSTEM) and pg_hba.conf.
        foreach ($c in @(@{ N = 'LF'; V = $lf }, @{ N = 'CR'; V = $cr }, @{ N = 'NUL'; V = $nul })) {
            @{ Case = "Set-PgMasterConfig -Standby with $($c.N)"; Run = { $primary | Set-PgMasterConfig -Standby "$($h2.Address)$V" -Confirm:$false }; V = $c.V }
            @{ Case = "Set-PgMasterConfig -ReplicationUser with $($c.N)"; Run = { $primary | Set-PgMasterConfig -ReplicationUser "replicator$V" -Standby $h2.Address -Confirm:$false }; V = $c.V }
            @{ Case = "Set-PgMasterConfig -SynchronousStandby with $($c.N)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -SynchronousStandby "s2$V" -Confirm:$false }; V = $c.V }
            @{ Case = "Set-PgMasterConfig -WalArchive with $($c.N)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -WalArchive "/var/lib/postgresql/archive$V" -Confirm:$false }; V = $c.V }
            @{ Case = "Set-PgMasterConfig -ListenAddress with $($c.N)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -ListenAddress "$($h1.Address)$V" -Confirm:$false }; V = $c.V }
        }
        @{ Case = "Set-PgMasterConfig -Standby 'not an address' (does not parse)"; Run = { $primary | Set-PgMasterConfig -Standby 'not an address' -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -Standby '10.0.0.0/33' (no such prefix)"; Run = { $primary | Set-PgMasterConfig -Standby '10.0.0.0/33' -Confirm:$false } }
        # One address per standby: a network wider than one host only with -AllowNetwork, every address there is never.
        @{ Case = "Set-PgMasterConfig -Standby '0.0.0.0/0' -AllowNetwork (every IPv4 address)"; Run = { $primary | Set-PgMasterConfig -Standby '0.0.0.0/0' -AllowNetwork -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -Standby '::/0' -AllowNetwork (every IPv6 address)"; Run = { $primary | Set-PgMasterConfig -Standby '::/0' -AllowNetwork -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -Standby '10.0.0.0/8' (a network, without -AllowNetwork)"; Run = { $primary | Set-PgMasterConfig -Standby '10.0.0.0/8' -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -Standby '-oProxyCommand=id' (resolves to nothing)"; Run = { $primary | Set-PgMasterConfig -Standby '-oProxyCommand=id' -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -WalArchive '/var/lib/postgresql/../../tmp/archive' (..)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -WalArchive '/var/lib/postgresql/../../tmp/archive' -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -WalArchive 'archive' (relative, no %p)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -WalArchive 'archive' -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -ListenAddress 'a b' (a server that cannot parse it does not start)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -ListenAddress 'a b' -Confirm:$false } }
        @{ Case = "Set-PgMasterConfig -ListenAddress `"x', '*`" (quotes)"; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -ListenAddress "x', '*" -Confirm:$false } }
        @{ Case = 'Set-PgMasterConfig -SynchronousCount 3 of 1 name'; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -SynchronousStandby s2 -SynchronousCount 3 -Confirm:$false } }
        @{ Case = 'Set-PgMasterConfig -WalKeepSize 0'; Run = { $primary | Set-PgMasterConfig -Standby $h2.Address -WalKeepSize 0 -Confirm:$false } }

        # Invoke-PgBaseBackup: paths on the standby host (emptied with -Force), the role and password for the passfile.
        foreach ($c in @(@{ N = 'LF'; V = $lf }, @{ N = 'NUL'; V = $nul })) {
            @{ Case = "Invoke-PgBaseBackup -DataDirectory with $($c.N)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -DataDirectory "/var/lib/postgresql/15/spare$V" -Confirm:$false }; V = $c.V }
            @{ Case = "Invoke-PgBaseBackup -BinDirectory with $($c.N)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -BinDirectory "/usr/lib/postgresql/15/bin$V" -DataDirectory $spareDirectory -Confirm:$false }; V = $c.V }
            @{ Case = "Invoke-PgBaseBackup -Credential role name with $($c.N)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -Credential (New-TestCredential "replicator$V" (New-OddPassword)) -DataDirectory $spareDirectory -Confirm:$false }; V = $c.V }
            @{ Case = "Invoke-PgBaseBackup -Credential password with $($c.N)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -Credential (New-TestCredential replicator "pass${V}word") -DataDirectory $spareDirectory -Confirm:$false }; V = $c.V }
        }
        @{ Case = "Invoke-PgBaseBackup -DataDirectory '/var/lib/postgresql/15/../../../etc' (..)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -DataDirectory '/var/lib/postgresql/15/../../../etc' -Force -Confirm:$false } }
        @{ Case = "Invoke-PgBaseBackup -DataDirectory 'data' (relative)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -DataDirectory 'data' -Confirm:$false } }
        @{ Case = "Invoke-PgBaseBackup -BinDirectory '/usr/lib/postgresql/15/../../../../tmp' (..)"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -BinDirectory '/usr/lib/postgresql/15/../../../../tmp' -DataDirectory $spareDirectory -Confirm:$false } }
        @{ Case = "Invoke-PgBaseBackup -SlotName 'Bad-Slot'"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -SlotName 'Bad-Slot' -DataDirectory $spareDirectory -Confirm:$false } }
        @{ Case = "Invoke-PgBaseBackup -SlotName 's;drop'"; Run = { $spare | Invoke-PgBaseBackup -Primary $primary -SlotName 's;drop' -DataDirectory $spareDirectory -Confirm:$false } }

        # Enable-PgHotStandby, Set-PgStandbyUpstream, Restore-PgStandby: recovery settings, passfile, slot.
        foreach ($c in @(@{ N = 'LF'; V = $lf }, @{ N = 'NUL'; V = $nul })) {
            @{ Case = "Enable-PgHotStandby -RestoreCommand with $($c.N)"; Run = { $standby | Enable-PgHotStandby -Primary $primary -RestoreCommand "cp /archive/%f %p$V" }; V = $c.V }
            @{ Case = "Enable-PgHotStandby -ArchiveCleanupCommand with $($c.N)"; Run = { $standby | Enable-PgHotStandby -Primary $primary -ArchiveCleanupCommand "pg_archivecleanup /archive %r$V" }; V = $c.V }
            @{ Case = "Enable-PgHotStandby -Credential password with $($c.N)"; Run = { $standby | Enable-PgHotStandby -Primary $primary -Credential (New-TestCredential replicator "pass${V}word") }; V = $c.V }
            @{ Case = "Set-PgStandbyUpstream -Credential role name with $($c.N)"; Run = { $standby | Set-PgStandbyUpstream -Primary $primary -Credential (New-TestCredential "replicator$V" (New-OddPassword)) -Confirm:$false }; V = $c.V }
        }
        @{ Case = "Enable-PgHotStandby -SlotName 'UPPER'"; Run = { $standby | Enable-PgHotStandby -Primary $primary -SlotName 'UPPER' } }
        @{ Case = "Set-PgStandbyUpstream -SlotName 'a b'"; Run = { $standby | Set-PgStandbyUpstream -Primary $primary -SlotName 'a b' -Confirm:$false } }
        @{ Case = 'Restore-PgStandby -Credential role name with LF'; Run = { $standby | Restore-PgStandby -Primary $primary -Reclone -Credential (New-TestCredential "replicator$V" (New-OddPassword)) -Confirm:$false }; V = $lf }
        @{ Case = 'Invoke-PgPromotion -Name with LF'; Run = { $standby | Invoke-PgPromotion -Name "$($h2.Name)$V" -Force -Confirm:$false }; V = $lf }
        @{ Case = 'Invoke-PgPromotion -OnPromoted 42 (not a scriptblock or command)'; Run = { $standby | Invoke-PgPromotion -OnPromoted 42 -Force -Confirm:$false } }
    )
    $acceptedNames = @(
        @{ Display = 'a double quote'; Name = 'rep"l' }
        @{ Display = 'a quote'; Name = "rep'l" }
        @{ Display = 'a backslash'; Name = 'rep\l' }
        @{ Display = '$(...)'; Name = 'rep$(id)l' }
        @{ Display = 'a backtick'; Name = 'rep`l' }
        @{ Display = 'a semicolon'; Name = 'rep;l' }
        @{ Display = 'unicode'; Name = 'réplicateur_ü' }
        @{ Display = 'a space and capitals'; Name = 'Rep User' }
    )
}

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Bad input' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 2 -Layout Debian, Debian -NoCluster 2
        $h1, $h2 = $lab.Hosts
        $primary, $standby = Initialize-LabCluster $lab (New-ReplicationCredential)
        # Copies that a missing check would really take: into an empty directory of the standby host.
        $spare = New-LabNode $lab $h2 -NoConnect
        $spareDirectory = '/var/lib/postgresql/15/spare'
        # A conninfo value as libpq reads it.
        function ConvertTo-ConninfoValue([string] $Value) { "'" + $Value.Replace('\', '\\').Replace("'", "\'") + "'" }
        # What the hosts hold now; taken again after a case that changed it, so that one failure stays one.
        $state = @{ Baseline = Get-LabState $lab }
    }
    AfterAll {
        Save-ScenarioResults BadInput
        Remove-PgLab -Lab $lab
    }

    It '<Case> -> refused, nothing changed' -ForEach $refusals {
        Assert-RefusedUnchanged $lab $state $Run
        if ($Pwned) { Test-Path $Pwned | Should -BeFalse -Because 'no ssh option may run' }
    }

    It 'role name with <Display> and a password with quotes, backslash, $(...), backtick, ;, : and unicode -> accepted: New-PgReplicationUser and Set-PgMasterConfig make a role that logs in for replication from the standby' -ForEach $acceptedNames {
        $credential = New-TestCredential $Name (New-OddPassword)
        $errors = @(Invoke-Case { $primary | New-PgReplicationUser -Credential $credential | Set-PgMasterConfig -Standby $h2.Address -Confirm:$false })
        $errors | Should -BeNullOrEmpty
        Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL' | Should -Be '0'
        # A replication connection from the standby host with that role, the password in a 0600 passfile (never on a command line).
        $passfile = "/tmp/pgrepl-badinput-$([guid]::NewGuid().ToString('N'))"
        $line = ($h1.Address, '5432', '*', $Name, (Get-PlainPassword $credential) | ForEach-Object { $_.Replace('\', '\\').Replace(':', '\:') }) -join ':'
        Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, 'umask 077; cat > "$1"', sh, $passfile -InputText $line | Out-Null
        try {
            $conninfo = "host=$($h1.Address) user=$(ConvertTo-ConninfoValue $Name) passfile=$passfile replication=true dbname=replication connect_timeout=10"
            $system = Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList psql, $conninfo, -XAtc, IDENTIFY_SYSTEM
        }
        finally { Invoke-PgLabCommand -LabHost $h2 -ArgumentList rm, -f, $passfile | Out-Null }
        ($system -split '\|')[0] | Should -Be "$($primary.SystemIdentifier)"
        Add-ScenarioNote "role '$Name' created, pg_hba.conf line valid, IDENTIFY_SYSTEM from $($h2.Name) answered"
        $state.Baseline = Get-LabState $lab
    }

    It 'the oddest role name and password through the whole pipeline -> Invoke-PgBaseBackup -Force and Enable-PgHotStandby with them give a standby that streams as that role' {
        $credential = New-TestCredential "Rép`"l'i\c`$(id)``;:" (New-OddPassword)
        $built = $primary | New-PgReplicationUser -Credential $credential | Set-PgMasterConfig -Standby $h2.Address -Confirm:$false |
            ForEach-Object { $standby | Invoke-PgBaseBackup -Primary $_ -Force -Confirm:$false | Enable-PgHotStandby }
        $built.Role | Should -Be 'Standby'
        Wait-Streaming $h2 $h1.Address | Should -BeTrue
        Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT usename FROM pg_stat_replication' | Should -Be $credential.UserName
        Add-ScenarioNote "streaming as role '$($credential.UserName)'"
    }
}
