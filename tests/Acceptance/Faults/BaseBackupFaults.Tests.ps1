# Issue 9, faults 1: a base backup broken by a crash on either side, a cut network, a dropped SSH connection or a
# frozen sshd ends within its timeout with an error naming the host, leaves nothing that starts as a primary, and
# the same command run again succeeds. The copy is slowed down (a token bucket on the primary's link) so that the
# fault lands in the middle of it.
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Faults during a base backup' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 2 -Layout Upstream, Upstream -NoCluster 2
        $h1, $h2 = $lab.Hosts
        $primary = New-LabNode $lab $h1
        $primary | New-PgReplicationUser -Credential (New-ReplicationCredential) | Set-PgMasterConfig -Standby $h2.Address -Restart -Confirm:$false | Out-Null
        $copyProcess = '/usr/lib/postgresql/*/pg_basebackup *'
        $timeoutSeconds = 120
        # The fault lands once a quarter of the databases is on the standby: the copy is under way, and (at the slowed
        # rate) seconds from its end whatever the machine's load. A timer after the process appeared once landed after
        # a copy that had finished.
        $faultAtMiB = [Math]::Max(2, [int](Get-LabValue $h1 'SELECT sum(pg_database_size(oid)) / 1048576 FROM pg_database') / 4)

        # The same copy, again, with the fault healed and at full speed: it must succeed and be a copy of the primary.
        function Assert-RerunSucceeds {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $copy = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Confirm:$false -TimeoutSeconds $timeoutSeconds -ErrorVariable rerunErrors -ErrorAction SilentlyContinue
            $rerunErrors | Should -BeNullOrEmpty -Because 'the rerun must succeed'
            $copy.SystemIdentifier | Should -Be $primary.SystemIdentifier
            Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList "$($h2.BinDirectory)/pg_controldata", $h2.DataDirectory | Should -Match "system identifier:\s+$($primary.SystemIdentifier)"
            Add-ScenarioNote ('rerun succeeded in {0:0.0} s' -f $clock.Elapsed.TotalSeconds)
            $copy
        }
        # What a failed copy may leave: nothing, a copy without pg_control, or (its connection lost) one finished on the host, marked a standby.
        # A copy whose connection was lost goes on on the host, and its wrapper marks it a standby (or, when pg_basebackup
        # failed, ends its WAL streamer, which outlives a parent killed by a signal, and removes pg_control): what it
        # leaves is seen once the wrapper has ended (pg_basebackup writes pg_control before its WAL stream and manifest end).
        function Assert-NothingStartsAsPrimary {
            Wait-Condition { @(Get-LabProcess $h2 'sh -c p=$1; m=$2; c=$3; d=$4; *').Count -eq 0 } -Seconds 150 | Should -BeTrue -Because 'the copy left running on the host ends'
            Wait-Condition { @(Get-LabProcess $h2 $copyProcess).Count -eq 0 } -Seconds 15 | Should -BeTrue -Because 'no pg_basebackup (nor its WAL streamer) is left running'
            $state = Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'test -f "$1/global/pg_control" && echo control; test -f "$1/standby.signal" && echo standby; true', sh, $h2.DataDirectory
            if ($state -match 'control') { $state | Should -Match 'standby' -Because 'a finished copy without standby.signal would start as a second primary' }
        }
        function Reset-Standby {
            Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, 'find "$1" -mindepth 1 -delete', sh, $h2.DataDirectory | Out-Null
        }
    }
    AfterAll {
        Save-ScenarioResults Fault
        Remove-PgLab -Lab $lab
    }

    It '<Scenario> -> Invoke-PgBaseBackup fails within its timeout naming the standby, leaves no copy that starts as a primary, and a rerun succeeds' -ForEach @(
        @{ Scenario = 'kill -9 of the primary during a base backup'; Fault = 'KillPostgres'; On = 'primary'; Heal = 'StartPostgres' }
        @{ Scenario = 'kill -9 of pg_basebackup on the standby during a base backup'; Fault = 'KillCopy'; On = 'standby'; Heal = $null }
        @{ Scenario = 'network cut of the standby during a base backup'; Fault = 'CutHost'; On = 'standby'; Heal = 'HealHost' }
        @{ Scenario = 'SSH connection to the standby dropped during a base backup'; Fault = 'DropSsh'; On = 'standby'; Heal = $null }
        @{ Scenario = 'sshd of the standby frozen (SIGSTOP) during a base backup'; Fault = 'FreezeSshd'; On = 'standby'; Heal = 'ThawSshd' }
    ) {
        $faultHost = if ($On -eq 'primary') { $h1 } else { $h2 }
        Set-LabLinkRate $h1
        $injector = Start-LabFault $Fault $faultHost -WatchHost $h2 -When $copyProcess -CopiedMiB $faultAtMiB -CopyDirectory $h2.DataDirectory
        try {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $out = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Confirm:$false -TimeoutSeconds $timeoutSeconds -ErrorVariable failed -ErrorAction SilentlyContinue
            $ended = $clock.Elapsed.TotalSeconds
            $endedAt = [DateTime]::UtcNow
            $injectedAt = $injector | Wait-Job -Timeout 90 | Receive-Job
        }
        finally {
            $injector | Remove-Job -Force
            Clear-LabLinkRate $h1
            if ($Heal -eq 'StartPostgres') { Start-PgLabPostgres -LabHost $h1 } elseif ($Heal) { Invoke-LabFault $Heal $faultHost }
        }
        $injectedAt | Should -Not -BeNullOrEmpty -Because 'the fault must have been injected during the copy'
        $out | Should -BeNullOrEmpty
        $failed.Count | Should -Be 1
        Add-ScenarioNote ('fault at {0} MiB copied; failed {1:0.0} s after it (timeout {2} s): {3}' -f $faultAtMiB, ($endedAt - $injectedAt).TotalSeconds, $timeoutSeconds, (Format-ErrorSummary $failed[0]))
        $ended | Should -BeLessThan $timeoutSeconds
        "$($failed[0])" | Should -Match ([regex]::Escape($h2.Address) + '|' + [regex]::Escape($h2.Name))
        $failed[0].TargetObject.Name | Should -Be $h2.Name
        Assert-NothingStartsAsPrimary
        $null = Assert-RerunSucceeds
        Reset-Standby
    }

    It 'sshd of the primary frozen before the copy connects -> Invoke-PgBaseBackup ends at the SSH connect timeout with an error naming the primary, and a rerun succeeds' {
        Invoke-LabFault FreezeSshd $h1
        try {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $out = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Confirm:$false -TimeoutSeconds $timeoutSeconds -ErrorVariable failed -ErrorAction SilentlyContinue
            $ended = $clock.Elapsed.TotalSeconds
        }
        finally { Invoke-LabFault ThawSshd $h1 }
        $out | Should -BeNullOrEmpty
        $failed.Count | Should -Be 1
        "$($failed[0])" | Should -Match ([regex]::Escape($h1.Address))
        Add-ScenarioNote ('failed after {0:0.0} s: {1}' -f $ended, (Format-ErrorSummary $failed[0]))
        $ended | Should -BeLessThan 30
        $null = Assert-RerunSucceeds
    }

    It 'the copy of the last rerun -> Enable-PgHotStandby starts it and it streams' {
        $standby = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup -Primary $primary -Confirm:$false | Enable-PgHotStandby
        $standby.Role | Should -Be 'Standby'
        $health = $primary, $standby | Test-PgReplication | Where-Object Standby -EQ $h2.Name
        $health.IsHealthy | Should -BeTrue -Because ($health.Checks -join '; ')
        # Nothing of the failed runs is left: no process writing into the data directory, no passfile with the password.
        @(Get-LabProcess $h2 $copyProcess) | Should -BeNullOrEmpty
        Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'ls /tmp/pgreplication-*.pgpass 2>/dev/null | xargs -r grep -l "^$1:" ; true', sh, $h1.Address | Should -BeNullOrEmpty
    }
}

