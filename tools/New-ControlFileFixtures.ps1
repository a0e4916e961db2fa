# Makes the control files ControlFileTests decodes: per major (the lab's cached upstream builds, Debian's 15), a cluster made
# by initdb, and its global/pg_control (first 512 bytes) as it is after a crash, a clean shutdown and a shutdown in
# recovery, with what the running server itself said (pg_control_system/checkpoint/recovery(), current_setting) and, for
# 15, what pg_controldata prints. Run as root on the lab machine (initdb runs as postgres):
#   dotnet pwsh ./tools/New-ControlFileFixtures.ps1
param([int[]] $Major = 10..18, [string] $OutputDirectory = "$PSScriptRoot/../tests/PgReplication.Core.Tests/ControlFiles")
$ErrorActionPreference = 'Stop'
Import-Module "$PSScriptRoot/../tests/Lab/PgLab.psd1" -Force
$psql = '/usr/lib/postgresql/15/bin/psql'
$null = New-Item -ItemType Directory -Force $OutputDirectory
$expected = [ordered]@{}
$known = "$OutputDirectory/expected.json"
if (Test-Path $known) { (Get-Content -Raw $known | ConvertFrom-Json -AsHashtable).GetEnumerator() | Sort-Object Key | ForEach-Object { $expected[$_.Key] = $_.Value } }
foreach ($m in $Major) {
    $bin = if ($m -eq 15) { '/usr/lib/postgresql/15/bin' } else { Install-PgLabMajor -Major $m }
    $work = "/tmp/pgr-controlfiles-$m"
    if (Test-Path $work) { Remove-Item -Recurse -Force $work }
    $null = New-Item -ItemType Directory $work
    & chown postgres: $work
    $data = "$work/data"; $port = 6400 + $m
    # Checksums on some majors and off on others (18 has them by default), so both offsets are read as 0 and as 1.
    $checksums = $m -in 11, 13, 15, 17, 18
    $initArgs = @('-D', $data, '-A', 'trust', '-U', 'postgres') + $(if ($checksums) { '-k' } elseif ($m -ge 18) { '--no-data-checksums' } else { @() })
    & runuser -u postgres -- "$bin/initdb" @initArgs *> "$work/initdb.log"
    if ($LASTEXITCODE) { throw "initdb $m failed: $(Get-Content -Raw "$work/initdb.log")" }
    function Start-Server([string] $hints) {
        & runuser -u postgres -- "$bin/pg_ctl" -D $data -w -l "$work/server.log" -o "-c listen_addresses='' -c unix_socket_directories=$work -p $port -c wal_log_hints=$hints" start *> $null
        if ($LASTEXITCODE) { throw "start $m failed: $(Get-Content -Raw "$work/server.log")" }
    }
    function Stop-Server([string] $mode) { & runuser -u postgres -- "$bin/pg_ctl" -D $data -w -m $mode stop *> $null }
    function Sql([string] $q) { (& runuser -u postgres -- $psql -X -A -t -h $work -p $port -d postgres -c $q).Trim() }
    function Save([string] $case, [hashtable] $values) {
        $bytes = [IO.File]::ReadAllBytes("$data/global/pg_control")[0..511]
        [IO.File]::WriteAllBytes("$OutputDirectory/$m-$case.bin", [byte[]] $bytes)
        if ($m -eq 15) { $values.pg_controldata = (& "$bin/pg_controldata" $data) -join "`n" }
        $expected["$m-$case"] = $values
    }
    $sysid = $null
    # A crash right after a checkpoint: the file holds that checkpoint, state in production.
    Start-Server off
    $sysid = Sql 'SELECT system_identifier FROM pg_control_system()'
    $checksum = Sql "SELECT CASE current_setting('data_checksums') WHEN 'on' THEN 1 ELSE 0 END"
    $null = Sql 'CHECKPOINT'
    $cp = (Sql "SELECT checkpoint_lsn || '|' || timeline_id FROM pg_control_checkpoint()") -split '\|'
    Stop-Server immediate
    Save crashed @{ Major = $m; State = 'in production'; SystemIdentifier = $sysid; Checkpoint = $cp[0]; Timeline = $cp[1]; MinRecoveryPoint = '0/0'; MinRecoveryTimeline = '0'; WalLogHints = 'off'; Checksums = $checksum }
    # A clean shutdown: the shutdown checkpoint, read back by the server when it starts again.
    Start-Server on
    Stop-Server fast
    Save shutdown @{ Major = $m; State = 'shut down'; SystemIdentifier = $sysid; Checkpoint = $null; Timeline = $null; MinRecoveryPoint = '0/0'; MinRecoveryTimeline = '0'; WalLogHints = 'on'; Checksums = $checksum }
    Start-Server on
    $cp = (Sql "SELECT checkpoint_lsn || '|' || timeline_id FROM pg_control_checkpoint()") -split '\|'
    Stop-Server fast
    $expected["$m-shutdown"].Checkpoint = $cp[0]; $expected["$m-shutdown"].Timeline = $cp[1]
    # A standby of nothing (archive recovery, no source): its minimum recovery point is set (and moved past the checkpoint
    # record at the shutdown restartpoint), then a shutdown in recovery; read back by the standby when it starts again.
    if ($m -ge 12) { Set-Content "$data/standby.signal" '' } else { Set-Content "$data/recovery.conf" "standby_mode = 'on'" }
    & chown postgres: "$data/$(if ($m -ge 12) { 'standby.signal' } else { 'recovery.conf' })"
    Start-Server on
    Stop-Server fast
    Save standby @{ Major = $m; State = 'shut down in recovery'; SystemIdentifier = $sysid; Checkpoint = $null; Timeline = $null; MinRecoveryPoint = $null; MinRecoveryTimeline = $null; WalLogHints = 'on'; Checksums = $checksum }
    Start-Server on
    $rec = (Sql "SELECT min_recovery_end_lsn || '|' || min_recovery_end_timeline FROM pg_control_recovery()") -split '\|'
    $cp = (Sql "SELECT checkpoint_lsn || '|' || timeline_id FROM pg_control_checkpoint()") -split '\|'
    Stop-Server fast
    $e = $expected["$m-standby"]; $e.Checkpoint = $cp[0]; $e.Timeline = $cp[1]; $e.MinRecoveryPoint = $rec[0]; $e.MinRecoveryTimeline = $rec[1]
    Remove-Item -Recurse -Force $work
    Write-Host "PostgreSQL ${m}: 3 control files"
}
$expected | ConvertTo-Json -Depth 3 | Set-Content "$OutputDirectory/expected.json"
