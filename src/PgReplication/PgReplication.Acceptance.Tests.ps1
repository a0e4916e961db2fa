<#
    The standard acceptance checks of a streaming replication cluster, run by Invoke-PgReplicationAcceptance
    (which reads the servers and passes the readings in as this container's data). Each test carries a tag
    that -ExcludeCheck takes: Connected, Streaming, Lag, Slots, Archiver, Hba, Roles, Synchronous.

    Health: the ReplicationHealth objects of Test-PgReplication, one per standby.
    Audits: one NodeAudit per node (pg_hba trust rules; on primaries roles, slots, sync standbys, archiver).
#>
param(
    [Parameter(Mandatory)] [AllowEmptyCollection()] [object[]] $Health,
    [Parameter(Mandatory)] [AllowEmptyCollection()] [object[]] $Audits,
    [long] $MaxLagBytes = 16MB,
    [double] $MaxLagSeconds = 30
)

BeforeDiscovery {
    $standbys = @($Health | ForEach-Object { @{ R = $_; Name = $_.Standby; Primary = $_.Primary } })
    $nodes = @($Audits | ForEach-Object { @{ A = $_; Name = $_.Name } })
    $primaries = @($Audits | Where-Object { -not $_.Error -and "$($_.Role)" -eq 'Primary' } |
        ForEach-Object { @{ A = $_; Name = $_.Name; Standbys = @($Health | Where-Object Primary -EQ $_.Name) } })
}

Describe 'Node <Name>' -ForEach $nodes {
    It 'answers' -Tag Connected {
        $A.Error | Should -BeNullOrEmpty -Because 'every node of the cluster must be reachable'
    }

    It 'has no trust rule in pg_hba.conf' -Tag Hba {
        $A.TrustRules | Should -BeNullOrEmpty -Because 'trust lets anyone who reaches the port in as any role, with no password'
    }
}

Describe 'Primary <Name>' -ForEach $primaries {
    It 'has at least one standby' -Tag Streaming {
        $Standbys.Count | Should -BeGreaterThan 0 -Because 'no standby was given, and none streams from it'
    }

    It 'has no inactive replication slot' -Tag Slots {
        $A.InactiveSlots | Should -BeNullOrEmpty -Because 'a slot no standby uses holds back WAL until the disk is full'
    }

    It 'archives WAL without failing' -Tag Archiver -Skip:(-not $A.Archiving) {
        $A.ArchiverFailures | Should -Be 0 -Because "archive_command failed on $($A.LastFailedWal) since its last success"
    }

    It 'lets its standbys in as a role that is not a superuser' -Tag Roles {
        $A.SuperuserReplicationRoles | Should -BeNullOrEmpty -Because 'a replication role needs REPLICATION, and a superuser password on every standby is the whole server'
    }

    It 'has its synchronous standbys streaming' -Tag Synchronous -Skip:(-not $A.SynchronousStandbyNames) {
        @($A.SynchronousStandbys).Count | Should -BeGreaterOrEqual $A.SynchronousRequired -Because "synchronous_standby_names is '$($A.SynchronousStandbyNames)': without them commits wait"
    }
}

Describe 'Standby <Name> of <Primary>' -ForEach $standbys {
    It 'streams from its primary' -Tag Streaming {
        $R.State | Should -Be 'streaming' -Because (@($R.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Name): $($_.Message)" }) -join '; ')
    }

    It 'is within the lag thresholds' -Tag Lag {
        $R.LagBytes | Should -Not -BeNullOrEmpty -Because 'the lag of a standby that does not stream is not known'
        $R.LagBytes | Should -BeLessOrEqual $MaxLagBytes -Because "at most $MaxLagBytes bytes of WAL may be unreplayed"
        if ($null -ne $R.ReplayLag) { $R.ReplayLag.TotalSeconds | Should -BeLessOrEqual $MaxLagSeconds -Because "replay may be at most $MaxLagSeconds s behind" }
    }

    It 'uses an active replication slot' -Tag Slots -Skip:(-not $R.SlotName) {
        $R.SlotActive | Should -BeTrue -Because "slot $($R.SlotName) is not in use by the standby"
    }

    It 'passes every check of Test-PgReplication' -Tag Streaming {
        @($R.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Name): $($_.Message)" }) | Should -BeNullOrEmpty
    }
}
