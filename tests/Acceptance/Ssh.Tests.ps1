#Requires -Version 7.4
# Nodes reached over SSH with pinned host keys, against the lab (real sshd and PostgreSQL per host).
# Needs root (the lab makes network namespaces) and the built module ($env:PGREPLICATION_MODULE or out/PgReplication).
# As for the lab's own tests: a machine that cannot make a lab fails these with the reason, never skips them.

BeforeAll {
    $modulePath = if ($env:PGREPLICATION_MODULE) { $env:PGREPLICATION_MODULE } else { Join-Path $PSScriptRoot '../../out/PgReplication' }
    Import-Module (Join-Path $modulePath 'PgReplication.psd1') -Force
    # The shell-level tests call Core directly.
    Add-Type -Path (Join-Path $modulePath 'Dependencies/PgReplication.Core.dll')
    Import-Module (Join-Path $PSScriptRoot '../Lab/PgLab.psd1') -Force

    $script:lab = New-PgLab -HostCount 2
    $script:debian = $lab.Hosts[0]
    $script:upstream = $lab.Hosts[1]
    $script:scratch = (New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "pgrepl-ssh-$([guid]::NewGuid().ToString('N'))")).FullName

    function script:New-SshOptions($LabHost, [switch] $Admin, [string] $Fingerprint = $LabHost.HostKeyFingerprint) {
        $o = [PgReplication.Core.Model.SshOptions]::new()
        $o.User = if ($Admin) { $LabHost.AdminUser } else { 'postgres' }
        $o.KeyPath = if ($Admin) { $LabHost.AdminKeyPath } else { $LabHost.PostgresKeyPath }
        $o.Port = $LabHost.SshPort
        $o.HostKeyFingerprint = $Fingerprint
        $o.ConnectTimeout = [timespan]::FromSeconds(5)
        $o
    }

    function script:New-Command([string] $Program, [string[]] $Arguments = @(), [int] $TimeoutSeconds = 30, [string] $RunAs) {
        $c = [PgReplication.Core.Hosts.HostCommand]::new($Program, $Arguments)
        $c.Timeout = [timespan]::FromSeconds($TimeoutSeconds)
        if ($RunAs) { $c.RunAs = $RunAs }
        $c
    }

    # Processes on the host whose command line holds the marker ('[x]yz' so pgrep does not find itself).
    function script:Get-RemoteProcess($LabHost, [string] $Marker) {
        $pattern = '[' + $Marker[0] + ']' + $Marker.Substring(1)
        Invoke-PgLabCommand -LabHost $LabHost -ArgumentList sh, -c, 'pgrep -af "$1" || true', sh, $pattern
    }
}

AfterAll {
    if ($script:lab) { Remove-PgLab -Lab $script:lab }
    if ($script:scratch) { Remove-Item -LiteralPath $script:scratch -Recurse -Force -ErrorAction Ignore }
}

