# The benchmark's plumbing: a lab cluster that every contender can drive (PgReplication, the raw commands,
# repmgr), the contenders' commands that are not cmdlets, rounds that alternate the contenders, and the
# probes that time what a command's own return cannot tell (writable, streaming, acknowledged writes).
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
. "$PSScriptRoot/BenchNode.ps1"

$script:PgBin = '/usr/lib/postgresql/15/bin'
$script:Repmgr = '/usr/lib/postgresql/15/bin/repmgr'
# In postgres's home, which each lab host has of its own: repmgr expects the same path on every node.
$script:RepmgrConf = '/var/lib/postgresql/repmgr.conf'
$script:Repmgrd = '/usr/lib/postgresql/15/bin/repmgrd'
$script:RepmgrdLog = '/var/lib/postgresql/repmgrd.log'
$script:RepmgrdPidFile = '/var/lib/postgresql/repmgrd.pid'
$script:PgPass = '/var/lib/postgresql/.pgpass'
$script:RepoRoot = Split-Path -Parent $PSScriptRoot
$script:ModuleManifest = $null

function Initialize-PgBench {
    <# Imports the module under test into this (warm) session and makes Npgsql's types usable by the probes. #>
    param([Parameter(Mandatory)] [string] $ModulePath, [string] $BaselineModulePath)
    $script:ModuleManifest = Join-Path $ModulePath 'PgReplication.psd1'
    # Another build of the module (before a change): each case's cold contender runs once more with it, in the same
    # rounds, so that both builds meet the same load (issue 17: figures before and after, on a shared machine).
    $script:BaselineManifest = if ($BaselineModulePath) { Join-Path (Resolve-Path $BaselineModulePath) 'PgReplication.psd1' } else { $null }
    Import-Module $script:ModuleManifest -Global
    # The bench's own copies in this session's default context (the module keeps its own in a context of its own):
    # Npgsql for the probes, Core for SlotNames.
    Add-Type -Path (Join-Path $ModulePath 'Dependencies/Npgsql.dll')
    Add-Type -Path (Join-Path $ModulePath 'Dependencies/PgReplication.Core.dll')
}

#region secrets, processes, host commands

function New-BenchSecret {
    # Letters and digits only: it goes into SQL literals, passfiles and connection strings without quoting.
    [System.Security.Cryptography.RandomNumberGenerator]::GetString('abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789', 24)
}

function New-BenchCredential([string] $User, [string] $Password) {
    [pscredential]::new($User, (ConvertTo-SecureString $Password -AsPlainText -Force))
}

# A file only its owner can read, from its first byte on.
function Write-PrivateFile([string] $Path, [string] $Content) {
    [IO.File]::WriteAllText($Path, '')
    [IO.File]::SetUnixFileMode($Path, [IO.UnixFileMode] 'UserRead, UserWrite')
    [IO.File]::WriteAllText($Path, $Content)
}

# The first lines of an error, on one line: what a figure shows for a contender that failed.
function Get-BenchErrorText($ErrorRecord) {
    $text = "$($ErrorRecord.Exception.Message)" -replace '\s+', ' '
    if ($text.Length -gt 600) { $text = $text.Substring(0, 600) + ' ...' }
    $text.Trim()
}

function Invoke-BenchProcess {
    <# Runs a program here (no shell), from the repository root; returns stdout; throws with the stderr tail. #>
    param([Parameter(Mandatory)] [string] $FilePath, [string[]] $ArgumentList = @(), [int] $TimeoutSeconds = 300)
    $psi = [Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $true
    $psi.WorkingDirectory = $script:RepoRoot   # dotnet finds the local pwsh tool from here
    $p = [Diagnostics.Process]::Start($psi)
    try {
        $p.StandardInput.Close()
        $out = $p.StandardOutput.ReadToEndAsync()
        $err = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit($TimeoutSeconds * 1000)) {
            $p.Kill($true)
            throw "$FilePath did not finish within $TimeoutSeconds s."
        }
        $p.WaitForExit()
        if ($p.ExitCode -ne 0) {
            $tail = (($err.Result, $out.Result) -join "`n").Trim() -split "`n" | Select-Object -Last 8
            throw "$FilePath $($ArgumentList[0]) exited with $($p.ExitCode): $($tail -join ' | ')"
        }
        $out.Result.TrimEnd()
    }
    finally { $p.Dispose() }
}

# A shell script on a lab host as postgres; values reach it as "$1"..., never as script text.
function Invoke-BenchShell {
    param([Parameter(Mandatory)] $LabHost, [Parameter(Mandatory)] [string] $Script, [string[]] $ArgumentList = @(),
        [string] $InputText, [int] $TimeoutSeconds = 120)
    Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList (@('sh', '-c', $Script, 'sh') + $ArgumentList) `
        -InputText $InputText -TimeoutSeconds $TimeoutSeconds
}

function Invoke-Repmgr {
    param([Parameter(Mandatory)] $LabHost, [Parameter(Mandatory)] [string[]] $ArgumentList, [int] $TimeoutSeconds = 180)
    Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList (@($script:Repmgr, '-f', $script:RepmgrConf) + $ArgumentList) `
        -TimeoutSeconds $TimeoutSeconds
}

function Invoke-ColdPwsh {
    <#
    .SYNOPSIS
        A cold run: a fresh `dotnet pwsh -NoProfile -c`, as a scheduled task starts one, that imports the module
        and runs $Command. The command finds $spec (hosts, passwords from the 0600 spec file), $cred, $repl and
        Get-SpecNode <name> [-NoConnect]. Returns its stdout.
    #>
    param([Parameter(Mandatory)] [string] $Command, [Parameter(Mandatory)] $Cluster, [int] $TimeoutSeconds = 300)
    $prelude = @"
`$ErrorActionPreference = 'Stop'
. '$PSScriptRoot/BenchNode.ps1'
Import-Module '$script:ModuleManifest'
`$spec = Get-Content -Raw '$($Cluster.SpecPath)' | ConvertFrom-Json
`$cred = [pscredential]::new('postgres', (ConvertTo-SecureString `$spec.Password -AsPlainText -Force))
`$repl = [pscredential]::new('replicator', (ConvertTo-SecureString `$spec.ReplicationPassword -AsPlainText -Force))
function Get-SpecNode([string] `$Name, [switch] `$NoConnect) {
    `$spec.Hosts | Where-Object Name -EQ `$Name | New-BenchNode -Credential `$cred -KnownHostsPath `$spec.KnownHostsPath -NoConnect:`$NoConnect
}
"@
    # The error's own message, not pwsh's colored and framed rendering of it.
    $body = "try {`n$Command`n} catch { [Console]::Error.WriteLine(`$_.Exception.Message); exit 1 }"
    Invoke-BenchProcess -FilePath dotnet -ArgumentList @('pwsh', '-NoProfile', '-NonInteractive', '-c', "$prelude`n$body") -TimeoutSeconds $TimeoutSeconds
}

