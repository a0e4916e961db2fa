# Issue 21, bad input of the day-two cmdlets (password rotation, TLS): each value below is refused before anything
# changes (every config file and passfile of every host hashed, and the roles and slots listed, before and after).
BeforeDiscovery {
    . "$PSScriptRoot/FaultSuite.ps1"
    $refusals = @(
        # Set-PgReplicationPassword: the password goes into passfiles, the role into conninfo.
        @{ Case = 'Set-PgReplicationPassword password with LF'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' "new`npass") -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword password with CR'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' "new`rpass") -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword role name with LF'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential "repl`nicator" (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword for a role that does not exist'; Run = { $cluster | Set-PgReplicationPassword -Credential (New-TestCredential 'nosuchrole' (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword given only the standby (no primary)'; Run = { $cluster[1] | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword given the primary without its streaming standby'; Run = { $cluster[0] | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' (New-OddPassword)) -Confirm:$false } }
        @{ Case = 'Set-PgReplicationPassword given the primary of another cluster too'; Run = { @($cluster) + $stranger | Set-PgReplicationPassword -Credential (New-TestCredential 'replicator' (New-OddPassword)) -Confirm:$false } }
    )
}

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Bad input: day two' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 3 -Layout Debian, Debian, Upstream -NoCluster 2
        $h1, $h2, $h3 = $lab.Hosts
        $cluster = Initialize-LabCluster $lab (New-ReplicationCredential) -Standbys $h2
        $stranger = New-LabNode $lab $h3 -Credential $h3.AdminCredential
        $state = @{ Baseline = Get-LabState $lab }
    }
    AfterAll {
        Save-ScenarioResults BadInput
        Remove-PgLab -Lab $lab
    }

    It '<Case> -> refused, nothing changed' -ForEach $refusals {
        Assert-RefusedUnchanged $lab $state $Run
        Wait-Streaming $h2 $h1.Address -Seconds 10 | Should -BeTrue -Because 'the standby must still stream'
    }
}
