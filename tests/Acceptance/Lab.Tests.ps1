# The lab itself: real hosts (network namespaces) with their own sshd and PostgreSQL 15.
# Needs root and 'ip netns'. A machine that cannot make a lab fails these tests with the reason (New-PgLab
# says it): they never pass or skip silently. build.ps1 -SkipLab leaves them out (tag Acceptance).

BeforeAll {
    Import-Module "$PSScriptRoot/../Lab/PgLab.psd1" -Force

    # The system ssh client, pinned to the lab's known_hosts: a wrong host key fails the login.
    function Invoke-LabSsh {
        param($LabHost, [string] $User, [string] $KeyPath, [string] $KnownHosts, [string] $Remote, [int] $ConnectTimeout = 5)
        $out = & ssh -i $KeyPath -o IdentitiesOnly=yes -o "UserKnownHostsFile=$KnownHosts" -o StrictHostKeyChecking=yes `
            -o BatchMode=yes -o "ConnectTimeout=$ConnectTimeout" -o LogLevel=ERROR -p $LabHost.SshPort "$User@$($LabHost.Address)" $Remote 2>&1
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | ForEach-Object { "$_" }) -join "`n" }
    }

    # A killed process may linger as a zombie until PID 1 reaps it: that counts as gone.
    function Test-ProcessGone([int] $ProcessId) {
        $stat = Get-Content -Raw "/proc/$ProcessId/stat" -ErrorAction Ignore
        (-not $stat) -or ($stat.Substring($stat.LastIndexOf(')') + 2)[0] -eq 'Z')
    }

    # pg_isready from the root namespace, over TCP to the host's address.
    function Test-PgReady($LabHost, [int] $Timeout = 3) {
        $null = & pg_isready -h $LabHost.Address -p $LabHost.PgPort -t $Timeout 2>&1
        $LASTEXITCODE -eq 0
    }

    # psql over TCP from the root namespace as role postgres; the password goes in a 0600 passfile.
    function Invoke-TcpSql($LabHost, [string] $Password, [string] $Sql) {
        $passFile = Join-Path ([IO.Path]::GetTempPath()) "pglab-test-$([guid]::NewGuid().ToString('N'))"
        [IO.File]::WriteAllText($passFile, '')
        [IO.File]::SetUnixFileMode($passFile, [IO.UnixFileMode] 'UserRead, UserWrite')
        [IO.File]::WriteAllText($passFile, "$($LabHost.Address):$($LabHost.PgPort):*:postgres:$Password`n")
        try {
            $env:PGPASSFILE = $passFile
            $out = & psql -X -A -t -w -h $LabHost.Address -p $LabHost.PgPort -U postgres -d postgres -c $Sql 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | ForEach-Object { "$_" }) -join "`n" }
        } finally {
            Remove-Item Env:PGPASSFILE -ErrorAction Ignore
            Remove-Item -LiteralPath $passFile -Force
        }
    }
}