Describe 'New-PgNode over SSH' -Tag 'Acceptance', 'Ssh' {
    It 'discovers a <Layout> host with its pinned host key' -ForEach @(
        @{ Index = 0; Layout = 'Debian'; Control = 'PgCtlCluster' }
        @{ Index = 1; Layout = 'Upstream'; Control = 'PgCtl' }
    ) {
        $h = $lab.Hosts[$Index]
        $h.Layout | Should -Be $Layout
        $node = New-PgNode $h.Address -SshUser postgres -SshKeyPath $h.PostgresKeyPath `
            -SshHostKeyFingerprint $h.HostKeyFingerprint -Credential $h.AdminCredential -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        $node.Role | Should -Be 'Primary'
        $node.Access | Should -Be 'Ssh'
        $node.DataDirectory | Should -Be $h.DataDirectory
        $node.ConfigFile | Should -Be $h.ConfigFile
        $node.HbaFile | Should -Be $h.HbaFile
        $node.Control | Should -Be $Control
        $node.ReachedBy | Should -Be "ssh postgres@$($h.Address):22"
    }

    It 'accepts the key from -KnownHostsPath' {
        $node = New-PgNode $upstream.Address -SshUser postgres -SshKeyPath $upstream.PostgresKeyPath `
            -KnownHostsPath $lab.KnownHostsPath -Credential $upstream.AdminCredential -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        $node.Role | Should -Be 'Primary'
    }

    It 'sends SQL through an SSH tunnel to the host''s loopback with -SshTunnel' {
        $node = New-PgNode $debian.Address -SshUser postgres -SshKeyPath $debian.PostgresKeyPath `
            -SshHostKeyFingerprint $debian.HostKeyFingerprint -SshTunnel -Credential $debian.AdminCredential -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        $node.Role | Should -Be 'Primary'
        $node.DataDirectory | Should -Be $debian.DataDirectory

        # The server sees the tunnel's connection coming from its own loopback.
        $shell = [PgReplication.Core.Hosts.HostShells]::Open($node, [PgReplication.Core.NullOperationLog]::Instance)
        try {
            $via = [PgReplication.Core.Hosts.HostShells]::SqlEndpoint($node, $shell)
            $via.Host | Should -Be '127.0.0.1'
            $session = [PgReplication.Core.Sql.PgSession]::Open($node, $debian.AdminCredential.GetNetworkCredential(), $null, $null, $null, $null, $via)
            try {
                $session.Scalar[string]('SELECT pg_catalog.host(pg_catalog.inet_client_addr())') | Should -Be '127.0.0.1'
            } finally { $session.Dispose() }
        } finally { $shell.Dispose() }
    }

    It 'refuses an unknown host key, naming the host and the key''s fingerprint' {
        $empty = Join-Path $scratch 'empty_known_hosts'
        Set-Content -LiteralPath $empty -Value ''
        $node = New-PgNode $debian.Address -SshUser postgres -SshKeyPath $debian.PostgresKeyPath `
            -KnownHostsPath $empty -Credential $debian.AdminCredential -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.HostKeyRefused,*'
        $errs[0].Exception.Message | Should -BeLike "*$($debian.Address)*"
        $errs[0].Exception.Message | Should -BeLike "*$($debian.HostKeyFingerprint)*"
        $node.Role | Should -Be 'Unreachable'
        (Get-Content -Raw -LiteralPath $empty).Trim() | Should -BeNullOrEmpty
    }

    It 'records a new host key with -AcceptNewHostKey, in a 0600 file ssh can read' {
        $path = Join-Path $scratch 'new/known_hosts'
        $node = New-PgNode $upstream.Address -SshUser postgres -SshKeyPath $upstream.PostgresKeyPath `
            -KnownHostsPath $path -AcceptNewHostKey -Credential $upstream.AdminCredential -ErrorVariable errs -WarningVariable warns
        $errs | Should -BeNullOrEmpty
        $node.Role | Should -Be 'Primary'
        [IO.File]::GetUnixFileMode($path) | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite')
        $found = & ssh-keygen -F $upstream.Address -f $path
        $LASTEXITCODE | Should -Be 0
        ($found -join "`n") | Should -BeLike '*ssh-ed25519*'
        ($warns -join "`n") | Should -BeLike "*$($upstream.HostKeyFingerprint)*"

        # The second time the key is known: nothing more is written.
        $before = Get-Content -Raw -LiteralPath $path
        $null = New-PgNode $upstream.Address -SshUser postgres -SshKeyPath $upstream.PostgresKeyPath `
            -KnownHostsPath $path -Credential $upstream.AdminCredential -ErrorVariable errs2
        $errs2 | Should -BeNullOrEmpty
        Get-Content -Raw -LiteralPath $path | Should -Be $before
    }

    It 'refuses a changed host key (known_hosts or pin), even with -AcceptNewHostKey, naming the host and both fingerprints' {
        $h = $upstream
        $oldKnownHosts = Join-Path $scratch 'before_reset_known_hosts'
        Copy-Item -LiteralPath $lab.KnownHostsPath -Destination $oldKnownHosts
        $old = $h.HostKeyFingerprint
        $new = Reset-PgLabHostKey -LabHost $h
        $new | Should -Not -Be $old

        $node = New-PgNode $h.Address -SshUser postgres -SshKeyPath $h.PostgresKeyPath -KnownHostsPath $oldKnownHosts `
            -AcceptNewHostKey -Credential $h.AdminCredential -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.HostKeyChanged,*'
        $errs[0].CategoryInfo.Category | Should -Be 'SecurityError'
        foreach ($text in $h.Address, $old, $new) { $errs[0].Exception.Message | Should -BeLike "*$text*" }
        $node.Role | Should -Be 'Unreachable'
        # Nothing was recorded over the old key.
        Get-Content -Raw -LiteralPath $oldKnownHosts | Should -Not -BeLike "*$(($new -split ':')[1])*"

        $null = New-PgNode $h.Address -SshUser postgres -SshKeyPath $h.PostgresKeyPath -SshHostKeyFingerprint $old `
            -Credential $h.AdminCredential -ErrorVariable errs3 -ErrorAction SilentlyContinue
        $errs3[0].FullyQualifiedErrorId | Should -BeLike 'PgReplication.HostKeyChanged,*'
        foreach ($text in $h.Address, $old, $new) { $errs3[0].Exception.Message | Should -BeLike "*$text*" }

        # The new pin works.
        $ok = New-PgNode $h.Address -SshUser postgres -SshKeyPath $h.PostgresKeyPath -SshHostKeyFingerprint $new -Credential $h.AdminCredential
        $ok.Role | Should -Be 'Primary'
    }
}

Describe 'SshShell against a lab host' -Tag 'Acceptance', 'Ssh' {
    BeforeAll {
        $script:shell = [PgReplication.Core.Hosts.SshShell]::Connect($debian.Address, (New-SshOptions $debian), $null)
    }
    AfterAll { if ($script:shell) { $script:shell.Dispose() } }

    It 'reports a non-zero exit with its stderr' {
        $r = $shell.Run((New-Command sh '-c', 'echo "no such thing: $1" >&2; exit 7', 'sh', 'widget'))
        $r.ExitCode | Should -Be 7
        $r.Succeeded | Should -BeFalse
        $r.StandardError | Should -Be "no such thing: widget`n"
        $r.Describe() | Should -BeLike "On $($debian.Address), *exited with code 7: no such thing: widget"
    }

    It 'ends a command that outlives its timeout, on the host too' {
        $marker = "pgrepl-$([guid]::NewGuid().ToString('N'))"
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $r = $shell.Run((New-Command sh '-c', 'sleep 120; : "$1"', 'sh', $marker -TimeoutSeconds 2))
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 10
        $r.TimedOut | Should -BeTrue
        $r.Describe() | Should -BeLike '*did not finish within its timeout*'
        Get-RemoteProcess $debian $marker | Should -BeNullOrEmpty
    }

    It 'feeds stdin to the program and writes files through it (HostFiles)' {
        $path = "/var/lib/postgresql/pgrepl-ssh-test-$([guid]::NewGuid().ToString('N')).conf"
        $content = [Text.Encoding]::UTF8.GetBytes("# written over SSH`nkey = 'value'`n")
        [PgReplication.Core.Hosts.HostFiles]::Write($shell, $path, $content, '0600', 'postgres', $null, $null)
        [PgReplication.Core.Hosts.HostFiles]::ReadText($shell, $path, 'postgres', $null) | Should -Be "# written over SSH`nkey = 'value'`n"
        Invoke-PgLabCommand -LabHost $debian -ArgumentList stat, -c, '%a %U', $path | Should -Be '600 postgres'
        [PgReplication.Core.Hosts.HostFiles]::Remove($shell, $path, 'postgres')
    }

    It 'runs commands as postgres through sudo when logged in as the admin user' {
        $admin = [PgReplication.Core.Hosts.SshShell]::Connect($debian.Address, (New-SshOptions $debian -Admin), $null)
        try {
            $admin.CurrentUser | Should -Be $debian.AdminUser
            $admin.Run((New-Command id '-un')).StandardOutput.Trim() | Should -Be $debian.AdminUser
            $r = $admin.Run((New-Command id '-un' -RunAs postgres))
            $r.CommandLine | Should -BeLike 'sudo -n -u postgres -- id -un'
            $r.StandardOutput.Trim() | Should -Be 'postgres'

            # stdin and the timeout both work through sudo.
            $cat = New-Command cat -RunAs postgres
            $cat.StandardInput = [Text.Encoding]::UTF8.GetBytes('through sudo')
            $admin.Run($cat).StandardOutput | Should -Be 'through sudo'

            $marker = "pgrepl-$([guid]::NewGuid().ToString('N'))"
            $t = $admin.Run((New-Command sh '-c', 'sleep 120; : "$1"', 'sh', $marker -TimeoutSeconds 2 -RunAs postgres))
            $t.TimedOut | Should -BeTrue
            Get-RemoteProcess $debian $marker | Should -BeNullOrEmpty
        } finally { $admin.Dispose() }
    }

    It 'gives an error within the timeout, never a hang, when the host is cut off mid-command' {
        $h = $upstream
        $cut = [PgReplication.Core.Hosts.SshShell]::Connect($h.Address, (New-SshOptions $h), $null)
        $marker = "pgrepl-$([guid]::NewGuid().ToString('N'))"
        $labModule = Join-Path $PSScriptRoot '../Lab/PgLab.psd1'
        $job = Start-ThreadJob -ScriptBlock {
            Import-Module $using:labModule
            Start-Sleep -Seconds 1
            Disconnect-PgLabHost -LabHost $using:h
        }
        try {
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $outcome = try { $cut.Run((New-Command sh '-c', 'sleep 120; : "$1"', 'sh', $marker -TimeoutSeconds 4)) } catch { $_.Exception }
            # The 4 s timeout, 2 s for the host to report the end, a little to give up on the channel.
            $what = if ($outcome -is [PgReplication.Core.Hosts.CommandResult]) { $outcome.Describe() } else { $outcome.Message }
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 9 -Because "the outcome was: $what"
            if ($outcome -is [PgReplication.Core.Hosts.CommandResult]) {
                $outcome.TimedOut | Should -BeTrue
                $outcome.Describe() | Should -BeLike "On $($h.Address),*"
            } else {
                $outcome.InnerException ?? $outcome | Should -BeOfType [PgReplication.Core.Hosts.HostCommandException]
                $outcome.Message | Should -BeLike "*$($h.Address)*"
            }
            # Later commands on the dead connection fail fast too, naming the host.
            $watch.Restart()
            $next = try { $cut.Run((New-Command true -TimeoutSeconds 3)) } catch { $_.Exception }
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 9
            if ($next -is [PgReplication.Core.Hosts.CommandResult]) { $next.Succeeded | Should -BeFalse }
        } finally {
            $null = $job | Wait-Job -Timeout 30
            $job | Remove-Job -Force
            $watch.Restart()
            $cut.Dispose()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 7
            Connect-PgLabHost -LabHost $h
        }
        # The host ended the program itself (its 'timeout'), though we could not tell it to.
        Start-Sleep -Seconds 6
        Get-RemoteProcess $h $marker | Should -BeNullOrEmpty
    }

    It 'notices a host cut off during a long command well before the command''s own timeout' {
        $h = $upstream
        $cut = [PgReplication.Core.Hosts.SshShell]::Connect($h.Address, (New-SshOptions $h), $null)
        $labModule = Join-Path $PSScriptRoot '../Lab/PgLab.psd1'
        $job = Start-ThreadJob -ScriptBlock {
            Import-Module $using:labModule
            Start-Sleep -Seconds 2
            Disconnect-PgLabHost -LabHost $using:h
        }
        try {
            $watch = [Diagnostics.Stopwatch]::StartNew()
            # An hour-long timeout, as a base backup has: the liveness check (every 15 s, 5 s to answer) ends it.
            { $cut.Run((New-Command sleep 3000 -TimeoutSeconds 3600)) } | Should -Throw "*$($h.Address)*stopped answering*"
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 40
        } finally {
            $null = $job | Wait-Job -Timeout 30
            $job | Remove-Job -Force
            $cut.Dispose()
            Connect-PgLabHost -LabHost $h
        }
    }

    It 'gives up connecting to a hung host within the connect timeout' {
        $h = $upstream
        Suspend-PgLabHost -LabHost $h
        try {
            $watch = [Diagnostics.Stopwatch]::StartNew()
            { [PgReplication.Core.Hosts.SshShell]::Connect($h.Address, (New-SshOptions $h), $null) } |
                Should -Throw "*$($h.Address)*"
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 15
        } finally { Resume-PgLabHost -LabHost $h }
    }
}
