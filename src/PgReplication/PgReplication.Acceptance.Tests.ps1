<#
    The standard acceptance checks of a streaming replication cluster, run by Invoke-PgReplicationAcceptance
    (which reads the servers and passes the readings in as this container's data). Each test carries a tag
    that -ExcludeCheck takes: Connected, Streaming, Lag, Slots, Archiver, Hba, Roles, Synchronous, Passwords, Trigger,
    Files. A security failure's message names the host, what is wrong (never a secret) and the command that fixes it.

    Health: the ReplicationHealth objects of Test-PgReplication, one per standby.
    Audits: one NodeAudit per node (pg_hba trust rules, security findings; on primaries roles, slots, sync standbys,
    archiver).
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

    It 'keeps no replication password in primary_conninfo' -Tag Passwords -Skip:([bool]$A.Error) {
        @($A.SecurityFindings | Where-Object Kind -EQ PasswordInConninfo | ForEach-Object Message) |
            Should -BeNullOrEmpty -Because 'a password in plain text in postgresql.auto.conf or recovery.conf goes wherever the file goes (base backups, copies)'
    }

    It 'has no promote trigger file in a directory anyone can write to' -Tag Trigger -Skip:([bool]$A.Error) {
        @($A.SecurityFindings | Where-Object Kind -EQ TriggerFileInSharedDirectory | ForEach-Object Message) |
            Should -BeNullOrEmpty -Because 'whoever creates that file promotes the standby'
    }

    It 'keeps its configuration and password files from other users' -Tag Files -Skip:([bool]$A.Error) {
        if ($A.FilesError) { Set-ItResult -Skipped -Because $A.FilesError }
        @($A.SecurityFindings | Where-Object Kind -EQ ReadableByOthers | ForEach-Object Message) |
            Should -BeNullOrEmpty -Because 'passwords and access rules are for the server''s OS user only'
    }
}

Describe 'Primary <Name>' -ForEach $primaries {
    It 'has at least one standby' -Tag Streaming {
        $Standbys.Count | Should -BeGreaterThan 0 -Because 'no standby was given, and none streams from it'
    }

    It 'has no inactive replication slot' -Tag Slots {
        $A.InactiveSlots | Should -BeNullOrEmpty -Because 'a slot no standby uses holds back WAL until the disk is full'
    }

    It 'keeps no slot that serves no known standby' -Tag Slots {
        # Known: the standbys given (or found) whose slot Test-PgReplication named. A physical slot of anyone else, and a
        # logical slot nobody reads, hold back WAL for no one the cluster knows.
        $known = @($Standbys | Where-Object StandbyNode | ForEach-Object SlotName | Where-Object { $_ })
        @($A.Slots | Where-Object { ($_.SlotType -eq 'physical' -and $_.SlotName -notin $known) -or ($_.SlotType -eq 'logical' -and -not $_.Active) } |
            ForEach-Object { "$($_.SlotName) ($($_.SlotType), $(if ($_.Serves) { "used by $($_.Serves), not a given standby" } else { 'in use by no one' }), $($_.RetainedBytes) bytes of WAL kept)" }) |
            Should -BeNullOrEmpty -Because "each holds back WAL on $($A.Name); drop it with Remove-PgReplicationSlot, or give its standby"
    }

    It 'archives WAL without failing' -Tag Archiver -Skip:(-not $A.Archiving) {
        $A.ArchiverFailures | Should -Be 0 -Because "archive_command failed on $($A.LastFailedWal) since its last success"
    }

    It 'lets its standbys in as a role that is not a superuser' -Tag Roles {
        $fix = @($A.SecurityFindings | Where-Object Kind -EQ SuperuserReplicationRole | ForEach-Object Message) -join ' '
        $A.SuperuserReplicationRoles | Should -BeNullOrEmpty -Because "a replication role needs REPLICATION, and a superuser password on every standby is the whole server ($fix)"
    }

    It 'admits replication with scram-sha-256 only (no trust, md5 or password line)' -Tag Hba {
        @($A.SecurityFindings | Where-Object Kind -EQ WeakReplicationLine | ForEach-Object Message) |
            Should -BeNullOrEmpty -Because 'a replication login copies the whole cluster'
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
        # A delayed standby (recovery_min_apply_delay) replays late on purpose: its LagBytes is what it has not received.
        $allowed = $MaxLagSeconds + $(if ($R.ApplyDelay) { $R.ApplyDelay.TotalSeconds } else { 0 })
        if ($null -ne $R.ReplayLag) { $R.ReplayLag.TotalSeconds | Should -BeLessOrEqual $allowed -Because "replay may be at most $allowed s behind" }
    }

    It 'uses an active replication slot' -Tag Slots -Skip:(-not $R.SlotName) {
        $R.SlotActive | Should -BeTrue -Because "slot $($R.SlotName) is not in use by the standby"
    }

    It 'passes every check of Test-PgReplication' -Tag Streaming {
        @($R.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Name): $($_.Message)" }) | Should -BeNullOrEmpty
    }
}
