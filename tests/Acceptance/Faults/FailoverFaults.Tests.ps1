# Issue 9, faults 2 to 6: the primary killed under an asynchronous and a synchronous write load, the old primary
# restarted after a failover, the primary partitioned from its standbys while alive, and switchovers under load.
# A client that follows the primary records every acknowledged id; each scenario counts those missing on the new
# primary. One lab, one story: each It starts from the cluster the one before left.
BeforeDiscovery { . "$PSScriptRoot/FaultSuite.ps1" }

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Faults around a failover' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Upstream, Upstream, Upstream -NoCluster 2, 3
        $h1, $h2, $h3 = $lab.Hosts
        $admin = $h1.AdminCredential    # the standbys are copies: the same roles and passwords
        $replication = New-ReplicationCredential
        $n1, $n2, $n3 = Initialize-LabCluster $lab $replication
        $nodes = @($n1, $n2, $n3)
        New-AckedTable $h1
        $client = "$(Get-PgConnectionString $nodes -Format Npgsql -TargetSessionAttribute ReadWrite -Credential $admin -IncludePassword -WarningAction SilentlyContinue)"
        $script:nextId = 1

        function Get-LabHostOf($Node) { $lab.Hosts | Where-Object Name -EQ $Node.Name }
        function Get-NodeOf($LabHost) { $nodes | Where-Object Name -EQ $LabHost.Name }
        # Hosts whose server runs as a primary: a fault must end with exactly one.
        function Get-WritableHosts { @($lab.Hosts | Where-Object { (Get-LabValue $_ 'SELECT pg_is_in_recovery()') -eq 'f' }) }
        # Writes for a few seconds (and at least 20 acknowledged inserts), runs the fault and what follows it (-Action), writes a little more; returns what
        # -Action returned and the acknowledged ids.
        function Invoke-UnderLoad([scriptblock] $Action, [int] $WarmupSeconds = 3) {
            $load = Start-AckedWriteLoad $client -FirstId $script:nextId
            try {
                Start-Sleep -Seconds $WarmupSeconds
                Wait-AckedWrites $load
                $actionResult = & $Action
                Start-Sleep -Seconds 2
            }
            finally { $written = Stop-AckedWriteLoad $load }
            $script:nextId = ($written.Acked | Measure-Object -Maximum).Maximum + 1000
            [pscustomobject]@{ Result = $actionResult; Acked = $written.Acked; Failures = $written.Failures; Errors = $written.Errors }
        }
        # After a crash under load: the promoted node is the one writable primary; returns the acknowledged ids it
        # lacks, counted for the report under the two names given.
        function Measure-LostWrites($Run, [string] $AckedCount, [string] $LostCount, [string] $Mode) {
            $new = $Run.Result
            $new.Role | Should -Be 'Primary'
            Assert-OnePrimary $new
            $lost = @(Get-MissingIds (Get-LabHostOf $new) $Run.Acked)
            Set-ScenarioCount $AckedCount $Run.Acked.Count
            Set-ScenarioCount $LostCount $lost.Count
            Add-ScenarioNote "$($lost.Count) of $($Run.Acked.Count) acknowledged writes lost ($Mode); $($Run.Failures) inserts refused during the failover; promoted $($new.Name)"
            $Run.Acked.Count | Should -BeGreaterThan 10 -Because "the load must write before the crash (refused: $($Run.Errors -join ' | '))"
            $lost
        }
        function Assert-OnePrimary($Expected) {
            $writable = Get-WritableHosts
            $writable.Name | Should -Be @($Expected.Name) -Because 'a fault must end with exactly one writable primary'
        }
        # Switchovers between the current primary and one standby, the third node a sibling that follows each time.
        function Invoke-Switchovers([int] $Rounds) {
            $other = $nodes | Where-Object Name -NE $primary.Name | Select-Object -First 1
            $lostTotal = 0; $ackedTotal = 0; $times = @()
            foreach ($round in 1..$Rounds) {
                $from = $primary; $to = $other
                $sibling = @($nodes | Where-Object { $_.Name -notin $from.Name, $to.Name })
                $run = Invoke-UnderLoad -WarmupSeconds 2 {
                    $clock = [Diagnostics.Stopwatch]::StartNew()
                    $to | Invoke-PgSwitchover -Primary $from -Sibling $sibling -Confirm:$false
                    $script:switchSeconds = $clock.Elapsed.TotalSeconds
                }
                $times += $switchSeconds
                $run.Result.Name | Should -Be $to.Name
                $run.Result.PromotionSummary.Siblings.Streaming | Should -Be @($true, $true) -Because "$($run.Result.PromotionSummary.Siblings)"
                Assert-OnePrimary $to
                $lost = @(Get-MissingIds (Get-LabHostOf $to) $run.Acked)
                $lostTotal += $lost.Count; $ackedTotal += $run.Acked.Count
                $lost | Should -BeNullOrEmpty -Because "round $round lost acknowledged writes"
                $script:primary = $to; $other = $from
            }
            Set-ScenarioCount AckedWrites $ackedTotal
            Set-ScenarioCount AckedLost $lostTotal
            Add-ScenarioNote ('{0} switchovers, {1:0.0} to {2:0.0} s each; {3} of {4} acknowledged writes lost' -f $Rounds, ($times | Measure-Object -Minimum).Minimum, ($times | Measure-Object -Maximum).Maximum, $lostTotal, $ackedTotal)
            foreach ($r in $nodes | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
        }
    }
    AfterAll {
        Save-ScenarioResults Fault
        Remove-PgLab -Lab $lab
    }

    It 'primary killed (kill -9) under an asynchronous write load -> Invoke-PgPromotion promotes the most advanced standby, the other follows, and the acknowledged writes lost are measured' {
        $run = Invoke-UnderLoad {
            Stop-PgLabPostgres -LabHost $h1
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $out = $n2, $n3 | Invoke-PgPromotion -Confirm:$false -Verbose 4>&1
            $new = $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $script:promotionLog = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n"
            Add-ScenarioNote ('promoted {0} in {1:0.0} s, writable after {2:0.0} s' -f $new.Name, $clock.Elapsed.TotalSeconds, $new.PromotionSummary.TimeToWritable.TotalSeconds)
            $new
        }
        $new = $run.Result
        $new.PromotionSummary.Siblings.Streaming | Should -Be @($true) -Because "$($new.PromotionSummary.Siblings)"
        # The module's passfiles name each upstream: the sibling's has no line for the new primary yet, so it goes the
        # SSH way, which adds one.
        $sibling = @($n2, $n3) | Where-Object Name -NE $new.Name
        $promotionLog | Should -Match "$([regex]::Escape($sibling.Name)): re-pointed over SSH, not over SQL alone: .*has no line for replicator@$([regex]::Escape((Get-LabHostOf $new).Address))"
        # Asynchronous replication promises nothing about the last commits: the window is measured, not asserted.
        $null = Measure-LostWrites $run AsyncAcked AsyncLost 'asynchronous'
        $script:primary = $new
    }

    It 'old primary restarted after a failover -> Test-PgReplication and Get-PgReplicationTopology report two primaries, and Restore-PgStandby rejoins it' {
        Start-PgLabPostgres -LabHost $h1      # not fenced: it comes back as a primary
        Get-LabValue $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        $health = $nodes | Test-PgReplication
        $stray = $health | Where-Object Standby -EQ $h1.Name
        $stray.State | Should -Be 'split-brain'
        $stray.IsHealthy | Should -BeFalse
        $stray.Failing | Should -Match 'read-only'
        $nodes | Test-PgReplication -Quiet | Should -BeFalse
        $rows = Get-PgReplicationTopology $nodes -WarningAction SilentlyContinue
        ($rows | Where-Object Name -In $h1.Name, $primary.Name).Status | Should -Be @('split-brain', 'split-brain')
        Add-ScenarioNote "Test-PgReplication: $($stray.Standby) $($stray.State), failing '$($stray.Failing)'; topology: split-brain on both"

        $clock = [Diagnostics.Stopwatch]::StartNew()
        $back = $n1 | Restore-PgStandby -Primary $primary -Confirm:$false
        Add-ScenarioNote ('rejoined with pg_rewind in {0:0.0} s' -f $clock.Elapsed.TotalSeconds)
        $back.Role | Should -Be 'Standby'
        Assert-OnePrimary $primary
        foreach ($r in $nodes | Test-PgReplication) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }

    It 'primary killed under a write load with synchronous replication set by Set-PgMasterConfig -SynchronousStandby -> 0 acknowledged writes lost after Invoke-PgPromotion' {
        $standbys = @($nodes | Where-Object Name -NE $primary.Name)
        $names = @($standbys | ForEach-Object { Get-StandbyAppName (Get-LabHostOf $_) })
        $primary | Set-PgMasterConfig -ReplicationUser replicator -Standby $standbys -SynchronousStandby $names -SynchronousMode Any -Confirm:$false | Out-Null
        $primaryHost = Get-LabHostOf $primary
        Wait-Condition { (Get-LabValue $primaryHost "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')") -eq '2' } |
            Should -BeTrue -Because 'both standbys must be synchronous (quorum) before the crash'
        # The standbys' passfiles gain the classic guide's wildcard line for the role (same password): whichever is
        # promoted, the other's login already serves it, and it is re-pointed over SQL alone (ALTER SYSTEM, a reload).
        $escaped = (Get-PlainPassword $replication).Replace('\', '\\').Replace(':', '\:')
        foreach ($s in $standbys) {
            Invoke-PgLabCommand -LabHost (Get-LabHostOf $s) -ArgumentList sh, -c, 'cat >> /var/lib/postgresql/.pgpass' -InputText "*:*:*:replicator:$escaped`n" | Out-Null
        }
        $run = Invoke-UnderLoad {
            Stop-PgLabPostgres -LabHost $primaryHost
            $out = $standbys | Invoke-PgPromotion -Confirm:$false -Verbose 4>&1
            $script:promotionLog = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n"
            $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        }
        Measure-LostWrites $run AckedWrites AckedLost 'synchronous, ANY 1 of 2' | Should -BeNullOrEmpty
        $sibling = $standbys | Where-Object Name -NE $run.Result.Name
        $run.Result.PromotionSummary.Siblings.Streaming | Should -Be @($true) -Because "$($run.Result.PromotionSummary.Siblings)"
        $promotionLog | Should -Match "$([regex]::Escape($sibling.Name)): set primary_conninfo with ALTER SYSTEM and reloaded it"
        $promotionLog | Should -Not -Match "$([regex]::Escape($sibling.Name)): re-pointed over SSH"
        Add-ScenarioNote "the sibling $($sibling.Name) was re-pointed over SQL alone (its passfile's wildcard line serves the new primary)"
        $script:crashed = $primary
        $script:primary = $run.Result
    }

    It 'primary partitioned from its standbys while alive -> Invoke-PgPromotion refuses without -Force, and with -FenceOldPrimary the old primary is stopped and can only come back read-only' {
        $primaryHost = Get-LabHostOf $primary
        $standby = $nodes | Where-Object { $_.Name -notin $primary.Name, $crashed.Name }
        $standbyHost = Get-LabHostOf $standby
        Set-LabPartition @($primaryHost) @($standbyHost)
        try {
            { $standby | Invoke-PgPromotion -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'PgReplication.PrimaryStillAlive*'
            Get-LabValue $standbyHost 'SELECT pg_is_in_recovery()' | Should -Be 't'
            Assert-OnePrimary $primary

            $clock = [Diagnostics.Stopwatch]::StartNew()
            $new = $standby | Invoke-PgPromotion -FenceOldPrimary -Confirm:$false
            Add-ScenarioNote ('refused without -Force; with -FenceOldPrimary promoted {0} in {1:0.0} s (the fast shutdown of the fenced primary waits for its cut-off WAL sender, then immediate)' -f $new.Name, $clock.Elapsed.TotalSeconds)
            $new.PromotionSummary.OldPrimaryFenced | Should -BeTrue
            Test-PgLabPostgres -LabHost $primaryHost | Should -BeFalse
            Start-PgLabPostgres -LabHost $primaryHost     # an admin or an init system starts it again
            Get-LabValue $primaryHost 'SELECT pg_is_in_recovery()' | Should -Be 't'
            { Invoke-PgLabSql -LabHost $primaryHost -Sql 'CREATE TABLE second_primary (x int)' } | Should -Throw '*read-only*'
            Assert-OnePrimary $new
        }
        finally { Set-LabPartition @($primaryHost) @($standbyHost) -Action del }
        $script:fenced = $primary
        $script:primary = $new
    }

    It 'the crashed and the fenced primaries after the faults -> Restore-PgStandby rejoins both and Test-PgReplication finds every standby healthy' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $back = $crashed, $fenced | Restore-PgStandby -Primary $primary -Confirm:$false
        Add-ScenarioNote ('both rejoined in {0:0.0} s' -f $clock.Elapsed.TotalSeconds)
        $back.Role | Should -Be @('Standby', 'Standby')
        Assert-OnePrimary $primary
        $health = @($nodes | Test-PgReplication)
        $health.Count | Should -Be 2
        foreach ($r in $health) { $r.IsHealthy | Should -BeTrue -Because "$($r.Standby): $($r.Checks -join '; ')" }
    }

    It 'switchover under a write load, there and back -> 0 acknowledged writes lost, the sibling follows each time' {
        Invoke-Switchovers 2
    }

    It 'switchover under a write load, 10 times back and forth -> 0 acknowledged writes lost, the sibling follows each time' -Tag Full {
        Invoke-Switchovers 10
    }
}