#endregion

#region SQL from the bench (Npgsql over the lab network, as a client would)

function New-BenchConnectionString {
    param([Parameter(Mandatory)] [string[]] $Address, [Parameter(Mandatory)] [string] $Password, [hashtable] $Extra = @{})
    $b = [Npgsql.NpgsqlConnectionStringBuilder]::new()
    $b.Host = $Address -join ','
    $b.Port = 5432
    $b.Username = 'postgres'
    $b.Password = $Password
    $b.Database = 'postgres'
    $b.Pooling = $false
    $b.Timeout = 2
    $b.CommandTimeout = 60
    foreach ($k in $Extra.Keys) { $b[$k] = $Extra[$k] }
    $b.ConnectionString
}

function Invoke-BenchSql([string] $Address, [string] $Password, [string] $Sql) {
    $c = [Npgsql.NpgsqlConnection]::new((New-BenchConnectionString $Address $Password))
    try {
        $c.Open()
        $cmd = $c.CreateCommand()
        $cmd.CommandText = $Sql
        $cmd.ExecuteScalar()
    }
    finally { $c.Dispose() }
}

function Wait-BenchStreaming {
    <# Until the standby at $Address streams from $Sender (pg_stat_wal_receiver), polling every 20 ms. #>
    param([Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [string] $Sender, [Parameter(Mandatory)] [string] $Password,
        [int] $TimeoutSeconds = 120)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $last = 'no answer'
    while ([DateTime]::UtcNow -lt $deadline) {
        try {
            $last = "$(Invoke-BenchSql $Address $Password "SELECT r.status || ' from ' || r.sender_host FROM pg_catalog.pg_stat_wal_receiver r")"
            if ($last -eq "streaming from $Sender") { return }
        }
        catch { $last = Get-BenchErrorText $_ }
        Start-Sleep -Milliseconds 20
    }
    throw "$Address did not stream from $Sender within $TimeoutSeconds s (last seen: $(if ($last) { $last } else { 'no WAL receiver' }))."
}

#endregion

#region the cluster

function New-BenchCluster {
    <#
    .SYNOPSIS
        A lab of $HostCount hosts (all Upstream layout: config in the data directory, pg_ctl), host 1 the primary
        with pgbench data at $Scale, set up for every contender: PgReplication's replication role and primary
        config for all the other hosts; repmgr's role, database and pg_hba lines, a repmgr.conf per host and the
        primary registered, as repmgr's documentation sets it up; passfiles for both roles on every host.
    #>
    param([ValidateRange(2, 8)] [int] $HostCount, [int] $Scale = 1)
    $lab = New-PgLab -HostCount $HostCount -Layout (@('Upstream') * $HostCount) -NoCluster (2..$HostCount)
    try {
        $primaryHost = $lab.Hosts[0]
        # The standbys are copies: the primary's admin role and password are every node's.
        $admin = $primaryHost.AdminCredential
        $cluster = [pscustomobject]@{
            Lab = $lab; Hosts = $lab.Hosts; PrimaryHost = $primaryHost; Admin = $admin
            AdminPassword = $admin.GetNetworkCredential().Password
            Replication = New-BenchCredential 'replicator' (New-BenchSecret)
            RepmgrPassword = New-BenchSecret
            SpecPath = "$($lab.Root)/bench-spec.json"
            PassFile = "$($lab.Root)/bench.pgpass"   # the admin role for psql run by the bench (raw SQL)
            Scale = $Scale
        }
        if ($Scale -gt 0) { Initialize-BenchData $cluster $Scale }
        Invoke-PgLabSql -LabHost $primaryHost -Sql @"
CREATE TABLE bench_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_acked (id int PRIMARY KEY);
CREATE ROLE repmgr SUPERUSER LOGIN PASSWORD '$($cluster.RepmgrPassword)';
CREATE DATABASE repmgr OWNER repmgr;
ALTER ROLE repmgr SET search_path TO repmgr, "`$user", public;
"@ | Out-Null
        Invoke-BenchShell -LabHost $primaryHost -Script 'cat >> "$1"' -ArgumentList $primaryHost.HbaFile `
            -InputText "host replication repmgr $($lab.Subnet) scram-sha-256`nhost repmgr repmgr $($lab.Subnet) scram-sha-256`n" | Out-Null

        $primary = New-BenchNode $primaryHost -Credential $admin -KnownHostsPath $lab.KnownHostsPath
        $standbys = @($lab.Hosts | Select-Object -Skip 1 | New-BenchNode -Credential $admin -KnownHostsPath $lab.KnownHostsPath -NoConnect)
        $primary | New-PgReplicationUser -Credential $cluster.Replication |
            Set-PgMasterConfig -Standby $standbys -Restart -Confirm:$false | Out-Null
        Invoke-PgLabSql -LabHost $primaryHost -Sql 'SELECT pg_catalog.pg_reload_conf()' | Out-Null

        # Both roles for any host: repmgr and the raw commands need them for whichever node is primary.
        $passwords = "*:*:*:repmgr:$($cluster.RepmgrPassword)`n*:*:*:replicator:$($cluster.Replication.GetNetworkCredential().Password)`n"
        foreach ($h in $lab.Hosts) {
            Invoke-BenchShell -LabHost $h -Script 'umask 077; cat > "$1"' -ArgumentList $script:PgPass -InputText $passwords | Out-Null
            Invoke-BenchShell -LabHost $h -Script 'umask 077; cat > "$1"' -ArgumentList $script:RepmgrConf -InputText (Get-RepmgrConf $h) | Out-Null
        }
        Invoke-Repmgr -LabHost $primaryHost -ArgumentList primary, register | Out-Null

        Write-PrivateFile $cluster.PassFile "*:*:*:postgres:$($cluster.AdminPassword)`n"
        Write-PrivateFile $cluster.SpecPath (@{
                KnownHostsPath = $lab.KnownHostsPath; Password = $cluster.AdminPassword
                ReplicationPassword = $cluster.Replication.GetNetworkCredential().Password
                Hosts = @($lab.Hosts | ForEach-Object { @{ Name = $_.Name; Address = $_.Address; PostgresKeyPath = $_.PostgresKeyPath } })
            } | ConvertTo-Json -Depth 4)
        $cluster
    }
    catch { Remove-PgLab -Lab $lab; throw }
}

function Initialize-BenchData {
    <# pgbench tables at $Scale on the primary (about 15 MB a scale unit), checkpointed so no run pays for their flush. #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [int] $Scale)
    $seconds = 120 + 4 * $Scale
    Invoke-PgLabCommand -LabHost $Cluster.PrimaryHost -User postgres -TimeoutSeconds $seconds -ArgumentList "$script:PgBin/pgbench", '-i', '-q',
        '-I', 'dtGvp', '-s', "$Scale", '-h', '/var/run/postgresql', 'postgres' | Out-Null
    Invoke-PgLabSql -LabHost $Cluster.PrimaryHost -Sql 'CHECKPOINT' -TimeoutSeconds $seconds | Out-Null
    $Cluster.Scale = $Scale
}

function Get-BenchDatabaseBytes($Cluster) {
    [long] (Invoke-PgLabSql -LabHost $Cluster.PrimaryHost -Sql "SELECT pg_catalog.pg_database_size('postgres')")
}

function Get-BenchAppName($LabHost) {
    # The application_name (and slot) PgReplication gives a standby: repmgr finds a standby in pg_stat_replication by its node_name.
    [PgReplication.Core.Operations.SlotNames]::FromNodeName($LabHost.Name)
}

function Get-RepmgrConf($LabHost, [Collections.IDictionary] $Daemon) {
    $data = $LabHost.DataDirectory
    $ctl = "$script:PgBin/pg_ctl -D $data"
    $conf = "-f $script:RepmgrConf --log-to-file"
    @(
        "node_id=$($LabHost.Index)"
        "node_name='$(Get-BenchAppName $LabHost)'"
        "conninfo='host=$($LabHost.Address) port=5432 user=repmgr dbname=repmgr connect_timeout=2'"
        "data_directory='$data'"
        "pg_bindir='$script:PgBin'"
        'use_replication_slots=true'
        # repmgr's default pg_ctl start has no -l: the server would log to (and hold open) the SSH session of a switchover.
        "service_start_command='$ctl -l $($LabHost.LogFile) -w -t 60 start'"
        "service_stop_command='$ctl -m fast -w -t 60 stop'"
        "service_restart_command='$ctl -l $($LabHost.LogFile) -m fast -w -t 60 restart'"
        "service_reload_command='$ctl reload'"
        # repmgrd with automatic failover (the AutoFailover case): promote and follow as its documentation shows them.
        if ($Daemon) {
            'failover=automatic'
            "promote_command='$script:Repmgr standby promote $conf'"
            "follow_command='$script:Repmgr standby follow $conf --upstream-node-id=%n'"
            "log_file='$script:RepmgrdLog'"
            "repmgrd_pid_file='$script:RepmgrdPidFile'"
            foreach ($k in $Daemon.Keys) { "$k=$($Daemon[$k])" }
        }
    ) -join "`n"
}

function Enable-BenchRepmgrd {
    <#
    .SYNOPSIS
        What repmgrd needs on a bench cluster before its standbys are built: the repmgr library preloaded on the
        primary (restarted by repmgr's own service command) and every host's repmgr.conf with automatic failover and
        the $Setting timings.
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [Collections.IDictionary] $Setting)
    Invoke-PgLabSql -LabHost $Cluster.PrimaryHost -Sql "ALTER SYSTEM SET shared_preload_libraries = 'repmgr'" | Out-Null
    Invoke-Repmgr -LabHost $Cluster.PrimaryHost -ArgumentList node, service, '--action=restart' | Out-Null
    foreach ($h in $Cluster.Hosts) {
        Invoke-BenchShell -LabHost $h -Script 'umask 077; cat > "$1"' -ArgumentList $script:RepmgrConf -InputText (Get-RepmgrConf $h -Daemon $Setting) | Out-Null
    }
}

function Start-BenchRepmgrd {
    <# repmgrd on a lab host (detached, as postgres, in the host's namespaces), waited for until it monitors its node; returns its PID. #>
    param([Parameter(Mandatory)] $LabHost, [int] $TimeoutSeconds = 60)
    Invoke-BenchShell -LabHost $LabHost -ArgumentList $script:Repmgrd, $script:RepmgrConf, $script:RepmgrdPidFile, $script:RepmgrdLog -Script @'
rm -f "$3"; [ -f "$4" ] && mv -f "$4" "$4.old"
setsid "$1" -f "$2" --daemonize=false --pid-file="$3" </dev/null >/dev/null 2>&1 &
'@ | Out-Null
    # Its first monitoring line: "monitoring cluster primary" on the primary, "monitoring connection to upstream node" on a standby.
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        $seen = Invoke-BenchShell -LabHost $LabHost -ArgumentList $script:RepmgrdLog -Script 'grep -cE "monitoring (cluster primary|connection to upstream node)" "$1" 2>/dev/null; true'
        if ([int] "0$seen".Trim() -gt 0) { break }
        if ([DateTime]::UtcNow -gt $deadline) {
            $tail = Invoke-BenchShell -LabHost $LabHost -ArgumentList $script:RepmgrdLog -Script 'tail -n 5 "$1" 2>/dev/null; true'
            throw "$($LabHost.Name): repmgrd did not start monitoring within $TimeoutSeconds s: $($tail -replace '\s+', ' ')"
        }
        Start-Sleep -Milliseconds 200
    }
    Get-BenchRepmgrdPid $LabHost
}

