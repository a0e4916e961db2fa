<#
    Local PostgreSQL clusters on 127.0.0.1 for the demo and the Pester tests that need a real server: initdb with
    SCRAM, a free port, the data directories under one temporary root. They run as the current user, or as
    postgres when started by root (initdb refuses root). Nothing listens beyond loopback.
#>
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$script:OsUser = if ([Environment]::UserName -eq 'root') { 'postgres' } else { [Environment]::UserName }

function Invoke-AsOwner([string] $Program, [string[]] $Arguments) {
    if ($script:OsUser -ne [Environment]::UserName) { $Arguments = @('-u', $script:OsUser, '--', $Program) + $Arguments; $Program = 'runuser' }
    $output = & $Program @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$Program $($Arguments -join ' ') failed: $output" }
}

# A loopback port free now, below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up here):
# a port the kernel handed out (bind to 0) could be handed out again to one of our own outgoing connections before the
# server binds it, and never twice to this session. (The fresh-clone CI's demo failed once with 'could not start server'.)
$script:PortsGiven = [System.Collections.Generic.HashSet[int]]::new()
function Get-FreePort {
    for ($try = 0; $try -lt 200; $try++) {
        $port = Get-Random -Minimum 20000 -Maximum 32000
        if ($script:PortsGiven.Contains($port)) { continue }
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $port)
        try { $listener.Start(); $listener.Stop() } catch [System.Net.Sockets.SocketException] { continue }
        [void] $script:PortsGiven.Add($port)
        return $port
    }
    throw 'No free loopback port found between 20000 and 32000 in 200 tries.'
}

function New-Secret { [Convert]::ToBase64String([Security.Cryptography.RandomNumberGenerator]::GetBytes(18)) }

function New-Credential([string] $User, [string] $Password) {
    [pscredential]::new($User, (ConvertTo-SecureString $Password -AsPlainText -Force))
}

<#
.SYNOPSIS
    An empty root directory for clusters, owned by the user that runs them; returns its path and that user.
#>
function New-LocalClusterRoot([string] $Prefix = 'pgrepl') {
    $root = Join-Path ([IO.Path]::GetTempPath()) ("$Prefix-" + [Guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory $root | Out-Null
    if ($script:OsUser -ne [Environment]::UserName) { chown $script:OsUser $root }
    [pscustomobject]@{ Root = $root; OsUser = $script:OsUser }
}

<#
.SYNOPSIS
    initdb and start a primary in Root/Name on 127.0.0.1:Port, with the admin role postgres and SCRAM everywhere.
#>
function Start-LocalPrimary {
    param(
        [Parameter(Mandatory)] [string] $Root,
        [Parameter(Mandatory)] [string] $Name,
        [Parameter(Mandatory)] [int] $Port,
        [Parameter(Mandatory)] [string] $AdminPassword,
        [Parameter(Mandatory)] [string] $BinDirectory
    )
    $data = Join-Path $Root $Name
    $pwfile = Join-Path $Root 'pwfile'
    Set-Content -Path $pwfile -Value $AdminPassword -NoNewline
    chmod 600 $pwfile
    if ($script:OsUser -ne [Environment]::UserName) { chown $script:OsUser $pwfile }
    try {
        Invoke-AsOwner "$BinDirectory/initdb" @('-D', $data, '-U', 'postgres', '-E', 'UTF8', '--auth-local=scram-sha-256',
            '--auth-host=scram-sha-256', "--pwfile=$pwfile")
    }
    finally { Remove-Item $pwfile -ErrorAction SilentlyContinue }
    Add-Content "$data/postgresql.conf" "`nport = $Port`nlisten_addresses = '127.0.0.1'`nunix_socket_directories = '$Root'`n"
    Invoke-AsOwner "$BinDirectory/pg_ctl" @('-D', $data, '-l', "$Root/$Name.log", '-w', 'start')
    $data
}

<#
.SYNOPSIS
    A primary (Root/primary) and its streaming standby (Root/standby) on 127.0.0.1, built by the module's own
    pipeline as the demo does; the module must be imported. Returns the nodes, their ports, the standby's data
    directory and the admin role's password.
#>
function New-LocalStreamingPair {
    param([Parameter(Mandatory)] [string] $Root, [Parameter(Mandatory)] [string] $BinDirectory)
    $password = New-Secret
    $admin = New-Credential postgres $password
    $primaryPort = Get-FreePort
    $standbyPort = Get-FreePort
    $standbyData = "$Root/standby"
    Start-LocalPrimary -Root $Root -Name primary -Port $primaryPort -AdminPassword $password -BinDirectory $BinDirectory | Out-Null
    $primary = New-PgNode -Local -Port $primaryPort -Credential $admin -Name primary
    $standby = New-PgNode "127.0.0.1:$standbyPort" -Local -NoConnect -Credential $admin -Name standby
    $primary | New-PgReplicationUser -Credential (New-Credential replicator (New-Secret)) |
        Set-PgMasterConfig -Standby $standby -Restart -Confirm:$false | Out-Null
    $standby | Invoke-PgBaseBackup -Primary $primary -DataDirectory $standbyData -Confirm:$false | Enable-PgHotStandby | Out-Null
    [pscustomobject]@{ Primary = $primary; Standby = $standby; PrimaryPort = $primaryPort; StandbyPort = $standbyPort
        StandbyData = $standbyData; Password = $password }
}

<#
.SYNOPSIS
    Runs SQL on 127.0.0.1:Port as postgres and returns the first column of the first row (Npgsql of the module).
#>
function Invoke-LocalSql([int] $Port, [string] $Password, [string] $Sql) {
    if (-not ('Npgsql.NpgsqlConnection' -as [type])) { Add-Type -Path (Join-Path (Get-Module PgReplication).ModuleBase 'Dependencies/Npgsql.dll') }
    $c = [Npgsql.NpgsqlConnection]::new("Host=127.0.0.1;Port=$Port;Username=postgres;Password=$Password;Database=postgres;Pooling=false")
    try { $c.Open(); $cmd = $c.CreateCommand(); $cmd.CommandText = $Sql; $cmd.ExecuteScalar() } finally { $c.Dispose() }
}

<#
.SYNOPSIS
    Stops every server running in a data directory under Root, then removes Root.
#>
function Remove-LocalClusterRoot([string] $Root, [string] $BinDirectory) {
    foreach ($dir in Get-ChildItem $Root -Directory | Where-Object { Test-Path "$($_.FullName)/postmaster.pid" }) {
        Invoke-AsOwner "$BinDirectory/pg_ctl" @('-D', $dir.FullName, '-m', 'fast', '-w', 'stop')
    }
    Remove-Item $Root -Recurse -Force
}

Export-ModuleMember -Function Invoke-AsOwner, Get-FreePort, New-Secret, New-Credential, New-LocalClusterRoot, Start-LocalPrimary, New-LocalStreamingPair, Invoke-LocalSql,
    Remove-LocalClusterRoot
