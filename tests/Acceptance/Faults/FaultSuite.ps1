# Shared by the fault, bad-input and secrets suites (tests/Acceptance/Faults/*.Tests.ps1): dot-source it in
# BeforeDiscovery, and with -WithModule in BeforeAll (thread jobs dot-source it too, and need only the lab).
# Every scenario's result goes to out/reliability/*.json (Save-ScenarioResults in AfterAll), which
# tests/Acceptance/Faults/Write-ReliabilityReport.ps1 turns into docs/reliability.md.
param([switch] $WithModule)
Import-Module "$PSScriptRoot/../../Lab/PgLab.psd1"

$FaultSuiteFile = $PSCommandPath
$ReliabilityDirectory = [IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../../../out/reliability'))
$ScenarioData = @{}

function Import-PgReplicationModule {
    $path = if ($env:PGREPLICATION_MODULE) { $env:PGREPLICATION_MODULE } else { Join-Path $PSScriptRoot '../../../out/PgReplication' }
    Import-Module (Join-Path $path 'PgReplication.psd1') -Force -Global
    # The write load and the sampler are clients of their own: the module's Npgsql, loaded before its first cmdlet needs it.
    Add-Type -Path (Join-Path $path 'Dependencies/Npgsql.dll')
}

# --- Nodes and credentials -------------------------------------------------------------------------------------

. "$PSScriptRoot/../LabNode.ps1"

# Every character that breaks naive quoting (quote, double quote, backslash, $(...), backtick, ';', ':' for the
# passfile, unicode): the password must reach the server and the passfiles unchanged.
function New-OddPassword { "R'e`"p\l`$(id)``;:ü-" + [guid]::NewGuid().ToString('N').Substring(0, 12) }

function New-ReplicationCredential([string] $UserName = 'replicator') {
    [pscredential]::new($UserName, (ConvertTo-SecureString (New-OddPassword) -AsPlainText -Force))
}

function Get-PlainPassword([pscredential] $Credential) { $Credential.GetNetworkCredential().Password }

# The application_name (and slot) the module derives from a node's name.
function Get-StandbyAppName($LabHost) { ($LabHost.Name.ToLowerInvariant() -replace '[^a-z0-9]', '_').Trim('_') }

# Builds the usual cluster: the first host primary, the others streaming standbys over SSH.
function Initialize-LabCluster($Lab, [pscredential] $Replication, [object[]] $Standbys = @($Lab.Hosts | Select-Object -Skip 1)) {
    $primary = New-LabNode $Lab $Lab.Hosts[0]
    $nodes = @($Standbys | ForEach-Object { New-LabNode $Lab $_ -NoConnect })
    $primary | New-PgReplicationUser -Credential $Replication | Set-PgMasterConfig -Standby $nodes -Restart -Confirm:$false | Out-Null
    $built = @($nodes | Invoke-PgBaseBackup -Primary $primary -Confirm:$false | Enable-PgHotStandby)
    if ($built.Count -ne $nodes.Count) { throw "Only $($built.Count) of $($nodes.Count) standbys came up." }
    @($primary) + $built
}

# --- Reading the lab -------------------------------------------------------------------------------------------

function Get-LabValue($LabHost, [string] $Sql) { try { Invoke-PgLabSql -LabHost $LabHost -Sql $Sql } catch { $null } }

# Polls a condition (a scriptblock returning $true) at most -Seconds; returns whether it came true.
function Wait-Condition([scriptblock] $Condition, [int] $Seconds = 30, [int] $IntervalMilliseconds = 200) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ($true) {
        if (& $Condition) { return $true }
        if ([DateTime]::UtcNow -ge $deadline) { return $false }
        Start-Sleep -Milliseconds $IntervalMilliseconds
    }
}

function Wait-Streaming($LabHost, [string] $FromAddress, [int] $Seconds = 30) {
    Wait-Condition { (Get-LabValue $LabHost 'SELECT status || sender_host FROM pg_stat_wal_receiver') -eq "streaming$FromAddress" } -Seconds $Seconds
}

# Processes of a lab host (hosts share the machine's PID namespace: found through the host's network namespace).
function Get-LabProcess($LabHost, [string] $Like = '*') {
    foreach ($id in @(ip netns pids $LabHost.Namespace)) {
        $cmdline = try { [IO.File]::ReadAllText("/proc/$id/cmdline").Replace([char]0, ' ').Trim() } catch { '' }
        if ($cmdline -and $cmdline -like $Like) { [pscustomobject]@{ Id = [int] $id; CommandLine = $cmdline } }
    }
}

# What bad input must not change: every config and passfile of every host hashed, and the roles and slots of the running servers.
function Get-LabState($Lab) {
    foreach ($h in $Lab.Hosts) {
        $files = Invoke-PgLabCommand -LabHost $h -ArgumentList sh, -c,
            'for f in /etc/postgresql/15/main/*.conf "$1"/*.conf "$1"/standby.signal /var/lib/postgresql/.pgpass; do [ -f "$f" ] && sha256sum "$f"; done; true', sh, $h.DataDirectory
        $catalog = Get-LabValue $h @'
SELECT string_agg(r.rolname || ':' || r.rolsuper || r.rolreplication || r.rolcanlogin || ':' || coalesce(md5(a.rolpassword), '-'), ',' ORDER BY r.rolname)
       || ' slots:' || coalesce((SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots), '')
  FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid
'@
        "$($h.Name)`n$files`n$catalog"
    }
}

# --- Bad input -------------------------------------------------------------------------------------------------

function New-TestCredential([string] $UserName, [string] $Password) {
    [pscredential]::new($UserName, (ConvertTo-SecureString $Password -AsPlainText -Force))
}

# Runs a case; returns every error it gave, terminating or not.
function Invoke-Case([scriptblock] $Run) {
    $ErrorActionPreference = 'Continue'
    $errors = @()
    try { & $Run -WarningAction SilentlyContinue 2>&1 | ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { $errors += $_ } } }
    catch { $errors += $_ }
    $errors
}

# A case that must be refused and change nothing: its errors, the lab's state compared with $State.Baseline (taken
# again afterwards, so that one failure stays one).
function Assert-RefusedUnchanged($Lab, [hashtable] $State, [scriptblock] $Run) {
    $errors = @(Invoke-Case $Run)
    $errors.Count | Should -BeGreaterThan 0 -Because 'the input must be refused'
    Add-ScenarioNote (Format-ErrorSummary $errors[0])
    $after = Get-LabState $Lab
    try { $after | Should -Be $State.Baseline -Because 'a refused input must change nothing' }
    finally { $State.Baseline = $after }
}

# --- Faults ----------------------------------------------------------------------------------------------------

# Slows the host's outgoing traffic (a token bucket on its eth0), so that a copy from it lasts long enough to break.
function Set-LabLinkRate($LabHost, [int] $Mbit = 16) {
    ip netns exec $LabHost.Namespace tc qdisc replace dev eth0 root tbf rate "${Mbit}mbit" burst 32kbit latency 400ms
}
function Clear-LabLinkRate($LabHost) { ip netns exec $LabHost.Namespace tc qdisc del dev eth0 root 2>$null; $global:LASTEXITCODE = 0 }

# A partition between two groups of hosts that each still reach the test runner: blackhole routes both ways.
function Set-LabPartition([object[]] $Side, [object[]] $OtherSide, [ValidateSet('add', 'del')] [string] $Action = 'add') {
    foreach ($a in $Side) {
        foreach ($b in $OtherSide) {
            ip netns exec $a.Namespace ip route $Action blackhole "$($b.Address)/32"
            ip netns exec $b.Namespace ip route $Action blackhole "$($a.Address)/32"
        }
    }
}

function Get-LabSshd($LabHost, [switch] $SessionsOnly) {
    Get-LabProcess $LabHost 'sshd:*' | Where-Object { -not $SessionsOnly -or $_.CommandLine -notlike '*`[listener`]*' }
}

# One signal to every process given, at once; one that ended since it was listed is no error (tar ends when its ssh is
# killed, a session's sshd when its client goes).
function Send-LabSignal([string] $Signal, [int[]] $Ids) {
    if ($Ids.Count -eq 0) { return }
    kill "-$Signal" @Ids 2>$null
    $global:LASTEXITCODE = 0
}

# The named faults, so that a thread job can inject one at the right moment (it dot-sources this file).
function Invoke-LabFault([ValidateSet('KillPostgres', 'KillCopy', 'KillRewind', 'KillParallelCopy', 'CutHost', 'HealHost', 'DropSsh', 'FreezeSshd', 'ThawSshd')] [string] $Fault, $LabHost) {
    switch ($Fault) {
        'KillPostgres' { Stop-PgLabPostgres -LabHost $LabHost }
        'KillRewind' { Send-LabSignal KILL @(Get-LabProcess $LabHost '*/pg_rewind *' | ForEach-Object Id) }
        # pg_basebackup and the WAL streamer it forks: the standby's side of the copy.
        'KillCopy' { Send-LabSignal KILL @(Get-LabProcess $LabHost '/usr/lib/postgresql/*/pg_basebackup *' | ForEach-Object Id) }
        # -Method Parallel: the tar streams and their ssh clients on the primary.
        'KillParallelCopy' { Send-LabSignal KILL @(@(Get-LabProcess $LabHost 'tar -cf - --null *') + @(Get-LabProcess $LabHost 'ssh -o BatchMode=yes *') | ForEach-Object Id) }
        'CutHost' { Disconnect-PgLabHost -LabHost $LabHost }
        'HealHost' { Connect-PgLabHost -LabHost $LabHost }
        # The per-connection sshd processes die: the connection drops, the host and its listener stay.
        'DropSsh' { Send-LabSignal KILL @(Get-LabSshd $LabHost -SessionsOnly | ForEach-Object Id) }
        'FreezeSshd' { Send-LabSignal STOP @(Get-LabSshd $LabHost | ForEach-Object Id) }
        'ThawSshd' { Send-LabSignal CONT @(Get-LabSshd $LabHost | ForEach-Object Id) }
    }
}

# Injects a fault into -LabHost once -WatchHost runs a process like -When (e.g. the copy has started), -DelaySeconds later;
# with -CopiedMiB, instead, once -CopyDirectory on -WatchHost holds that many MiB outside pg_wal (the copy is under way,
# whatever the machine's load). Returns the job once it watches (loading the lab module in a thread job can take seconds
# on a busy machine: a copy could end before it looked); the job outputs the injection's time, and fails when the
# process had ended before the fault (the fault would not land during what it is meant for).
function Start-LabFault([string] $Fault, $LabHost, $WatchHost, [string] $When, [double] $DelaySeconds = 2, [int] $WaitSeconds = 60,
    [int] $CopiedMiB = 0, [string] $CopyDirectory) {
    $watching = [Threading.ManualResetEventSlim]::new($false)
    $job = Start-ThreadJob -ArgumentList $FaultSuiteFile, $Fault, $LabHost, $WatchHost, $When, $DelaySeconds, $WaitSeconds, $CopiedMiB, $CopyDirectory, $watching -ScriptBlock {
        param($Suite, $Fault, $LabHost, $WatchHost, $When, $DelaySeconds, $WaitSeconds, $CopiedMiB, $CopyDirectory, $Watching)
        . $Suite
        $Watching.Set()
        $seen = Wait-Condition { @(Get-LabProcess $WatchHost $When).Count -gt 0 } -Seconds $WaitSeconds -IntervalMilliseconds 100
        if (-not $seen) { throw "No process like '$When' on $($WatchHost.Name) within $WaitSeconds s: the fault $Fault was not injected." }
        if ($CopiedMiB -gt 0) {
            # The host's files seen from here through its anchor's mount namespace: no process started per look.
            $root = "/proc/$($WatchHost.AnchorPid)/root$CopyDirectory"
            $copied = Wait-Condition { (Get-CopiedBytes $root) -ge $CopiedMiB * 1MB } -Seconds $WaitSeconds -IntervalMilliseconds 100
            if (-not $copied) { throw "$CopyDirectory on $($WatchHost.Name) did not reach $CopiedMiB MiB within $WaitSeconds s: the fault $Fault was not injected." }
        }
        else { Start-Sleep -Milliseconds ($DelaySeconds * 1000) }
        if (@(Get-LabProcess $WatchHost $When).Count -eq 0) { throw "The process like '$When' on $($WatchHost.Name) had ended before the fault ${Fault}: it would not land during it." }
        $at = [DateTime]::UtcNow
        Invoke-LabFault $Fault $LabHost
        $at
    }
    if (-not $watching.Wait([TimeSpan]::FromSeconds(120))) { $job | Remove-Job -Force; throw "The injector of $Fault did not start within 120 s." }
    $job
}

# Bytes of the files under -Root, pg_wal left out (pg_basebackup makes each WAL segment at its full size at once).
function Get-CopiedBytes([string] $Root) {
    $options = [IO.EnumerationOptions]@{ RecurseSubdirectories = $true; IgnoreInaccessible = $true; AttributesToSkip = 0 }
    $sum = 0L
    try {
        foreach ($f in [IO.DirectoryInfo]::new($Root).EnumerateFiles('*', $options)) {
            if ($f.FullName.Contains('/pg_wal/')) { continue }
            try { $sum += $f.Length } catch { }
        }
    }
    catch [IO.IOException], [UnauthorizedAccessException] { }
    $sum
}

# --- Acknowledged writes ---------------------------------------------------------------------------------------

# A client that follows the primary (a multi-host Npgsql string with read-write target) and inserts ids one at a
# time, keeping every id whose INSERT returned: what the cluster acknowledged. A failed insert is retried with the
# same id on a new connection. Bounded by -MaxSeconds even if never stopped.
function Start-AckedWriteLoad([string] $ConnectionString, [int] $FirstId, [int] $MaxSeconds = 180) {
    $stop = [Threading.ManualResetEventSlim]::new($false)
    # Shared with the job (same process): Wait-AckedWrites watches it grow.
    $ackedSoFar = [Collections.Concurrent.ConcurrentQueue[int]]::new()
    $job = Start-ThreadJob -ArgumentList $ConnectionString, $FirstId, $MaxSeconds, $stop, $ackedSoFar -ScriptBlock {
        param($ConnectionString, $FirstId, $MaxSeconds, $Stop, $AckedSoFar)
        $acked = [Collections.Generic.List[int]]::new()
        # When each insert returned, and when each one failed (UTC): a fault's timeline as the client saw it.
        $ackedAt = [Collections.Generic.List[datetime]]::new(); $failedAt = [Collections.Generic.List[datetime]]::new()
        $failures = 0; $id = $FirstId; $connection = $null; $errors = [Collections.Generic.List[string]]::new()
        $deadline = [DateTime]::UtcNow.AddSeconds($MaxSeconds)
        while (-not $Stop.IsSet -and [DateTime]::UtcNow -lt $deadline) {
            try {
                if ($null -eq $connection) { $connection = [Npgsql.NpgsqlConnection]::new($ConnectionString); $connection.Open() }
                $cmd = $connection.CreateCommand()
                $cmd.CommandText = "INSERT INTO acked (id) VALUES ($id) ON CONFLICT DO NOTHING"
                $null = $cmd.ExecuteNonQuery()
                $acked.Add($id); $ackedAt.Add([DateTime]::UtcNow); $AckedSoFar.Enqueue($id); $id++
                $null = $Stop.Wait(5)
            }
            catch {
                $failures++; $failedAt.Add([DateTime]::UtcNow)
                # The first few reasons, for the report: a load that never writes must say why.
                if ($errors.Count -lt 3 -and $errors -notcontains "$_") { $errors.Add("$_") }
                if ($connection) { $connection.Dispose(); $connection = $null }
                $null = $Stop.Wait(100)
            }
        }
        if ($connection) { $connection.Dispose() }
        [pscustomobject]@{ Acked = $acked.ToArray(); AckedAt = $ackedAt.ToArray(); Failures = $failures; FailedAt = $failedAt.ToArray(); Errors = $errors.ToArray() }
    }
    [pscustomobject]@{ Job = $job; Stop = $stop; AckedSoFar = $ackedSoFar; Result = $null }
}

# Waits until the load has had at least -Count inserts acknowledged, so a fault never hits a client that has not
# written yet; throws with the load's own reasons when it cannot write within -Seconds.
function Wait-AckedWrites($Load, [int] $Count = 20, [int] $Seconds = 30) {
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while ($Load.AckedSoFar.Count -lt $Count) {
        # A thread job waits as NotStarted while the throttle's threads are busy: only an ended job cannot write.
        if ([DateTime]::UtcNow -gt $deadline -or $Load.Job.State -notin 'Running', 'NotStarted') {
            $result = Stop-AckedWriteLoad $Load
            throw "The write load had $($result.Acked.Count) inserts acknowledged after $Seconds s, not $Count (refused $($result.Failures): $($result.Errors -join ' | '))."
        }
        Start-Sleep -Milliseconds 50
    }
}

# Safe to call twice: the second call returns what the first received.
function Stop-AckedWriteLoad($Load) {
    if ($null -ne $Load.Result) { return $Load.Result }
    $Load.Stop.Set()
    $result = $Load.Job | Wait-Job -Timeout 60 | Receive-Job
    $Load.Job | Remove-Job -Force
    if ($null -eq $result) { throw 'The write load did not stop within 60 s.' }
    $Load.Result = $result
    $result
}

function New-AckedTable($LabHost) { Invoke-PgLabSql -LabHost $LabHost -Sql 'CREATE TABLE IF NOT EXISTS acked (id int PRIMARY KEY, at timestamptz DEFAULT now())' | Out-Null }

# Acknowledged ids that are not on the host.
function Get-MissingIds($LabHost, [int[]] $Ids) {
    if ($Ids.Count -eq 0) { return @() }
    $present = [Collections.Generic.HashSet[int]]::new()
    foreach ($line in (Invoke-PgLabSql -LabHost $LabHost -Sql "SELECT id FROM acked WHERE id = ANY('{$($Ids -join ',')}'::int[])") -split "`n") {
        if ($line) { $null = $present.Add([int] $line) }
    }
    @($Ids | Where-Object { -not $present.Contains($_) })
}

# --- Secrets ---------------------------------------------------------------------------------------------------

# Samples every process's command line on the machine (the lab's hosts share its PID namespace) and, over SQL as
# -Credential, pg_stat_activity.query of every host, every 50 ms, until stopped; keeps where a secret showed up.
function Start-SecretSampler([string[]] $Secrets, $Lab, [pscredential] $Credential, [int] $MaxSeconds = 600) {
    $stop = [Threading.ManualResetEventSlim]::new($false)
    $targets = @($Lab.Hosts | ForEach-Object {
        $b = [Npgsql.NpgsqlConnectionStringBuilder]::new()
        $b.Host = $_.Address; $b.Username = $Credential.UserName; $b.Password = Get-PlainPassword $Credential
        $b.Timeout = 1; $b.Pooling = $false; $b.ApplicationName = 'secret-sampler'
        $b.ConnectionString
    })
    $job = Start-ThreadJob -ArgumentList $Secrets, $targets, $MaxSeconds, $stop -ScriptBlock {
        param($Secrets, $Targets, $MaxSeconds, $Stop)
        $hits = [Collections.Generic.List[string]]::new()
        $times = [Collections.Generic.List[datetime]]::new()
        $samples = 0; $queries = 0
        $connections = @{}
        $deadline = [DateTime]::UtcNow.AddSeconds($MaxSeconds)
        while (-not $Stop.IsSet -and [DateTime]::UtcNow -lt $deadline) {
            foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
                if (-not [char]::IsDigit($dir[6])) { continue }
                $text = try { [IO.File]::ReadAllText("$dir/cmdline") } catch { '' }
                foreach ($s in $Secrets) { if ($text.Contains($s)) { $hits.Add("ps: $($text.Replace([char]0, ' '))") } }
            }
            foreach ($target in $Targets) {
                try {
                    if (-not $connections[$target]) { $c = [Npgsql.NpgsqlConnection]::new($target); $c.Open(); $connections[$target] = $c }
                    $cmd = $connections[$target].CreateCommand()
                    $cmd.CommandText = 'SELECT coalesce(string_agg(query, chr(10)), '''') FROM pg_catalog.pg_stat_activity'
                    $text = [string] $cmd.ExecuteScalar()
                    $queries++
                    foreach ($s in $Secrets) { if ($text.Contains($s)) { $hits.Add("pg_stat_activity: $text") } }
                }
                catch { if ($connections[$target]) { $connections[$target].Dispose() }; $connections[$target] = $null }
            }
            $samples++
            $times.Add([DateTime]::UtcNow)
            $null = $Stop.Wait(50)
        }
        foreach ($c in $connections.Values) { if ($c) { $c.Dispose() } }
        [pscustomobject]@{ Samples = $samples; Queries = $queries; Hits = $hits.ToArray(); Times = $times.ToArray() }
    }
    [pscustomobject]@{ Job = $job; Stop = $stop; Result = $null }
}


function Stop-SecretSampler($Sampler) {
    $Sampler.Stop.Set()
    $result = $Sampler.Job | Wait-Job -Timeout 60 | Receive-Job
    $Sampler.Job | Remove-Job -Force
    $result
}

# A secret as it may be written: plain, or escaped as in a passfile (backslash and colon) or a conninfo/SQL literal.
function Get-SecretSpellings([string] $Secret) {
    @($Secret, $Secret.Replace('\', '\\').Replace(':', '\:'), $Secret.Replace("'", "''"), $Secret.Replace('\', '\\').Replace("'", "\'")) | Select-Object -Unique
}

# --- Scenario results ------------------------------------------------------------------------------------------

function Get-ScenarioEntry {
    # By the test's full path: two Describes of one file (a -ForEach over layouts) may hold Its of the same name.
    $key = $____Pester.CurrentTest.ExpandedPath
    if (-not $ScenarioData[$key]) { $ScenarioData[$key] = @{ Notes = [Collections.Generic.List[string]]::new(); Counts = @{} } }
    $ScenarioData[$key]
}

# What this run measured for the current scenario (a time, a count): shown in the report's Measured column.
function Add-ScenarioNote([string] $Text) { (Get-ScenarioEntry).Notes.Add($Text) }

# A number the report sums: AckedWrites, AckedLost (where the mode promises none), AsyncLost, SecretHits, ...
function Set-ScenarioCount([string] $Name, [long] $Value) { (Get-ScenarioEntry).Counts[$Name] = $Value }

# An error message for the report: a long quoted command line shortened to '…', the first line and the last.
function Format-ErrorSummary($ErrorRecord) {
    $lines = @("$ErrorRecord" -split "`n" | ForEach-Object { $_.Trim() } | Where-Object { $_ })
    $first = $lines[0] -replace "'(?:[^']|'\\'')*(?:'[^' ]*')*[^']*'(?= (exited|was killed|did not finish|could not|was not run|\(after))", "'…'"
    $first = $first -replace " '(sh -c|/usr)[^\n]*?'(?=:| \(after| exited| was killed)", " '…'"
    if ($lines.Count -gt 1) { "$first … $($lines[-1])" } else { $first }
}

# In AfterAll: every test of this block with its outcome, merged into out/reliability/<block>.json (a test the
# tag filter left out keeps its last result, with the time it was run). A test tagged with an area is in that one.
function Save-ScenarioResults([ValidateSet('Fault', 'WrongTarget', 'BadInput', 'Secret', 'Access')] [string] $Area) {
    $areas = 'Fault', 'WrongTarget', 'BadInput', 'Secret', 'Access'
    $block = $____Pester.CurrentBlock
    $null = New-Item -ItemType Directory -Force $ReliabilityDirectory
    $path = Join-Path $ReliabilityDirectory (($block.ExpandedName -replace '[^A-Za-z0-9]+', '-').Trim('-') + '.json')
    $previous = @{}
    if (Test-Path $path) { foreach ($e in (Get-Content -Raw $path | ConvertFrom-Json).Scenarios) { $previous[$e.Name] = $e } }
    $order = 0
    $scenarios = foreach ($t in $block.Tests) {
        $order++
        $testArea = @(@($t.Tag | Where-Object { $_ -in $areas }) + $Area)[0]
        if (-not $t.ShouldRun) {
            if ($previous[$t.ExpandedName]) { $previous[$t.ExpandedName].Order = $order; $previous[$t.ExpandedName] }
            else { [pscustomobject]@{ Name = $t.ExpandedName; Order = $order; Area = $testArea; Tags = @($t.Tag); Result = 'not run yet'; Message = ''; Notes = @(); Counts = @{}; RunAt = $null; Seconds = $null } }
            continue
        }
        $message = "$(@($t.ErrorRecord)[0])" -replace '\s+', ' '
        $data = $ScenarioData[$t.ExpandedPath]
        [pscustomobject]@{
            Name = $t.ExpandedName; Order = $order; Area = $testArea; Tags = @($t.Tag)
            Result = if ($t.Skipped) { 'skipped' } elseif ($t.Passed) { 'passed' } else { 'failed' }
            Message = if ($message.Length -gt 300) { $message.Substring(0, 300) + ' ...' } else { $message }
            Notes = @(if ($data) { $data.Notes }); Counts = if ($data) { $data.Counts } else { @{} }
            RunAt = [DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm') + ' UTC'; Seconds = [math]::Round($t.UserDuration.TotalSeconds, 1)
        }
    }
    [pscustomobject]@{ Describe = $block.ExpandedName; File = [IO.Path]::GetFileName($block.BlockContainer.Item); Area = $Area; Scenarios = @($scenarios) } |
        ConvertTo-Json -Depth 6 | Set-Content -Path $path
}

if ($WithModule) { Import-PgReplicationModule }