# The PID in the host's repmgrd PID file when that process is a live repmgrd; $null otherwise.
function Get-BenchRepmgrdPid($LabHost) {
    $text = Invoke-BenchShell -LabHost $LabHost -ArgumentList $script:RepmgrdPidFile -Script 'cat "$1" 2>/dev/null; true'
    $id = 0
    if (-not [int]::TryParse("$text".Trim(), [ref] $id)) { return $null }
    $cmdline = try { [IO.File]::ReadAllText("/proc/$id/cmdline") } catch { '' }
    $stat = try { [IO.File]::ReadAllText("/proc/$id/stat") } catch { '' }
    if ($cmdline -notmatch 'repmgrd' -or -not $stat -or $stat.Substring($stat.LastIndexOf(')') + 2)[0] -in 'Z', 'X') { return $null }
    $id
}

function Stop-BenchRepmgrd {
    <# kill -9 of the host's repmgrd, by the PID in its PID file (a crashed host's is gone already); waits until it has exited. #>
    param([Parameter(Mandatory)] $LabHost)
    $id = Get-BenchRepmgrdPid $LabHost
    if ($null -eq $id) { return }
    [Diagnostics.Process]::GetProcessById($id).Kill()
    Wait-BenchProcessesGone ([pscustomobject]@{ Postmaster = $id; Children = @() })
}

