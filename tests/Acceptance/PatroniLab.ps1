# Lab helpers for a cluster handed to Patroni and etcd (issue 19), shared by AutoFailover.Tests.ps1 and
# Faults/AutoFailoverFaults.Tests.ps1: dot-source it in BeforeAll after FaultSuite.ps1. The module starts etcd and Patroni
# on each host as supervised daemons of postgres under /var/lib/postgresql/autofailover; these helpers stop and start
# them as a crash and a reboot would.

# Patroni's timings in the lab: a dead leader's lock expires after 10 s, the loop runs every 2 s, a DCS call is retried 3 s.
$PatroniTtl = 10; $PatroniLoopWait = 2; $PatroniRetryTimeout = 3
$PatroniDirectory = '/var/lib/postgresql/autofailover'

# The REST API's login: an odd password, but ASCII (Enable-PgAutoFailover refuses others: Patroni 3.0's members would
# send it Latin-1 encoded and check it UTF-8 encoded, RestApiPasswordNotAscii).
function New-RestApiCredential { [pscredential]::new('patroni', (ConvertTo-SecureString ((New-OddPassword) -replace '[^\x20-\x7e]', '') -AsPlainText -Force)) }

# The host crashes: its supervisors, Patroni, etcd and postgres killed -9, in that order (a supervisor would restart the others).
function Stop-LabHostHa($LabHost) {
    foreach ($like in '*supervise.sh *', '*/bin/patroni *', 'etcd --config-file*', '*/bin/postgres *', 'postgres: *') {
        foreach ($p in @(Get-LabProcess $LabHost $like)) { kill -9 $p.Id 2>$null }
    }
    $global:LASTEXITCODE = 0
}

# One daemon of the host dies (kill -9 of its supervisor, then of the program): 'etcd' or 'patroni'.
function Stop-LabDaemon($LabHost, [ValidateSet('etcd', 'patroni')] [string] $Name) {
    $program = if ($Name -eq 'etcd') { 'etcd --config-file*' } else { '*/bin/patroni *' }
    foreach ($like in "*supervise.sh $Name *", $program) {
        foreach ($p in @(Get-LabProcess $LabHost $like)) { kill -9 $p.Id 2>$null }
    }
    $global:LASTEXITCODE = 0
}

# What the host's init system would do: start the supervised daemon again (the same command the module runs).
function Start-LabDaemon($LabHost, [ValidateSet('etcd', 'patroni')] [string] $Name) {
    $program = if ($Name -eq 'etcd') { @('etcd', '--config-file', "$PatroniDirectory/etcd.yml") } else { @('patroni', "$PatroniDirectory/patroni.yml") }
    Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList (@('sh', '-c', 'setsid sh "$0/supervise.sh" "$@" </dev/null >/dev/null 2>&1 &', $PatroniDirectory, $Name) + $program) | Out-Null
}

# The host boots again: etcd and Patroni start (Patroni then starts postgres).
function Start-LabHostHa($LabHost) { Start-LabDaemon $LabHost etcd; Start-LabDaemon $LabHost patroni }

function Get-PatroniRow($Rows, $LabHost) { $Rows | Where-Object { $_.ComputerName -eq $LabHost.Address } }

# The hosts whose server takes writes now (not in recovery), read over SQL with a short timeout each.
function Get-WritableHost([object[]] $Hosts) { @($Hosts | Where-Object { (Get-LabValue $_ 'SELECT pg_is_in_recovery()') -eq 'f' }) }

# Waits until exactly one of -Hosts other than -Except is writable; returns it (or $null after -Seconds).
function Wait-NewWritable([object[]] $Hosts, $Except, [int] $Seconds) {
    $found = @{}
    $null = Wait-Condition {
        foreach ($h in $Hosts | Where-Object { $_ -ne $Except }) { if ((Get-LabValue $h 'SELECT pg_is_in_recovery()') -eq 'f') { $found.Host = $h; return $true } }
        $false
    } -Seconds $Seconds -IntervalMilliseconds 100
    $found.Host
}

# When the host's Patroni last took the leader lock, from its log (local time, as Python writes it), in UTC; $null if never.
function Get-PatroniElectionTime($LabHost) {
    $line = Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList sh, -c,
        "grep -hE 'acquired session lock as a leader|by acquiring session lock' '$PatroniDirectory/patroni.log' | tail -n 1; true"
    if ($line -notmatch '^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ') { return $null }
    [DateTime]::ParseExact($Matches[1], 'yyyy-MM-dd HH:mm:ss,fff', [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AssumeLocal).ToUniversalTime()
}

# The members Patroni lists as synchronous standbys, from the REST API of -LabHost (as a client on that host, CA checked).
function Get-PatroniSyncStandby($LabHost) {
    $json = Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList sh, -c,
        "curl -s --max-time 3 --cacert '$PatroniDirectory/ca.crt' https://$($LabHost.Address):8008/cluster; true"
    if (-not $json) { return @() }
    @(($json | ConvertFrom-Json).members | Where-Object role -EQ 'sync_standby' | ForEach-Object name)
}

# Patroni's dynamic configuration (GET /config) from the REST API of -LabHost, as a client on that host (CA checked).
function Get-PatroniConfig($LabHost) {
    Invoke-PgLabCommand -LabHost $LabHost -User postgres -ArgumentList curl, -s, -f, --max-time, 5, --cacert, "$PatroniDirectory/ca.crt", "https://$($LabHost.Address):8008/config" |
        ConvertFrom-Json -AsHashtable
}

# Patroni's own failover to -Candidate (a member name; POST /failover), sent as a client on -LabHost without the module:
# what Patroni does by itself after a failure, where no cmdlet adds a pg_hba line. The login goes to curl on stdin.
function Invoke-PatroniFailover($LabHost, [pscredential] $Credential, [string] $Candidate) {
    $password = (Get-PlainPassword $Credential) -replace '\\', '\\' -replace '"', '\"'
    Invoke-PgLabCommand -LabHost $LabHost -User postgres -InputText "user = `"$($Credential.UserName):$password`"`n" -ArgumentList curl, -s, -f, --max-time, 60,
        --cacert, "$PatroniDirectory/ca.crt", -K, -, -X, POST, -H, 'Content-Type: application/json', --data-raw, (@{ candidate = $Candidate } | ConvertTo-Json -Compress),
        "https://$($LabHost.Address):8008/failover"
}

# A change of the dynamic configuration (PATCH /config, null removes a key) sent as a client on -LabHost; the REST login goes
# to curl on stdin (-K -), never on a command line.
function Invoke-PatroniConfigPatch($LabHost, [pscredential] $Credential, [hashtable] $Change) {
    $password = (Get-PlainPassword $Credential) -replace '\\', '\\' -replace '"', '\"'
    Invoke-PgLabCommand -LabHost $LabHost -User postgres -InputText "user = `"$($Credential.UserName):$password`"`n" -ArgumentList curl, -s, -f, --max-time, 10,
        --cacert, "$PatroniDirectory/ca.crt", -K, -, -X, PATCH, -H, 'Content-Type: application/json', --data-raw, ($Change | ConvertTo-Json -Depth 6 -Compress),
        "https://$($LabHost.Address):8008/config" | Out-Null
}