Describe 'PgLab: a 3-host lab' -Tag Acceptance, Lab {
    BeforeAll {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $env:PGLAB_TEST_MARKER = 'from-the-test-process'   # must not reach the hosts
        $lab = New-PgLab -HostCount 3 -NoCluster 3
        Write-Host "New-PgLab -HostCount 3 -NoCluster 3 took $([Math]::Round($clock.Elapsed.TotalSeconds, 1)) s"
        $h1, $h2, $h3 = $lab.Hosts
    }
    AfterAll {
        Remove-Item Env:PGLAB_TEST_MARKER -ErrorAction Ignore
        if ($lab) { Remove-PgLab -Lab $lab }
    }

    Context 'the lab object' {
        It 'has the documented properties' {
            $lab.Id | Should -Match '^pl[0-9a-f]{6}$'
            $lab.Root | Should -Exist
            $lab.KnownHostsPath | Should -Exist
            $lab.Subnet | Should -Match '^10\.\d+\.\d+\.0/24$'
            $lab.Hosts | Should -HaveCount 3
            ($lab.Hosts.Name | Sort-Object -Unique) | Should -HaveCount 3
            foreach ($h in $lab.Hosts) {
                foreach ($p in 'Name', 'Index', 'Namespace', 'Address', 'SshPort', 'PgPort', 'Layout', 'Major', 'DataDirectory', 'ConfigFile', 'HbaFile',
                    'BinDirectory', 'ClusterName', 'HasCluster', 'HostKeyFingerprint', 'HostKeyPath', 'PostgresKeyPath', 'AdminUser',
                    'AdminKeyPath', 'AdminCredential', 'AnchorPid') {
                    $h.PSObject.Properties.Name | Should -Contain $p
                }
                $h.Name | Should -Be "$($lab.Id)-h$($h.Index)"
                $h.PgPort | Should -Be 5432
                $h.SshPort | Should -Be 22
                $h.HostKeyFingerprint | Should -Match '^SHA256:[A-Za-z0-9+/]{43}$'
                $h.AdminUser | Should -Not -Be 'postgres'
                $h.AdminCredential.UserName | Should -Be 'postgres'
                $h.AdminCredential.GetNetworkCredential().Password.Length | Should -BeGreaterOrEqual 20
            }
        }

        It 'uses the default layouts and -NoCluster' {
            $lab.Hosts.Layout | Should -Be @('Debian', 'Upstream', 'Debian')
            $lab.Hosts.Major | Should -Be @(15, 15, 15)
            $lab.Hosts.HasCluster | Should -Be @($true, $true, $false)
            $h1.DataDirectory | Should -Be '/var/lib/postgresql/15/main'
            $h1.ConfigFile | Should -Be '/etc/postgresql/15/main/postgresql.conf'
            $h1.ClusterName | Should -Be 'main'
            $h2.DataDirectory | Should -Be '/var/lib/postgresql/15/data'
            $h2.ConfigFile | Should -Be '/var/lib/postgresql/15/data/postgresql.conf'
            $h2.HbaFile | Should -Be '/var/lib/postgresql/15/data/pg_hba.conf'
            $h3.DataDirectory | Should -Be '/var/lib/postgresql/15/main'   # what the layout would use
        }

        It 'keeps private keys readable by the owner only' {
            foreach ($key in @($lab.Hosts.HostKeyPath) + $h1.PostgresKeyPath + $h1.AdminKeyPath) {
                [IO.File]::GetUnixFileMode($key) | Should -Be ([IO.UnixFileMode] 'UserRead, UserWrite') -Because $key
            }
        }

        It 'puts every host and the root namespace on the lab bridge, in the lab subnet' {
            $prefix = $lab.Subnet -replace '\.0/24$', '.'
            (& ip -4 -o addr show dev $lab.Bridge) -join "`n" | Should -Match ([regex]::Escape("$($lab.RootAddress)/24"))
            foreach ($h in $lab.Hosts) {
                $h.Address | Should -BeLike "$prefix*"
                Invoke-PgLabCommand -LabHost $h -ArgumentList ip, -4, -o, addr, show, dev, eth0 | Should -Match ([regex]::Escape("$($h.Address)/24"))
                # No default route: a host reaches only the lab subnet.
                Invoke-PgLabCommand -LabHost $h -ArgumentList ip, -4, route, show, default | Should -BeNullOrEmpty
            }
        }
    }

    Context 'PostgreSQL on each host' {
        It 'runs the cluster its layout says (Invoke-PgLabSql)' {
            foreach ($h in $h1, $h2) {
                $row = Invoke-PgLabSql -LabHost $h -Sql "SELECT pg_catalog.current_setting('data_directory'), pg_catalog.current_setting('config_file'), pg_catalog.current_setting('hba_file'), pg_catalog.current_setting('server_version_num')::int / 10000"
                $row | Should -Be "$($h.DataDirectory)|$($h.ConfigFile)|$($h.HbaFile)|15"
            }
        }

        It 'answers over TCP on the host address from the root namespace' {
            Test-PgReady $h1 | Should -BeTrue
            Test-PgReady $h2 | Should -BeTrue
            Test-PgReady $h3 1 | Should -BeFalse   # no cluster there
        }

        It 'takes role postgres from the lab subnet with its password (SCRAM), never without' {
            $ok = Invoke-TcpSql $h1 $h1.AdminCredential.GetNetworkCredential().Password 'SELECT current_user'
            $ok.Output | Should -Be 'postgres'
            $bad = Invoke-TcpSql $h2 'not-the-password' 'SELECT 1'
            $bad.ExitCode | Should -Not -Be 0
            $bad.Output | Should -Match 'password authentication failed'
            foreach ($h in $h1, $h2) {
                Invoke-PgLabSql -LabHost $h -Sql "SELECT pg_catalog.count(*) FROM pg_catalog.pg_hba_file_rules WHERE auth_method = 'trust'" | Should -Be '0'
                Invoke-PgLabSql -LabHost $h -Sql "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_catalog.pg_authid WHERE rolname = 'postgres'" | Should -Be 't'
            }
        }

        It 'has no cluster and no data directory on the -NoCluster host' {
            Invoke-PgLabCommand -LabHost $h3 -ArgumentList sh, -c, "test ! -e $($h3.DataDirectory) && echo absent" | Should -Be 'absent'
            Test-PgLabPostgres -LabHost $h3 | Should -BeFalse
        }

        It 'listens only on the host address and loopback' {
            foreach ($h in $lab.Hosts) {
                $locals = (Invoke-PgLabCommand -LabHost $h -ArgumentList ss, -H, -l, -t, -u, -n) -split "`n" |
                    ForEach-Object { (($_.Trim() -split '\s+')[4]) -replace ':[^:]+$', '' } | Sort-Object -Unique
                foreach ($a in $locals) { $a | Should -BeIn @($h.Address, '127.0.0.1') -Because "$($h.Name) listens on $a" }
            }
        }
    }

    Context 'SSH on each host' {
        It 'offers the host key it reports' {
            foreach ($h in $lab.Hosts) {
                $scan = & ssh-keyscan -T 5 -t ed25519 $h.Address 2>$null
                $scan | Should -Not -BeNullOrEmpty
                $fp = (($scan | & ssh-keygen -l -f -) -split '\s+')[1]
                $fp | Should -Be $h.HostKeyFingerprint
            }
            ($lab.Hosts.HostKeyFingerprint | Sort-Object -Unique) | Should -HaveCount 3
        }

        It 'lets postgres log in with its key, checked against the lab known_hosts' {
            foreach ($h in $lab.Hosts) {
                $r = Invoke-LabSsh $h postgres $h.PostgresKeyPath $lab.KnownHostsPath 'id -un; echo $HOME'
                $r.ExitCode | Should -Be 0 -Because $r.Output
                $r.Output | Should -Be "postgres`n/var/lib/postgresql"
            }
        }

        It 'lets the admin user log in and become postgres with sudo -n' {
            foreach ($h in $lab.Hosts) {
                $r = Invoke-LabSsh $h $h.AdminUser $h.AdminKeyPath $lab.KnownHostsPath 'id -un; sudo -n -u postgres id -un'
                $r.ExitCode | Should -Be 0 -Because $r.Output
                $r.Output | Should -Be "$($h.AdminUser)`npostgres"
            }
        }

        It 'refuses a key it does not know' {
            $r = Invoke-LabSsh $h1 postgres $h1.AdminKeyPath $lab.KnownHostsPath 'id'
            $r.ExitCode | Should -Not -Be 0
        }

        It 'shows each host its own /etc/postgresql and home at the same paths' {
            foreach ($h in $lab.Hosts) {
                Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList sh, -c, "echo $($h.Name) > /etc/postgresql/pglab-marker"
            }
            foreach ($h in $lab.Hosts) {
                $r = Invoke-LabSsh $h postgres $h.PostgresKeyPath $lab.KnownHostsPath 'cat /etc/postgresql/pglab-marker; ls /etc/postgresql/15 2>/dev/null | wc -l'
                $expectedDirs = if ($h.Layout -eq 'Debian' -and $h.HasCluster) { 1 } else { 0 }
                $r.Output | Should -Be "$($h.Name)`n$expectedDirs"
            }
            Test-Path '/etc/postgresql/pglab-marker' | Should -BeFalse -Because 'the root namespace keeps its own /etc/postgresql'
        }

        It 'lets postgres on one host reach another as postgres (a fleet with a shared key)' {
            $out = Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList ssh, -o, BatchMode=yes, -o, StrictHostKeyChecking=yes, $h3.Address, 'cat /etc/postgresql/pglab-marker'
            $out | Should -Be $h3.Name
        }
    }

    Context 'environment' {
        It 'gives the hosts nothing of the test process environment' {
            $pmPid = (Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList head, -n, 1, "$($h1.DataDirectory)/postmaster.pid").Trim()
            $environ = [IO.File]::ReadAllText("/proc/$pmPid/environ")
            $environ | Should -Not -BeNullOrEmpty
            $environ | Should -Not -Match 'PGLAB_TEST_MARKER'
            { Invoke-PgLabCommand -LabHost $h1 -ArgumentList printenv, PGLAB_TEST_MARKER } | Should -Throw
        }
    }

    Context 'helpers' {
        It 'Invoke-PgLabCommand throws with the stderr of a failing program' {
            { Invoke-PgLabCommand -LabHost $h1 -ArgumentList ls, /no/such/path } | Should -Throw -ExpectedMessage '*No such file*'
        }

        It 'Invoke-PgLabSql throws on an SQL error' {
            { Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT * FROM no_such_table' } | Should -Throw -ExpectedMessage '*no_such_table*'
        }

        It 'Test-PgLabSupported says yes here' {
            Test-PgLabSupported | Should -BeExactly $true
            (Test-PgLabSupported -Detailed).Supported | Should -BeTrue
        }
    }

    Context 'fault helpers' {
        It 'Stop-PgLabPostgres kills the postmaster (-9); Start-PgLabPostgres brings it back' {
            foreach ($h in $h1, $h2) {
                $pidLine = Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList head, -n, 1, "$($h.DataDirectory)/postmaster.pid"
                Test-PgLabPostgres -LabHost $h | Should -BeTrue
                Stop-PgLabPostgres -LabHost $h
                Test-PgLabPostgres -LabHost $h | Should -BeFalse
                Test-ProcessGone ([int]$pidLine) | Should -BeTrue
                # A crash leaves postmaster.pid behind.
                Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList head, -n, 1, "$($h.DataDirectory)/postmaster.pid" | Should -Be $pidLine
                Test-PgReady $h 1 | Should -BeFalse
                Start-PgLabPostgres -LabHost $h
                Test-PgLabPostgres -LabHost $h | Should -BeTrue
                Test-PgReady $h | Should -BeTrue
                Invoke-PgLabSql -LabHost $h -Sql 'SELECT 1' | Should -Be '1'
            }
        }

        It 'Stop-PgLabPostgres kills a postmaster outside the lab''s data directory and fails when none runs' {
            # A standby the module built on a host of the other layout lives where the primary's layout put it: the
            # helper once looked only at the lab's DataDirectory, killed nothing there, and a crash test passed without its crash.
            Stop-PgLabPostgres -LabHost $h2
            $elsewhere = '/var/lib/postgresql/elsewhere'
            try {
                Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList "$($h2.BinDirectory)/initdb", -D, $elsewhere, -A, trust, -U, postgres | Out-Null
                Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList "$($h2.BinDirectory)/pg_ctl", -D, $elsewhere, -l, "$elsewhere/server.log",
                    -o, '-p 5499 -c listen_addresses=', -w, start | Out-Null
                Test-PgLabPostgres -LabHost $h2 | Should -BeTrue
                Stop-PgLabPostgres -LabHost $h2
                Test-PgLabPostgres -LabHost $h2 | Should -BeFalse
                { Stop-PgLabPostgres -LabHost $h2 } | Should -Throw '*no postmaster runs*'
            }
            finally {
                Invoke-PgLabCommand -LabHost $h2 -ArgumentList rm, -rf, $elsewhere | Out-Null
                Start-PgLabPostgres -LabHost $h2
            }
            Invoke-PgLabSql -LabHost $h2 -Sql 'SELECT 1' | Should -Be '1'
        }

        It 'Disconnect-PgLabHost makes a host unreachable; Connect-PgLabHost brings it back' {
            Disconnect-PgLabHost -LabHost $h2
            try {
                Test-PgReady $h2 2 | Should -BeFalse
                (Invoke-LabSsh $h2 postgres $h2.PostgresKeyPath $lab.KnownHostsPath 'true' -ConnectTimeout 2).ExitCode | Should -Not -Be 0
                Test-PgReady $h1 | Should -BeTrue -Because 'the other hosts stay reachable'
                Test-PgLabPostgres -LabHost $h2 | Should -BeTrue -Because 'a cut-off host keeps running'
            } finally { Connect-PgLabHost -LabHost $h2 }
            Test-PgReady $h2 | Should -BeTrue
            (Invoke-LabSsh $h2 postgres $h2.PostgresKeyPath $lab.KnownHostsPath 'true').ExitCode | Should -Be 0
        }

        It 'Suspend-PgLabHost freezes a host; Resume-PgLabHost thaws it' {
            Suspend-PgLabHost -LabHost $h1
            try {
                Test-PgReady $h1 2 | Should -BeFalse
                (Invoke-LabSsh $h1 postgres $h1.PostgresKeyPath $lab.KnownHostsPath 'true' -ConnectTimeout 2).ExitCode | Should -Not -Be 0
            } finally { Resume-PgLabHost -LabHost $h1 }
            Test-PgReady $h1 | Should -BeTrue
            (Invoke-LabSsh $h1 postgres $h1.PostgresKeyPath $lab.KnownHostsPath 'true').ExitCode | Should -Be 0
        }

        It 'Reset-PgLabHostKey changes the host key that sshd offers' {
            $old = $h3.HostKeyFingerprint
            $new = Reset-PgLabHostKey -LabHost $h3
            $new | Should -Match '^SHA256:'
            $new | Should -Not -Be $old
            $h3.HostKeyFingerprint | Should -Be $new
            $fp = ((& ssh-keyscan -T 5 -t ed25519 $h3.Address 2>$null | & ssh-keygen -l -f -) -split '\s+')[1]
            $fp | Should -Be $new
            # The lab's known_hosts still has the old key: a pinned client refuses the host.
            $r = Invoke-LabSsh $h3 postgres $h3.PostgresKeyPath $lab.KnownHostsPath 'true'
            $r.ExitCode | Should -Not -Be 0
            $r.Output | Should -Match 'HOST IDENTIFICATION HAS CHANGED|host key .*changed|verification failed'
            # -UpdateKnownHosts puts the new key in the lab's known_hosts.
            $newer = Reset-PgLabHostKey -LabHost $h3 -UpdateKnownHosts
            (Invoke-LabSsh $h3 postgres $h3.PostgresKeyPath $lab.KnownHostsPath 'true').ExitCode | Should -Be 0
            $newer | Should -Not -Be $new
            # ... and so does every host's ~postgres/.ssh/known_hosts.
            Invoke-PgLabCommand -LabHost $h1 -User postgres -ArgumentList ssh, -o, BatchMode=yes, -o, StrictHostKeyChecking=yes, $h3.Address, 'echo ok' | Should -Be 'ok'

        }
    }

    Context 'Remove-PgLab' {
        It 'leaves no namespace, link, process or directory' {
            $namespaces = @($lab.Hosts.Namespace)
            $links = @($lab.Bridge) + @($lab.Hosts.Link)
            $pids = @(foreach ($ns in $namespaces) { (& ip netns pids $ns) -split '\s+' | Where-Object { $_ } | ForEach-Object { [int] $_ } })
            $pids | Should -Contain $h1.AnchorPid
            $pids.Count | Should -BeGreaterThan 6   # anchors, sshd, postgres processes

            Remove-PgLab -Lab $lab

            $left = (& ip netns list) -join "`n"
            foreach ($ns in $namespaces) { $left | Should -Not -Match "\b$([regex]::Escape($ns))\b" }
            foreach ($l in $links) { Test-Path "/sys/class/net/$l" | Should -BeFalse -Because "link $l" }
            foreach ($p in $pids) { Test-ProcessGone $p | Should -BeTrue -Because "process $p" }
            $lab.Root | Should -Not -Exist
            (Get-PgLab).Id | Should -Not -Contain $lab.Id
            # The last lab takes the sudoers drop-in with it (other runs may have labs of their own:
            # a drop-in is a leftover only when no lab exists after we looked at it).
            if (Test-Path '/etc/sudoers.d/pglab') { Get-PgLab | Should -Not -BeNullOrEmpty -Because 'the sudoers drop-in is left with no lab' }
            { Remove-PgLab -Lab $lab } | Should -Not -Throw -Because 'removing twice is harmless'
        }
    }
}

Describe 'PgLab: cleanup after a killed run' -Tag Acceptance, Lab {
    It 'New-PgLab removes a lab whose creating process was killed' {
        # Another PowerShell makes a 1-host lab, then is killed before it can remove it.
        $ready = Join-Path ([IO.Path]::GetTempPath()) "pglab-test-$([guid]::NewGuid().ToString('N'))"
        $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        if ((Split-Path -Leaf ([Environment]::ProcessPath)) -eq 'dotnet') { $psi.ArgumentList.Add([Reflection.Assembly]::GetEntryAssembly().Location) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command',
            "Import-Module '$PSScriptRoot/../Lab/PgLab.psd1'; `$l = New-PgLab -HostCount 1; Set-Content -Path '$ready' -Value `$l.Id; Start-Sleep 300") {
            $psi.ArgumentList.Add($a)
        }
        $psi.RedirectStandardOutput = $true
        $orphanMaker = [Diagnostics.Process]::Start($psi)
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(90)
            while (-not (Test-Path $ready) -and -not $orphanMaker.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
            $ready | Should -Exist -Because 'the other process made its lab'
            $orphanId = (Get-Content $ready).Trim()
            $orphan = Get-PgLab | Where-Object Id -EQ $orphanId
            $orphan.Stale | Should -BeFalse
        } finally {
            $orphanMaker.Kill()
            $orphanMaker.WaitForExit()
            Remove-Item -LiteralPath $ready -Force -ErrorAction Ignore
        }
        (Get-PgLab | Where-Object Id -EQ $orphanId).Stale | Should -BeTrue
        & ip netns pids $orphan.Namespaces[0] | Should -Not -BeNullOrEmpty -Because 'its processes outlive the killed run'

        $next = New-PgLab -HostCount 1
        try {
            Get-PgLab | Where-Object Id -EQ $orphanId | Should -BeNullOrEmpty
            (& ip netns list) -join "`n" | Should -Not -Match ([regex]::Escape($orphan.Namespaces[0]))
            Test-Path "/sys/class/net/$($orphan.Bridge)" | Should -BeFalse
            $orphan.Root | Should -Not -Exist
        } finally { Remove-PgLab -Lab $next }
    }

    It 'refuses bad arguments with a clear message and makes nothing' {
        $before = @(Get-PgLab | Where-Object OwnerPid -EQ $PID).Count
        { New-PgLab -HostCount 2 -Layout Debian } | Should -Throw -ExpectedMessage '*one layout per host*'
        { New-PgLab -HostCount 2 -NoCluster 3 } | Should -Throw -ExpectedMessage '*-NoCluster 3*'
        { New-PgLab -HostCount 9 } | Should -Throw
        { New-PgLab -HostCount 3 -Major 13, 14 } | Should -Throw -ExpectedMessage '*one major, or one per host*'
        { New-PgLab -HostCount 1 -Major 13 -Layout Debian } | Should -Throw -ExpectedMessage "*only 15 is installed*"
        { New-PgLab -HostCount 1 -Major 9 } | Should -Throw
        @(Get-PgLab | Where-Object OwnerPid -EQ $PID).Count | Should -Be $before
    }
}

Describe 'PgLab: hosts of other majors' -Tag Acceptance, Lab {
    BeforeAll {
        $bin = Install-PgLabMajor -Major 12
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $again = Install-PgLabMajor -Major 12
        $cachedSeconds = $clock.Elapsed.TotalSeconds
        $lab = New-PgLab -HostCount 2 -Major 12, 15 -NoCluster 2
        $h1, $h2 = $lab.Hosts
    }
    AfterAll { if ($lab) { Remove-PgLab -Lab $lab } }

    It 'Install-PgLabMajor fetches a major once into the git-ignored cache and returns its bin directory' {
        # The repository's git-ignored cache, or /var/cache/pglab when postgres cannot reach the repository (a 0700 clone).
        $bin | Should -Match '(/\.cache/pg|^/var/cache/pglab)/12/bin$'
        $again | Should -Be $bin
        $cachedSeconds | Should -BeLessThan 5
        & "$bin/postgres" --version | Should -Match '^postgres \(PostgreSQL\) 12\.'
        Test-Path "$bin/../lib/libpq.so.5" | Should -BeTrue   # the version links the package lists
    }

    It 'runs the major of each host, upstream layout for the non-Debian ones' {
        $h1.Major | Should -Be 12
        $h1.Layout | Should -Be 'Upstream'
        $h1.BinDirectory | Should -Be $bin
        $h1.DataDirectory | Should -Be '/var/lib/postgresql/12/data'
        Invoke-PgLabSql -LabHost $h1 -Sql 'SHOW server_version_num' | Should -Match '^12\d{4}$'
        $h2.Major | Should -Be 15
        $h2.BinDirectory | Should -Be '/usr/lib/postgresql/15/bin'
        Invoke-PgLabCommand -LabHost $h2 -ArgumentList 'test', '-d', '/var/lib/postgresql/15' | Out-Null
    }

    It 'stops and starts a server of that major' {
        Stop-PgLabPostgres -LabHost $h1
        Test-PgLabPostgres -LabHost $h1 | Should -BeFalse
        Start-PgLabPostgres -LabHost $h1
        Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT 1' | Should -Be '1'
    }
}