function Reset-BenchCluster {
    <#
    .SYNOPSIS
        The state every failover and switchover run starts from: host 1 the primary (started, or promoted back),
        the $Standby hosts freshly copied from it by the pipeline (Invoke-PgBaseBackup | Enable-PgHotStandby) and
        streaming, all registered with repmgr. Every other host's server is stopped. Returns the nodes.
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [object[]] $Standby)
    $primaryHost = $Cluster.PrimaryHost
    foreach ($h in $Cluster.Hosts | Select-Object -Skip 1) { if (Test-PgLabPostgres -LabHost $h) { Stop-PgLabPostgres -LabHost $h } }
    if (-not (Test-PgLabPostgres -LabHost $primaryHost)) { Start-PgLabPostgres -LabHost $primaryHost }
    if ((Invoke-PgLabSql -LabHost $primaryHost -Sql 'SELECT pg_catalog.pg_is_in_recovery()') -eq 't') {
        # Promoted back, and without the standby settings the last run left (another contender's slot name).
        Invoke-PgLabSql -LabHost $primaryHost -Sql @'
SELECT pg_catalog.pg_promote(true, 60);
ALTER SYSTEM RESET primary_conninfo;
ALTER SYSTEM RESET primary_slot_name;
SELECT pg_catalog.pg_reload_conf();
'@ | Out-Null
    }
    Clear-BenchSlots $Cluster
    $known = $Cluster.Lab.KnownHostsPath
    $primary = New-BenchNode $primaryHost -Credential $Cluster.Admin -KnownHostsPath $known
    $standbys = @($Standby | New-BenchNode -Credential $Cluster.Admin -KnownHostsPath $known -NoConnect |
            Invoke-PgBaseBackup -Primary $primary -Credential $Cluster.Replication -Force -Confirm:$false | Enable-PgHotStandby)
    Register-RepmgrCluster $Cluster $Standby
    [pscustomobject]@{ Primary = $primary; Standbys = $standbys }
}

function Set-BenchRunningStandby {
    <#
    .SYNOPSIS
        Exactly the $Standby hosts run (and stream from host 1); the other standbys are stopped cleanly, so the
        primary's pg_stat_replication shows only those (Test-PgReplication reports every standby it shows).
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] [object[]] $Standby)
    foreach ($h in $Cluster.Hosts | Select-Object -Skip 1) {
        $wanted = $h.Name -in $Standby.Name
        $running = Test-PgLabPostgres -LabHost $h
        if ($running -and -not $wanted) {
            Invoke-PgLabCommand -LabHost $h -User postgres -ArgumentList "$script:PgBin/pg_ctl", '-D', $h.DataDirectory, '-m', 'fast', '-w', '-t', '60', 'stop' | Out-Null
        }
        elseif ($wanted -and -not $running) {
            Start-PgLabPostgres -LabHost $h
            Wait-BenchStreaming -Address $h.Address -Sender $Cluster.PrimaryHost.Address -Password $Cluster.AdminPassword
        }
    }
}

# Drops every replication slot on the primary once no standby uses it (the standbys were just stopped).
function Clear-BenchSlots($Cluster) {
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while ($true) {
        $left = Invoke-PgLabSql -LabHost $Cluster.PrimaryHost -Sql @'
SELECT count(pg_catalog.pg_drop_replication_slot(slot_name)) FROM pg_catalog.pg_replication_slots WHERE NOT active;
SELECT count(*) FROM pg_catalog.pg_replication_slots;
'@
        if (($left -split "`n")[-1] -eq '0') { return }
        if ([DateTime]::UtcNow -gt $deadline) { throw "$($Cluster.PrimaryHost.Name): replication slots still in use 30 s after the standbys stopped." }
        Start-Sleep -Milliseconds 200
    }
}

function Register-RepmgrCluster {
    <# repmgr's view of the cluster: host 1 the primary, $Standby its standbys, no other node (cluster show lists them all). #>
    param([Parameter(Mandatory)] $Cluster, [object[]] $Standby = @())
    $primaryHost = $Cluster.PrimaryHost
    Invoke-Repmgr -LabHost $primaryHost -ArgumentList primary, register, --force | Out-Null
    foreach ($h in $Standby) { Invoke-Repmgr -LabHost $h -ArgumentList standby, register, --force, '--upstream-node-id=1' | Out-Null }
    $keep = @(1) + @($Standby | ForEach-Object Index)
    $others = Invoke-PgLabSql -LabHost $primaryHost -Database repmgr -Sql "SELECT node_id || ' ' || type FROM repmgr.nodes WHERE node_id NOT IN ($($keep -join ','))"
    foreach ($line in @($others -split "`n" | Where-Object { $_ })) {
        $id, $type = $line -split ' '
        Invoke-Repmgr -LabHost $primaryHost -ArgumentList $type, unregister, "--node-id=$id" | Out-Null
    }
}

#endregion

#region the contenders that are not cmdlets

function Get-RawConninfo($Upstream, $Standby) {
    # As PgReplication's pg_basebackup conninfo (keepalives, timeouts), with the standby's passfile and name.
    "host=$($Upstream.Address) port=5432 user=replicator passfile=$script:PgPass application_name=$(Get-BenchAppName $Standby) " +
    'connect_timeout=15 keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3 tcp_user_timeout=15000'
}

