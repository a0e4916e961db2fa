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
        function Assert-NothingStartsAsPrimary {
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
        $injector = Start-LabFault $Fault $faultHost -WatchHost $h2 -When $copyProcess -DelaySeconds 2
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
        Add-ScenarioNote ('failed {0:0.0} s after the fault (timeout {1} s): {2}' -f ($endedAt - $injectedAt).TotalSeconds, $timeoutSeconds, (Format-ErrorSummary $failed[0]))
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