# Issue 20: a -Method Parallel copy cut at about half (its streams killed, or the standby's network cut) keeps what it
# wrote, cannot start, and the same command run again resumes it: it sends at most 0.6 x of the data and gives a
# standby with every row. The link is slowed so that the cut lands mid-copy; the full copy's time at the same rate is
# the reference the rerun is measured against (a note: timings are the bench's, the bytes sent are asserted).
Describe 'A parallel copy cut at half, resumed' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 2 -Layout Upstream, Upstream -NoCluster 2
        $h1, $h2 = $lab.Hosts
        $primary = New-LabNode $lab $h1
        $primary | New-PgReplicationUser -Credential (New-ReplicationCredential) | Set-PgMasterConfig -Standby $h2.Address -Restart -Confirm:$false | Out-Null
        Invoke-PgLabCommand -LabHost $h1 -User postgres -TimeoutSeconds 600 -ArgumentList "$($h1.BinDirectory)/pgbench", '-i', '-q', '-s', '20', '-h', '/var/run/postgresql', 'postgres' | Out-Null
        Invoke-PgLabSql -LabHost $h1 -Sql 'CHECKPOINT' | Out-Null
        # About 30 s for the copy at this rate: room for the cut to land at half on a busy machine.
        $mbit = 100
        $copy = @{ Primary = $primary; Method = 'Parallel'; Confirm = $false; TimeoutSeconds = 300 }
        function Reset-Standby {
            if (Test-PgLabPostgres -LabHost $h2) { Stop-PgLabPostgres -LabHost $h2 }
            Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, 'find "$1" -mindepth 1 -delete; sync', sh, $h2.DataDirectory | Out-Null
        }
        function Get-StandbyBytes { [long] (Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'du -sb "$1" | cut -f1', sh, $h2.DataDirectory) }
        # The full copy at the slowed rate: the time and size the cut and the rerun are measured against.
        Set-LabLinkRate $h1 -Mbit $mbit
        try {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $null = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup @copy
            $fullSeconds = $clock.Elapsed.TotalSeconds
        }
        finally { Clear-LabLinkRate $h1 }
        $fullBytes = Get-StandbyBytes
        Reset-Standby
    }
    AfterAll {
        Save-ScenarioResults Fault
        Remove-PgLab -Lab $lab
    }

    It '<Scenario> at about half -> the copy fails and cannot start, and the same command resumes it: at most 0.6 x of the data sent, a standby with every row' -ForEach @(
        @{ Scenario = 'kill -9 of the parallel copy (tar and ssh on the primary)'; Fault = 'KillParallelCopy'; On = 'primary'; Heal = $null }
        @{ Scenario = 'network cut of the standby during a parallel copy'; Fault = 'CutHost'; On = 'standby'; Heal = 'HealHost' }
    ) {
        $faultHost = if ($On -eq 'primary') { $h1 } else { $h2 }
        Reset-Standby
        Set-LabLinkRate $h1 -Mbit $mbit
        # Injected once the standby holds half of what a full copy wrote.
        $injector = Start-ThreadJob -ArgumentList $FaultSuiteFile, $Fault, $faultHost, $h2, ([long] ($fullBytes / 2)) -ScriptBlock {
            param($Suite, $Fault, $FaultHost, $Standby, $Half)
            . $Suite
            $reached = Wait-Condition {
                $bytes = try { [long] (Invoke-PgLabCommand -LabHost $Standby -ArgumentList sh, -c, 'du -sb "$1" 2>/dev/null | cut -f1', sh, $Standby.DataDirectory) } catch { 0 }
                $bytes -ge $Half
            } -Seconds 180 -IntervalMilliseconds 100
            if (-not $reached) { throw "The copy did not reach half ($Half bytes) within 180 s." }
            Invoke-LabFault $Fault $FaultHost
            [DateTime]::UtcNow
        }
        try {
            $out = New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup @copy -ErrorVariable failed -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
            $injectedAt = $injector | Wait-Job -Timeout 200 | Receive-Job
        }
        finally {
            $injector | Remove-Job -Force
            Clear-LabLinkRate $h1
            if ($Heal) { Invoke-LabFault $Heal $faultHost }
        }
        $injectedAt | Should -Not -BeNullOrEmpty -Because 'the fault must have been injected during the copy'
        $out | Should -BeNullOrEmpty
        $failed.Count | Should -Be 1
        "$($failed[0])" | Should -Match ([regex]::Escape($h2.Name) + '|' + [regex]::Escape($h2.Address))
        # What is left cannot start: no pg_control; the state file says whose copy it is.
        $left = Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'test -f "$1/global/pg_control" && echo control; test -f "$1/pgreplication_copy.state" && echo state; du -sb "$1" | cut -f1', sh, $h2.DataDirectory
        $left | Should -Not -Match 'control'
        $left | Should -Match 'state'
        $leftBytes = [long] ($left -split "`n")[-1]
        Add-ScenarioNote ('cut with {0:0} % of the copy on the standby; {1}' -f (100 * $leftBytes / $fullBytes), (Format-ErrorSummary $failed[0]))

        # Rows written after the cut, before the rerun: the resumed copy must have them. (A write to pgbench_accounts
        # would change its file, which is then sent again whole: resuming keeps only files unchanged since the cut copy began.)
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE IF NOT EXISTS after_cut (id int); INSERT INTO after_cut SELECT generate_series(1, 1000); UPDATE pgbench_branches SET bbalance = bbalance + 7' | Out-Null
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Set-LabLinkRate $h1 -Mbit $mbit
        try { $verbose = @(New-LabNode $lab $h2 -NoConnect | Invoke-PgBaseBackup @copy -Verbose -ErrorVariable rerunErrors -ErrorAction SilentlyContinue 4>&1) }
        finally { Clear-LabLinkRate $h1 }
        $rerunSeconds = $clock.Elapsed.TotalSeconds
        $rerunErrors | Should -BeNullOrEmpty
        $resumed = @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'resuming the copy: (\d+) files \(([\d.]+) MiB\) kept.*?, (\d+) files \(([\d.]+) MiB\) to send' })
        $resumed.Count | Should -Be 1 -Because 'the rerun must resume the cut copy, not start again'
        $null = $resumed[0].Message -match 'resuming the copy: (\d+) files \(([\d.]+) MiB\) kept.*?, (\d+) files \(([\d.]+) MiB\) to send'
        $keptMib, $sentMib = [double] $Matches[2], [double] $Matches[4]
        $sentMib / ($keptMib + $sentMib) | Should -BeLessOrEqual 0.6 -Because 'a copy cut at about half resends at most 0.6 x of the data'
        # Whether the cut run's receivers were still alive (a network cut leaves them; a kill of the sender does not).
        $stopped = @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'stopped what an earlier copy left writing' })
        Add-ScenarioNote ('earlier copy''s writers stopped before resuming: {0}' -f $(if ($stopped) { $stopped[0].Message -replace '^.*?\(', '(' } else { 'none alive' }))
        Add-ScenarioNote ('rerun resumed: {0:0.0} MiB kept, {1:0.0} MiB sent, {2:0.0} s against {3:0.0} s for a full copy at the same link rate ({4:0.00} x)' -f $keptMib, $sentMib, $rerunSeconds, $fullSeconds, ($rerunSeconds / $fullSeconds))

        $node = @($verbose | Where-Object { $_ -is [PgReplication.Core.Model.PgNode] })[0]
        $standby = $node | Enable-PgHotStandby
        $health = $primary, $standby | Test-PgReplication | Where-Object Standby -EQ $h2.Name
        $health.IsHealthy | Should -BeTrue -Because ($health.Checks -join '; ')
        # Every row: the same counts and sums on both sides once the standby has replayed what the primary wrote.
        $sql = "SELECT (SELECT count(*) || '/' || sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT count(*) FROM after_cut) || ' ' || (SELECT count(*) || '/' || sum(bbalance) FROM pgbench_branches)"
        $expected = Invoke-PgLabSql -LabHost $h1 -Sql $sql
        $seen = $null
        $same = Wait-Condition { $script:seen = Get-LabValue $h2 $sql; $script:seen -eq $expected } -Seconds 60
        $same | Should -BeTrue -Because "the standby must have every row ($expected), it has $script:seen"
        Add-ScenarioNote "rows checked on the standby: $expected"
        Reset-Standby
    }
}