function Invoke-RawStandbyBuild {
    <#
    .SYNOPSIS
        The standby built by hand on its host: PgReplication's pg_basebackup command line, with -C -S (slot) and
        -R (standby.signal, primary_conninfo); the host's own listen_addresses (the copy has the primary's); start.
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] $LabHost)
    $script = @'
set -e
start=$(date +%s.%N)
"$1/pg_basebackup" -d "$3" -D "$2" -X stream -c fast --progress --no-password -C -S "$4" -R
echo "copy $start $(date +%s.%N)"
echo "listen_addresses = '$5'" >> "$2/postgresql.auto.conf"
"$1/pg_ctl" -D "$2" -l "$6" -w -t 600 start >/dev/null
'@
    $out = Invoke-BenchShell -LabHost $LabHost -Script $script -TimeoutSeconds 1800 -ArgumentList $script:PgBin, $LabHost.DataDirectory,
        (Get-RawConninfo $Cluster.PrimaryHost $LabHost), (Get-BenchAppName $LabHost), "$($LabHost.Address),127.0.0.1", $LabHost.LogFile
    # The seconds pg_basebackup itself took, to set against the cmdlet's own pg_basebackup step.
    $copy = ($out -split "`n" | Where-Object { $_ -match '^copy ' } | Select-Object -First 1) -split ' '
    [pscustomobject]@{ CopySeconds = [double]::Parse($copy[2], [cultureinfo]::InvariantCulture) - [double]::Parse($copy[1], [cultureinfo]::InvariantCulture) }
}

function Invoke-RepmgrStandbyBuild {
    <# repmgr's documented way: standby clone, the host's listen_addresses (as for the raw commands), start, register. #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] $LabHost)
    $script = @'
set -e
"$1" -f "$2" -h "$3" -U repmgr -d repmgr standby clone --fast-checkpoint
echo "listen_addresses = '$4'" >> "$5/postgresql.auto.conf"
"$1" -f "$2" node service --action=start
"$1" -f "$2" standby register --force
'@
    Invoke-BenchShell -LabHost $LabHost -Script $script -TimeoutSeconds 1800 -ArgumentList $script:Repmgr, $script:RepmgrConf,
        $Cluster.PrimaryHost.Address, "$($LabHost.Address),127.0.0.1", $LabHost.DataDirectory | Out-Null
}

function Invoke-RawFailover {
    <#
    .SYNOPSIS
        What an admin types in psql (from the bench host, over the network): pg_promote() and a slot for the
        sibling on the new primary; on the sibling, primary_conninfo to the new primary by ALTER SYSTEM and a
        reload (enough from PostgreSQL 13: no restart). The sibling keeps its slot name.
    #>
    param([Parameter(Mandatory)] $Cluster, [Parameter(Mandatory)] $NewPrimary, [Parameter(Mandatory)] $Sibling)
    $psql = "$script:PgBin/psql"
    $slot = Get-BenchAppName $Sibling
    $admin = { param($h) @("host=$($h.Address) port=5432 user=postgres dbname=postgres passfile=$($Cluster.PassFile) connect_timeout=5", '-XAtq', '-v', 'ON_ERROR_STOP=1') }
    $promoted = Invoke-BenchProcess -FilePath $psql -ArgumentList ((& $admin $NewPrimary) + @('-c', 'SELECT pg_catalog.pg_promote(true, 60)',
            '-c', "SELECT count(*) FROM pg_catalog.pg_create_physical_replication_slot('$slot', true)"))
    if (($promoted -split "`n")[0] -ne 't') { throw "pg_promote() on $($NewPrimary.Name) returned '$promoted'." }
    $conninfo = "host=$($NewPrimary.Address) port=5432 user=replicator passfile=$script:PgPass application_name=$slot"
    Invoke-BenchProcess -FilePath $psql -ArgumentList ((& $admin $Sibling) + @('-c', "ALTER SYSTEM SET primary_conninfo = '$conninfo'",
            '-c', 'SELECT pg_catalog.pg_reload_conf()')) | Out-Null
}

function Invoke-RepmgrFailover {
    <# repmgr's failover by hand: standby promote on the new primary, then standby follow on the sibling. #>
    param([Parameter(Mandatory)] $NewPrimary, [Parameter(Mandatory)] $Sibling)
    Invoke-Repmgr -LabHost $NewPrimary -ArgumentList standby, promote | Out-Null
    Invoke-Repmgr -LabHost $Sibling -ArgumentList standby, follow | Out-Null
}

function Invoke-RawPromote {
    <#
    .SYNOPSIS
        The raw promotion of a standby whose primary just crashed, from the bench host: a new session, `SELECT
        pg_promote(false)`, then `SELECT pg_is_in_recovery()` every 10 ms on it until false (what a script does).
    #>
    param([Parameter(Mandatory)] $NewPrimary, [Parameter(Mandatory)] [string] $Password, [int] $TimeoutSeconds = 60)
    $c = [Npgsql.NpgsqlConnection]::new((New-BenchConnectionString $NewPrimary.Address $Password))
    try {
        $c.Open()
        $cmd = $c.CreateCommand()
        $cmd.CommandText = 'SELECT pg_catalog.pg_promote(false)'
        if ($cmd.ExecuteScalar() -ne $true) { throw "pg_promote(false) on $($NewPrimary.Name) did not return true." }
        $cmd.CommandText = 'SELECT pg_catalog.pg_is_in_recovery()'
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while ($cmd.ExecuteScalar() -eq $true) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "$($NewPrimary.Name) was still in recovery $TimeoutSeconds s after pg_promote(false)." }
            Start-Sleep -Milliseconds 10
        }
    }
    finally { $c.Dispose() }
}

