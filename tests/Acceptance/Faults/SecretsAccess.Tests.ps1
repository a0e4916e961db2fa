# Issue 9, secrets and access: every cmdlet runs once on the lab (setup, checks, a switchover, a promotion after a
# crash, a rejoin with pg_rewind) with -Verbose -Debug, all streams captured, while a sampler reads every process's
# command line on the machine and pg_stat_activity on every host every 50 ms. Then the replication and admin
# passwords are looked for everywhere they must not be, and the access rules are tried from the hosts themselves.
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Secrets and access' -Tag Acceptance, Faults {
    BeforeAll {
        $startedAt = [DateTime]::Now
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Debian -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts       # h3 is not named as a standby anywhere
        $repl = New-ReplicationCredential
        $admin = $h1.AdminCredential
        $secrets = @((Get-PlainPassword $repl), (Get-PlainPassword $admin))
        # Everything the servers do is logged: a password in any statement or connection would be in the log.
        Invoke-PgLabSql -LabHost $h1 -Sql "ALTER SYSTEM SET log_statement = 'all'; ALTER SYSTEM SET log_connections = on; ALTER SYSTEM SET log_replication_commands = on; SELECT pg_reload_conf()" | Out-Null
        $marker = Join-Path $lab.Root 'run-started'
        New-Item -ItemType File $marker | Out-Null

        # Every record of every stream, and the output as the console would show it, of each cmdlet run.
        $streams = [Collections.Generic.List[string]]::new()
        $cmdlets = [Collections.Generic.List[object]]::new()
        function Invoke-Watched([string] $Name, [scriptblock] $Command) {
            $window = [pscustomobject]@{ Name = $Name; Start = [DateTime]::UtcNow; End = $null }
            $cmdlets.Add($window)
            $DebugPreference = 'Continue'; $VerbosePreference = 'Continue'
            try { $records = @(& $Command *>&1) } finally { $window.End = [DateTime]::UtcNow }
            foreach ($r in $records) {
                $streams.Add($(switch ($r) {
                    { $_ -is [System.Management.Automation.ErrorRecord] } { "$_ $($_.Exception) $($_.Exception.InnerException)"; break }
                    { $_ -is [System.Management.Automation.InformationRecord] } { "$($_.MessageData)"; break }
                    { $_ -is [System.Management.Automation.VerboseRecord] -or $_ -is [System.Management.Automation.DebugRecord] -or $_ -is [System.Management.Automation.WarningRecord] } { $_.Message; break }
                    default { ($_ | Format-List * -Force | Out-String) + ($_ | Out-String) }
                }))
            }
            @($records | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] -and $_ -isnot [System.Management.Automation.InformationRecord] -and
                $_ -isnot [System.Management.Automation.VerboseRecord] -and $_ -isnot [System.Management.Automation.DebugRecord] -and $_ -isnot [System.Management.Automation.WarningRecord] })
        }

        $sampler = Start-SecretSampler $secrets $lab $admin
        $clock = [Diagnostics.Stopwatch]::StartNew()
        try {
            $n1 = Invoke-Watched New-PgNode { New-LabNode $lab $h1 -Verbose -Debug }
            $n2 = New-LabNode $lab $h2 -NoConnect
            $null = Invoke-Watched New-PgReplicationUser { $n1 | New-PgReplicationUser -Credential $repl -Verbose -Debug }
            $null = Invoke-Watched Set-PgMasterConfig { $n1 | Set-PgMasterConfig -Standby $h2.Address -Restart -Confirm:$false -Verbose -Debug }
            $n2 = Invoke-Watched Invoke-PgBaseBackup { $n2 | Invoke-PgBaseBackup -Primary $n1 -Confirm:$false -Verbose -Debug }
            $n2 = Invoke-Watched Enable-PgHotStandby { $n2 | Enable-PgHotStandby -Verbose -Debug }
            $null = Invoke-Watched Test-PgReplication { $n1, $n2 | Test-PgReplication -Verbose -Debug }
            $null = Invoke-Watched Get-PgReplicationTopology { Get-PgReplicationTopology $n1, $n2 -Verbose -Debug }
            $null = Invoke-Watched Get-PgConnectionString { Get-PgConnectionString $n1, $n2 -Credential $admin -Verbose -Debug }
            $null = Invoke-Watched Invoke-PgSwitchover { $n2 | Invoke-PgSwitchover -Primary $n1 -Confirm:$false -Verbose -Debug }
            $null = Invoke-Watched Set-PgStandbyUpstream { $n1 | Set-PgStandbyUpstream -Primary $n2 -Confirm:$false -Verbose -Debug }
            Stop-PgLabPostgres -LabHost $h2
            $null = Invoke-Watched Invoke-PgPromotion { $n1 | Invoke-PgPromotion -Confirm:$false -Verbose -Debug }
            $null = Invoke-Watched Restore-PgStandby { $n2 | Restore-PgStandby -Primary $n1 -Confirm:$false -Verbose -Debug }
        }
        finally {
            $sample = Stop-SecretSampler $sampler
            $runSeconds = $clock.Elapsed.TotalSeconds
        }
        $healthy = $n1, $n2 | Test-PgReplication -Quiet

        # A passfile line as psql reads it, written on a host through stdin (never on a command line), for the access tries.
        function Invoke-HostPsql($LabHost, [string] $Conninfo, [string] $Sql, [string] $PassLine) {
            $passfile = "/tmp/pgrepl-access-$([guid]::NewGuid().ToString('N'))"
            Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList sh, -c, 'umask 077; cat > "$1"', sh, $passfile -InputText $PassLine | Out-Null
            try {
                $r = Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList sh, -c, 'psql "$1 passfile=$2 connect_timeout=10" -XAtc "$3" 2>&1; echo "exit=$?"', sh, $Conninfo, $passfile, $Sql
            }
            finally { Invoke-PgLabCommand -LabHost $LabHost -ArgumentList rm, -f, $passfile | Out-Null }
            $r
        }
        function Get-ReplicationPassLine([string] $HostAddress) {
            ($HostAddress, '5432', '*', $repl.UserName, (Get-PlainPassword $repl) | ForEach-Object { $_.Replace('\', '\\').Replace(':', '\:') }) -join ':'
        }
        function Get-ReplicationConninfo([string] $HostAddress, [string] $Extra) { "host=$HostAddress user=$($repl.UserName) $Extra" }
    }
    AfterAll {
        Save-ScenarioResults Secret
        Remove-PgLab -Lab $lab
    }

    It 'the run itself: every cmdlet on the lab (setup, checks, switchover, promotion after a crash, rejoin with pg_rewind) -> each succeeds and the cluster ends healthy' -Tag Secret {
        $cmdlets.Count | Should -Be 12
        $healthy | Should -BeTrue
        Add-ScenarioNote ("{0} cmdlets in {1:0} s: {2}" -f $cmdlets.Count, $runSeconds, ($cmdlets.Name -join ', '))
    }

    It 'the replication and admin passwords in the process table (every process on the machine, sampled every 50 ms during every cmdlet) -> never' -Tag Secret {
        $sample.Samples | Should -BeGreaterThan 50
        Set-ScenarioCount SecretHits @($sample.Hits | Where-Object { $_ -like 'ps:*' }).Count
        # Samples that fell in each cmdlet's run: every cmdlet that lasts longer than a few samples was watched.
        $during = foreach ($c in $cmdlets) {
            $n = @($sample.Times | Where-Object { $_ -ge $c.Start -and $_ -le $c.End }).Count
            if (($c.End - $c.Start).TotalSeconds -gt 0.5) { $n | Should -BeGreaterThan 1 -Because "$($c.Name) ran $(($c.End - $c.Start).TotalSeconds) s" }
            "$($c.Name) $n"
        }
        Add-ScenarioNote ('{0} samples in {1:0} s (one every {2:0} ms); per cmdlet: {3}' -f $sample.Samples, $runSeconds, (1000 * $runSeconds / $sample.Samples), ($during -join ', '))
        @($sample.Hits | Where-Object { $_ -like 'ps:*' }) | Should -BeNullOrEmpty
    }

    It 'the passwords in pg_stat_activity.query of every host (sampled with the process table) -> never' -Tag Secret {
        $sample.Queries | Should -BeGreaterThan 50
        Add-ScenarioNote "$($sample.Queries) reads of pg_stat_activity"
        @($sample.Hits | Where-Object { $_ -like 'pg_stat_activity:*' }) | Should -BeNullOrEmpty
    }

    It 'the passwords in the verbose, debug, warning, error and output streams of every cmdlet (-Verbose -Debug, *>&1) -> never' -Tag Secret {
        $streams.Count | Should -BeGreaterThan 100
        $found = @(foreach ($text in $streams) { foreach ($s in $secrets) { foreach ($spelling in Get-SecretSpellings $s) { if ($text.Contains($spelling)) { $text } } } })
        Add-ScenarioNote "$($streams.Count) records read"
        $found | Should -BeNullOrEmpty
    }

    It 'the passwords in the server logs (log_statement = all, log_connections, log_replication_commands) -> never' -Tag Secret {
        foreach ($h in $h1, $h2) {
            Invoke-PgLabCommand -LabHost $h -ArgumentList test, -s, $h.LogFile | Out-Null
            foreach ($s in $secrets) {
                foreach ($spelling in Get-SecretSpellings $s) {
                    Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'grep -cF -e "$1" "$2" || true', sh, $spelling, $h.LogFile | Should -Be '0'
                }
            }
        }
        Add-ScenarioNote ('{0} log lines read' -f ((Invoke-PgLabCommand -LabHost $h1 -ArgumentList wc, -l, $h1.LogFile) -split ' ')[0])
    }

    It 'the passwords in any file of any host, and in /tmp, but the 0600 passfiles -> only ~/.pgpass (0600, the replication password) on the standbys' -Tag Secret {
        $patterns = @(foreach ($s in $secrets) { Get-SecretSpellings $s })
        $grepArgs = @('-rlF') + @($patterns | ForEach-Object { '-e', $_ })
        # Every host's private folders (its /var/lib/postgresql, /etc/postgresql, logs, home) are under the lab's root;
        # /tmp is the machine's, shared by all hosts: what was written there since the run started (other labs left out).
        $inLab = @(& grep @grepArgs -- $lab.Root 2>$null)
        $inTmp = @(find /tmp -xdev -path /tmp/pglab -prune -o -type f -newer $marker -print0 2>$null | xargs -0 -r grep @grepArgs -- 2>$null)
        $files = @($inLab + $inTmp | Where-Object { $_ } | Sort-Object -Unique)
        Add-ScenarioNote "files holding a password: $(@($files | ForEach-Object { $_.Replace($lab.Root, '<lab>') }) -join ', ')"
        foreach ($f in $files) {
            [IO.Path]::GetFileName($f) | Should -Be '.pgpass' -Because "$f holds a password"
            (stat -c '%a' $f) | Should -Be '600'
        }
        $files.Count | Should -BeGreaterThan 0 -Because 'the standbys keep the replication password in their passfile'
    }

    It 'the passwords in pg_stat_wal_receiver.conninfo and primary_conninfo of every standby -> never: a passfile is named instead' -Tag Secret {
        foreach ($h in $lab.Hosts | Where-Object { (Get-LabValue $_ 'SELECT pg_is_in_recovery()') -eq 't' }) {
            $conninfo = Invoke-PgLabSql -LabHost $h -Sql "SELECT conninfo || ' / ' || current_setting('primary_conninfo') FROM pg_stat_wal_receiver"
            $conninfo | Should -Match 'passfile='
            foreach ($s in $secrets) { foreach ($spelling in Get-SecretSpellings $s) { $conninfo.Contains($spelling) | Should -BeFalse } }
            Add-ScenarioNote "$($h.Name): $conninfo"
        }
    }

    It 'pg_hba.conf of every host after setup, switchover, promotion and rejoin -> no trust line, and the server reads every line without error' -Tag Access {
        foreach ($h in $h1, $h2) {
            Invoke-PgLabSql -LabHost $h -Sql "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust' OR error IS NOT NULL" | Should -Be '0'
            Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c, 'grep -v "^\s*#" "$1" | grep -cw trust || true', sh, $h.HbaFile | Should -Be '0'
        }
    }

    It 'a replication connection from a host not named as a standby, with the right role and password -> refused by pg_hba.conf' -Tag Access {
        $r = Invoke-HostPsql $h3 (Get-ReplicationConninfo $h1.Address 'replication=true dbname=replication') 'IDENTIFY_SYSTEM' (Get-ReplicationPassLine $h1.Address)
        $r | Should -Match 'no pg_hba.conf entry for replication connection'
        $r | Should -Match 'exit=2'
        Add-ScenarioNote (($r -split "`n") | Select-Object -First 1)
    }

    It 'the replication role from the standby''s address -> only what REPLICATION allows: a physical replication connection (IDENTIFY_SYSTEM), no SQL in it, no login to a database, no logical replication connection' -Tag Access {
        $line = Get-ReplicationPassLine $h1.Address
        $identify = Invoke-HostPsql $h2 (Get-ReplicationConninfo $h1.Address 'replication=true dbname=replication') 'IDENTIFY_SYSTEM' $line
        $identify | Should -Match "^$($n1.SystemIdentifier)\|"
        Invoke-HostPsql $h2 (Get-ReplicationConninfo $h1.Address 'replication=true dbname=replication') 'SELECT 1' $line | Should -Match 'cannot execute SQL commands in WAL sender for physical replication'
        Invoke-HostPsql $h2 (Get-ReplicationConninfo $h1.Address 'dbname=postgres') 'SELECT 1' $line | Should -Match 'no pg_hba.conf entry for host .* database "postgres"'
        Invoke-HostPsql $h2 (Get-ReplicationConninfo $h1.Address 'replication=database dbname=postgres') 'IDENTIFY_SYSTEM' $line | Should -Match 'no pg_hba.conf entry'
        Add-ScenarioNote 'IDENTIFY_SYSTEM answered; SELECT in the WAL sender refused; a login to postgres and a logical replication connection refused by pg_hba.conf'
    }

    It 'the replication role where a pre-existing pg_hba.conf line lets any role log in (the lab''s host all all 127.0.0.1) -> a plain role: no superuser, no pg_authid, no server files or programs; replication slots, as REPLICATION allows' -Tag Access {
        Invoke-PgLabSql -LabHost $h1 -Sql "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = '$($repl.UserName)'" | Should -Be 'f|f|f|f|t|t'
        $line = Get-ReplicationPassLine '127.0.0.1'
        $local = Get-ReplicationConninfo '127.0.0.1' 'dbname=postgres'
        foreach ($sql in 'SELECT rolpassword FROM pg_authid', "SELECT pg_read_file('postgresql.auto.conf')", "COPY (SELECT 1) TO PROGRAM 'id'", 'CREATE TABLE mine (x int)', "ALTER SYSTEM SET wal_level = 'minimal'") {
            Invoke-HostPsql $h1 $local $sql $line | Should -Match 'permission denied|must be superuser|exit=[12]' -Because "'$sql' must be refused"
        }
        # What PostgreSQL 15 gives REPLICATION beyond replication connections: the slot functions.
        Invoke-HostPsql $h1 $local "SELECT pg_create_physical_replication_slot('repl_may_do_this'); SELECT pg_drop_replication_slot('repl_may_do_this')" $line | Should -Match 'exit=0'
        Add-ScenarioNote 'pg_authid, pg_read_file, COPY TO PROGRAM, CREATE TABLE in public, ALTER SYSTEM refused; slot functions allowed (REPLICATION)'
    }

    It 'world-writable files after the run (data and config directories, logs, homes of every host, and /tmp) -> none' -Tag Access {
        $inLab = @(find $lab.Root -xdev -perm -o+w ! -type l ! -type s 2>$null)
        $inTmp = @(find /tmp -xdev -path /tmp/pglab -prune -o -newer $marker -perm -o+w ! -type l ! -type s '(' -user postgres -o -user pglabadm ')' -print 2>$null)
        Add-ScenarioNote "$($inLab.Count + $inTmp.Count) found"
        @($inLab + $inTmp | Where-Object { $_ }) | Should -BeNullOrEmpty
    }
}