function Get-BenchRecoveryEvents {
    <#
    .SYNOPSIS
        What a standby's server log says happened to its recovery since $Since (UTC): its WAL receiver losing the
        primary and failing to connect again, the startup process's retry sleep, the promotion seen, recovery ended;
        each as seconds after $Since, on one line (a run's note).
    #>
    param([Parameter(Mandatory)] $LabHost, [Parameter(Mandatory)] [DateTime] $Since)
    $events = [ordered]@{
        'could not receive data from WAL stream|replication terminated by primary' = 'WAL receiver lost the primary'
        'could not connect to the primary server' = 'WAL receiver could not connect'
        'waiting for WAL to become available' = 'startup sleeps out wal_retrieve_retry_interval'
        'received promote request' = 'promotion seen'
        'archive recovery complete' = 'recovery ended'
    }
    $lines = (Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList tail, -n, 80, $LabHost.LogFile) -split "`n"
    $seen = foreach ($l in $lines) {
        if ($l -notmatch '^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC') { continue }
        $at = [DateTime]::SpecifyKind([DateTime]::ParseExact($Matches[1], 'yyyy-MM-dd HH:mm:ss.fff', [cultureinfo]::InvariantCulture), 'Utc')
        if ($at -lt $Since) { continue }
        foreach ($pattern in $events.Keys) {
            if ($l -match $pattern) { [string]::Format([cultureinfo]::InvariantCulture, '+{0:0.000} s {1}', ($at - $Since).TotalSeconds, $events[$pattern]); break }
        }
    }
    @($seen) -join ', '
}

function Get-BenchPostmaster {
    <# The PID of a lab host's postmaster and of its children (read before a crash: they are re-parented after it). #>
    param([Parameter(Mandatory)] $LabHost)
    $pm = [int] (Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList head, -n, 1, "$($LabHost.DataDirectory)/postmaster.pid")
    $children = foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
        $id = 0
        if (-not [int]::TryParse([IO.Path]::GetFileName($dir), [ref] $id)) { continue }
        try { $stat = [IO.File]::ReadAllText("$dir/stat") } catch { continue }
        if ($stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')[1] -eq "$pm") { $id }
    }
    [pscustomobject]@{ Postmaster = $pm; Children = @($children) }
}

function Wait-BenchProcessesGone {
    <# Until every process of a crashed postmaster (Get-BenchPostmaster) has exited: its shared memory is then free for a start. #>
    param([Parameter(Mandatory)] $Processes, [int] $TimeoutSeconds = 20)
    $alive = {
        param([int] $Id)
        try { $stat = [IO.File]::ReadAllText("/proc/$Id/stat") } catch { return $false }
        $stat.Substring($stat.LastIndexOf(')') + 2)[0] -notin 'Z', 'X'
    }
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (@(@($Processes.Postmaster) + $Processes.Children | Where-Object { & $alive $_ }).Count) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "The processes of the crashed postmaster $($Processes.Postmaster) were still there after $TimeoutSeconds s." }
        Start-Sleep -Milliseconds 50
    }
}

#endregion

#region rounds and probes

function Invoke-BenchRounds {
    <#
    .SYNOPSIS
        Runs every contender $Runs times, alternating them and reversing the order every other round
        (A B C, C B A, A B C ...) so that no contender always runs first after the lab's idle moments or
        right after another's heavy run; each run follows its contender's untimed Reset. Run returns a
        hashtable of figures (name -> number); 'Profile' and 'Note' in it are kept as details. A reset or run that throws is that contender's error for the round, and the rounds go on.
        Output: per contender Key, Name, Rounds (one hashtable per round, $null when it failed, so that ratios
        pair the runs of one round) and Errors.
    #>
    param([Parameter(Mandatory)] [object[]] $Contender, [Parameter(Mandatory)] [int] $Runs, [Parameter(Mandatory)] [string] $Case,
        # One untimed run of each contender first: a figure of a few milliseconds is otherwise the first
        # connection's (and the first planning of each statement), not the steady state a warm shell sees.
        [switch] $WarmUp)
    if ($script:BaselineManifest -and ($cold = $Contender | Where-Object Key -EQ 'ours-cold' | Select-Object -First 1)) {
        $Contender = @($Contender) + @{ Key = 'baseline-cold'; Name = ($cold.Name -replace '\(cold\)', '(cold, baseline build)'); Reset = $cold['Reset']; BaselineOf = $cold.Run }
    }
    $results = [ordered]@{}
    foreach ($c in $Contender) {
        $results[$c.Key] = [pscustomobject]@{ Key = $c.Key; Name = $c.Name; Rounds = [Collections.Generic.List[object]]::new(); Errors = [Collections.Generic.List[string]]::new() }
    }
    if ($WarmUp) {
        foreach ($c in $Contender) {
            # A failure here is not recorded: the timed rounds that follow will meet it again and record it.
            try { if ($c['Reset']) { & $c['Reset'] | Out-Null }; Invoke-BenchContender $c | Out-Null } catch { Write-Host "  $Case warm-up $($c.Name): $(Get-BenchErrorText $_)" -ForegroundColor Yellow }
        }
    }
    for ($round = 1; $round -le $Runs; $round++) {
        $order = if ($round % 2) { $Contender } else { @($Contender)[($Contender.Count - 1)..0] }
        foreach ($c in $order) {
            $r = $results[$c.Key]
            $step = 'reset'
            try {
                if ($c['Reset']) { & $c['Reset'] | Out-Null }
                $step = 'run'
                $figures = Invoke-BenchContender $c
                $r.Rounds.Add($figures)
                $shown = ($figures.Keys | Where-Object { $_ -notin 'Profile', 'Note' } | ForEach-Object { '{0} {1:0.###}' -f $_, $figures[$_] }) -join ', '
                Write-Host ("  {0} #{1} {2}: {3}" -f $Case, $round, $c.Name, $shown)
            }
            catch {
                $r.Rounds.Add($null)
                $r.Errors.Add("round ${round}, ${step}: $(Get-BenchErrorText $_)")
                Write-Host ("  {0} #{1} {2}: FAILED ({3}): {4}" -f $Case, $round, $c.Name, $step, (Get-BenchErrorText $_)) -ForegroundColor Yellow
            }
        }
    }
    @($results.Values)
}

# One run of a contender; the baseline build's copy of a cold contender runs its Run with that build (Invoke-ColdPwsh
# imports $script:ModuleManifest).
function Invoke-BenchContender($Contender) {
    if (-not $Contender['BaselineOf']) { return & $Contender.Run }
    $ours = $script:ModuleManifest
    $script:ModuleManifest = $script:BaselineManifest
    try { & $Contender.BaselineOf } finally { $script:ModuleManifest = $ours }
}

function Measure-BenchProfiled {
    <#
    .SYNOPSIS
        Runs a warm cmdlet pipeline (give its cmdlets -Verbose) and keeps each verbose message with the seconds
        since the start: the profile of where the time went. Returns Seconds, Output, Steps (At, Message) and
        Profile (the steps as text lines).
    #>
    param([Parameter(Mandatory)] [scriptblock] $Block)
    $steps = [Collections.Generic.List[object]]::new()
    $output = [Collections.Generic.List[object]]::new()
    $clock = [Diagnostics.Stopwatch]::StartNew()
    & $Block 4>&1 | ForEach-Object {
        if ($_ -is [System.Management.Automation.VerboseRecord]) { $steps.Add([pscustomobject]@{ At = $clock.Elapsed.TotalSeconds; Message = ($_.Message -split "`n")[0] }) }
        else { $output.Add($_) }
    }
    $seconds = $clock.Elapsed.TotalSeconds
    [pscustomobject]@{
        Seconds = $seconds; Output = $output.ToArray(); Steps = $steps.ToArray()
        Profile = @($steps | ForEach-Object { [string]::Format([cultureinfo]::InvariantCulture, '{0,7:0.000} s  {1}', $_.At, $_.Message) })
    }
}

# Seconds between the first verbose step matching $From and the first after it matching $To; $null when either is missing.
function Get-BenchStepSeconds($Run, [string] $From, [string] $To) {
    $start = $Run.Steps | Where-Object Message -Match $From | Select-Object -First 1
    if (-not $start) { return $null }
    $end = $Run.Steps | Where-Object { $_.At -ge $start.At -and $_.Message -match $To } | Select-Object -First 1
    if ($end) { $end.At - $start.At } else { $null }
}

# The probe of a failover, in a thread of its own. See Start-FailoverProbe.
$script:FailoverProbe = {
    param($Targets, $State, $TimeoutSeconds, $WritableOnly)
    function Open-Target($t) { try { $c = [Npgsql.NpgsqlConnection]::new($t.ConnectionString); $c.Open(); $c } catch { $null } }
    function Get-Seconds { ([Diagnostics.Stopwatch]::GetTimestamp() - $State.Start) / [Diagnostics.Stopwatch]::Frequency }
    $open = @{}
    foreach ($t in $Targets) { $open[$t.Name] = Open-Target $t }
    $State.Ready = $true
    $end = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not $State.ContainsKey('Start') -and [DateTime]::UtcNow -lt $end) { Start-Sleep -Milliseconds 1 }
    $primary = $null; $writable = $null; $streaming = @{}
    while ([DateTime]::UtcNow -lt $end) {
        foreach ($t in $Targets) {
            if ($primary -and ($t -eq $primary -or $streaming.ContainsKey($t.Name))) { continue }
            $c = $open[$t.Name]
            if ($null -eq $c -or $c.State -ne 'Open') {
                if ($c) { $c.Dispose() }
                $c = $open[$t.Name] = Open-Target $t
                if ($null -eq $c) { continue }
            }
            try {
                $cmd = $c.CreateCommand()
                if (-not $primary) {
                    $cmd.CommandText = 'SELECT NOT pg_catalog.pg_is_in_recovery()'
                    if ($cmd.ExecuteScalar() -eq $true) {
                        $cmd.CommandText = 'INSERT INTO bench_probe DEFAULT VALUES'
                        $null = $cmd.ExecuteNonQuery()
                        $writable = Get-Seconds
                        $primary = $t
                    }
                }
                else {
                    $cmd.CommandText = "SELECT r.status = 'streaming' AND r.sender_host = '$($primary.Address)' FROM pg_catalog.pg_stat_wal_receiver r"
                    if ($cmd.ExecuteScalar() -eq $true) { $streaming[$t.Name] = Get-Seconds }
                }
            }
            catch { } # a session broken by a restart is reopened on the next pass
        }
        if ($primary -and ($WritableOnly -or $streaming.Count -eq $Targets.Count - 1)) { break }
        Start-Sleep -Milliseconds 10
    }
    foreach ($c in $open.Values) { if ($c) { $c.Dispose() } }
    [pscustomobject]@{
        NewPrimary = if ($primary) { $primary.Name } else { $null }
        Writable = $writable
        SiblingsStreaming = if ($primary -and $streaming.Count -eq $Targets.Count - 1) { ($streaming.Values | Measure-Object -Maximum).Maximum } else { $null }
    }
}

function Start-FailoverProbe {
    <#
    .SYNOPSIS
        Times a failover from outside, the same way for every contender: which standby accepts a write first, and
        when the others stream from it (pg_stat_wal_receiver), polled every 10 ms over sessions opened before the
        clock starts (a session survives its server's promotion). The clock starts when this returns, or with
        -Deferred at Start-BenchClock (the kill). -WritableOnly: done at the first write accepted.
    #>
    param([Parameter(Mandatory)] [object[]] $Standby, [Parameter(Mandatory)] [string] $Password, [int] $TimeoutSeconds = 120,
        [switch] $Deferred, [switch] $WritableOnly)
    $state = [hashtable]::Synchronized(@{})
    $targets = @($Standby | ForEach-Object { [pscustomobject]@{ Name = $_.Name; Address = $_.Address; ConnectionString = (New-BenchConnectionString $_.Address $Password) } })
    $job = Start-ThreadJob -ScriptBlock $script:FailoverProbe -ArgumentList $targets, $state, $TimeoutSeconds, ([bool] $WritableOnly)
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not $state.ContainsKey('Ready')) {
        if ([DateTime]::UtcNow -gt $deadline) { $job | Remove-Job -Force; throw 'The failover probe did not start within 30 s.' }
        Start-Sleep -Milliseconds 5
    }
    $probe = [pscustomobject]@{ Job = $job; State = $state; TimeoutSeconds = $TimeoutSeconds; WritableOnly = [bool] $WritableOnly }
    if (-not $Deferred) { Start-BenchClock $probe }
    $probe
}

# The probe's clock starts now (it polls from then on).
function Start-BenchClock($Probe) { $Probe.State.Start = [Diagnostics.Stopwatch]::GetTimestamp() }

function Get-BenchElapsed($Probe) { ([Diagnostics.Stopwatch]::GetTimestamp() - $Probe.State.Start) / [Diagnostics.Stopwatch]::Frequency }

function Complete-FailoverProbe($Probe) {
    <# The probe's findings; throws when no standby became writable or a sibling never streamed from it. #>
    try { $r = $Probe.Job | Wait-Job -Timeout ($Probe.TimeoutSeconds + 30) | Receive-Job }
    finally { $Probe.Job | Remove-Job -Force }
    if ($null -eq $r -or $null -eq $r.Writable) { throw "No standby accepted a write within $($Probe.TimeoutSeconds) s." }
    if ($null -eq $r.SiblingsStreaming -and -not $Probe.WritableOnly) { throw "$($r.NewPrimary) became writable, but not every other standby streamed from it within $($Probe.TimeoutSeconds) s." }
    $r
}

# The write load of a switchover, in a thread of its own. See Start-BenchWriteLoad.
$script:WriteLoad = {
    param($ConnectionString, $State, $FirstId, $TimeoutSeconds)
    $acked = [Collections.Generic.List[int]]::new(); $refused = 0; $id = $FirstId; $c = $null
    $end = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not $State.ContainsKey('Stop') -and [DateTime]::UtcNow -lt $end) {
        try {
            if ($null -eq $c) { $c = [Npgsql.NpgsqlConnection]::new($ConnectionString); $c.Open() }
            $cmd = $c.CreateCommand()
            $cmd.CommandText = "INSERT INTO bench_acked (id) VALUES ($id) ON CONFLICT DO NOTHING"
            $null = $cmd.ExecuteNonQuery()
            $acked.Add($id); $id++
            Start-Sleep -Milliseconds 10
        }
        catch {
            # Not acknowledged: retried with the same id (a commit whose answer was lost is not counted twice).
            $refused++
            if ($c) { $c.Dispose(); $c = $null }
            Start-Sleep -Milliseconds 20
        }
    }
    if ($c) { $c.Dispose() }
    [pscustomobject]@{ Acked = $acked.ToArray(); Refused = $refused }
}

function Start-BenchWriteLoad {
    <#
    .SYNOPSIS
        A client that inserts ids one by one (about 60 a second) into bench_acked on whichever node is writable
        (a multi-host connection string, target_session_attrs read-write) and records each acknowledged id.
    #>
    param([Parameter(Mandatory)] [string[]] $Address, [Parameter(Mandatory)] [string] $Password, [int] $FirstId = 1, [int] $TimeoutSeconds = 300)
    $state = [hashtable]::Synchronized(@{})
    $cs = New-BenchConnectionString $Address $Password @{ 'Target Session Attributes' = 'read-write'; 'Host Recheck Seconds' = 1 }
    [pscustomobject]@{ Job = (Start-ThreadJob -ScriptBlock $script:WriteLoad -ArgumentList $cs, $state, $FirstId, $TimeoutSeconds); State = $state }
}

function Stop-BenchWriteLoad($Load) {
    $Load.State.Stop = $true
    try { $Load.Job | Wait-Job -Timeout 60 | Receive-Job }
    finally { $Load.Job | Remove-Job -Force }
}

# How many of the acknowledged ids the node at $Address does not have.
function Get-BenchLostCount([string] $Address, [string] $Password, [int[]] $Id) {
    if ($Id.Count -eq 0) { return 0 }
    $c = [Npgsql.NpgsqlConnection]::new((New-BenchConnectionString $Address $Password))
    try {
        $c.Open()
        $cmd = $c.CreateCommand()
        $cmd.CommandText = 'SELECT count(*) FROM bench_acked WHERE id = ANY(@ids)'
        $null = $cmd.Parameters.AddWithValue('ids', [int[]] $Id)
        $Id.Count - [int] $cmd.ExecuteScalar()
    }
    finally { $c.Dispose() }
}

#endregion

function Get-BenchMachine {
    <# The machine and the versions the figures were taken with. #>
    $cpu = (Select-String -Path /proc/cpuinfo -Pattern '^model name\s*:\s*(.+)$' | Select-Object -First 1).Matches[0].Groups[1].Value
    $memKb = [long] (Select-String -Path /proc/meminfo -Pattern '^MemTotal:\s+(\d+)').Matches[0].Groups[1].Value
    [ordered]@{
        Date        = [DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm') + ' UTC'
        Processors  = [int] (& nproc)
        MemoryGiB   = [Math]::Round($memKb / 1MB, 1)
        Cpu         = $cpu.Trim()
        Kernel      = "$(& uname -r)"
        LoadAverage = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
        PostgreSQL  = "$(& "$script:PgBin/postgres" --version)"
        Repmgr      = "$(& $script:Repmgr --version)"
        # Issue 19's automatic failover (the AutoFailover case).
        Patroni     = if (Get-Command patroni -ErrorAction Ignore) { "$(& patroni --version)" } else { $null }
        Etcd        = if (Get-Command etcd -ErrorAction Ignore) { "$(& etcd --version | Select-Object -First 1)" } else { $null }
        PowerShell  = "$($PSVersionTable.PSVersion)"
        DotNet      = "$([Environment]::Version)"
    }
}

Export-ModuleMember -Function Initialize-PgBench, New-BenchSecret, New-BenchCredential, Write-PrivateFile, Get-BenchErrorText,
    Invoke-BenchProcess, Invoke-BenchShell, Invoke-Repmgr, Invoke-ColdPwsh, New-BenchConnectionString, Invoke-BenchSql,
    Wait-BenchStreaming, New-BenchCluster, Initialize-BenchData, Get-BenchDatabaseBytes, Get-BenchAppName, Reset-BenchCluster,
    Clear-BenchSlots, Register-RepmgrCluster, Set-BenchRunningStandby, Invoke-BenchRounds, Measure-BenchProfiled, Get-BenchStepSeconds, Start-FailoverProbe, Start-BenchClock, Get-BenchElapsed,
    Complete-FailoverProbe, Start-BenchWriteLoad, Stop-BenchWriteLoad, Get-BenchLostCount, Get-BenchMachine, New-BenchNode,
    Invoke-RawStandbyBuild, Invoke-RepmgrStandbyBuild, Invoke-RawFailover, Invoke-RepmgrFailover, Invoke-RawPromote, Get-BenchPostmaster,
    Wait-BenchProcessesGone, Get-BenchRecoveryEvents, Enable-BenchRepmgrd, Start-BenchRepmgrd, Stop-BenchRepmgrd
