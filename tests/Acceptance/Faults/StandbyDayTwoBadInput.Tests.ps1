# Issue 21, bad input to the day-two cmdlets: each value below is refused before anything changes (every config file
# and passfile of both hosts hashed, and the roles and slots listed, before and after). Among them the destructive
# step aimed at the wrong place: Remove-PgStandby -EmptyDataDirectory given a primary's directory (a stopped one and
# a running one of another cluster on the standby's host), or a standby that cannot say where its directory is.
BeforeDiscovery {
    . "$PSScriptRoot/FaultSuite.ps1"
    $other = '/var/lib/postgresql/15/other'
    $refusals = @(
        @{ Case = 'Set-PgStandbyDelay -ApplyDelay -00:00:01 (negative)'; Run = { $standby | Set-PgStandbyDelay -ApplyDelay '-00:00:01' -Confirm:$false }; Id = 'BadApplyDelay' }
        @{ Case = 'Set-PgStandbyDelay -ApplyDelay 30 days (over PostgreSQL''s 24.8)'; Run = { $standby | Set-PgStandbyDelay -ApplyDelay '30.00:00:00' -Confirm:$false }; Id = 'BadApplyDelay' }
        @{ Case = 'Set-PgStandbyDelay on the primary'; Run = { $primary | Set-PgStandbyDelay -ApplyDelay '00:10:00' -Confirm:$false }; Id = 'NotAStandby' }
        @{ Case = 'Suspend-PgStandbyReplay on the primary'; Run = { $primary | Suspend-PgStandbyReplay -Confirm:$false }; Id = 'NotAStandby' }
        @{ Case = 'Resume-PgStandbyReplay on the primary'; Run = { $primary | Resume-PgStandbyReplay -Confirm:$false }; Id = 'NotAStandby' }
        @{ Case = "Remove-PgReplicationSlot -Name 'Bad-Slot'"; Run = { Remove-PgReplicationSlot $primary -Name 'Bad-Slot' -Confirm:$false }; Id = 'BadSlotName' }
        @{ Case = "Remove-PgReplicationSlot -Name 's;drop'"; Run = { Remove-PgReplicationSlot $primary -Name 's;drop' -Confirm:$false }; Id = 'BadSlotName' }
        @{ Case = 'Remove-PgReplicationSlot of the slot a standby streams on, without -Force'; Run = { Remove-PgReplicationSlot $primary -Name (Get-StandbyAppName $h2) -Confirm:$false }; Id = 'SlotActive' }
        @{ Case = 'Remove-PgStandby of the primary'; Run = { $primary | Remove-PgStandby -Primary $primary -Force -Confirm:$false }; Id = 'NotAStandby' }
        @{ Case = 'Remove-PgStandby of the primary, its standby named as upstream'; Run = { $primary | Remove-PgStandby -Primary $standby -EmptyDataDirectory -Force -Confirm:$false }; Id = 'NotAStandby' }
        @{ Case = 'Remove-PgStandby of the last synchronous standby'; Run = { $standby | Remove-PgStandby -Primary $primary -Confirm:$false }; Id = 'SyncUnsatisfiable'; Sync = $true }
        @{ Case = "Remove-PgStandby -DataDirectory 'data' (relative)"; Run = { $standby | Remove-PgStandby -Primary $primary -DataDirectory 'data' -EmptyDataDirectory -Confirm:$false }; Id = 'InvalidDataDirectory' }
        @{ Case = "Remove-PgStandby -DataDirectory '/var/lib/postgresql/15/../../../etc' (..)"; Run = { $standby | Remove-PgStandby -Primary $primary -DataDirectory '/var/lib/postgresql/15/../../../etc' -EmptyDataDirectory -Confirm:$false }; Id = 'InvalidDataDirectory' }
        @{ Case = "Remove-PgStandby -SlotName 'Bad-Slot'"; Run = { $standby | Remove-PgStandby -Primary $primary -SlotName 'Bad-Slot' -Confirm:$false }; Id = 'ParameterArgumentValidationError' }
        @{ Case = 'Remove-PgStandby -SlotName for two standbys'; Run = { $standby, $spare | Remove-PgStandby -Primary $primary -SlotName x -Confirm:$false }; Id = 'ValueForManyStandbys' }
        @{ Case = 'Remove-PgStandby -EmptyDataDirectory of a standby that does not answer, no -DataDirectory'; Run = { $silent | Remove-PgStandby -Primary $primary -EmptyDataDirectory -Force -Confirm:$false }; Id = 'DataDirectoryUnknown' }
        @{ Case = "Remove-PgStandby -EmptyDataDirectory -DataDirectory of a stopped primary of another cluster on the standby's host"; Run = { $silent | Remove-PgStandby -Primary $primary -DataDirectory $Other -EmptyDataDirectory -Force -Confirm:$false }; Id = 'DataDirectoryRefused'; Other = $other }
        @{ Case = "Remove-PgStandby -EmptyDataDirectory -DataDirectory of a running primary of another cluster on the standby's host"; Run = { $silent | Remove-PgStandby -Primary $primary -DataDirectory $Other -EmptyDataDirectory -Force -Confirm:$false }; Id = 'DataDirectoryRefused'; Other = $other; Running = $true }
    )
}

BeforeAll { . "$PSScriptRoot/FaultSuite.ps1" -WithModule }

Describe 'Bad input: slots, replay and removal' -Tag Acceptance, Faults {
    BeforeAll {
        $lab = New-PgLab -HostCount 2 -Layout Debian, Debian -NoCluster 2
        $h1, $h2 = $lab.Hosts
        $primary, $standby = Initialize-LabCluster $lab (New-ReplicationCredential)
        $spare = New-LabNode $lab $h2 -NoConnect
        # A node of the standby's host where nothing listens: a standby that does not answer.
        $silent = New-PgNode -ComputerName "$($h2.Address):5999" -SshUser postgres -SshKeyPath $h2.PostgresKeyPath -KnownHostsPath $lab.KnownHostsPath `
            -Credential $h1.AdminCredential -Name "$($h2.Name)-silent" -NoConnect
        # Another cluster on the standby's host (a primary of its own): what an emptied directory must never be.
        $otherDirectory = '/var/lib/postgresql/15/other'
        Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList "$($h2.BinDirectory)/initdb", -D, $otherDirectory, -A, peer | Out-Null
        function Get-OtherHash { Invoke-PgLabCommand -LabHost $h2 -ArgumentList sh, -c, 'find "$1" -type f | sort | sha256sum; ls "$1" | wc -l', sh, $otherDirectory }
        $state = @{ Baseline = Get-LabState $lab }
    }
    AfterAll {
        Save-ScenarioResults BadInput
        Remove-PgLab -Lab $lab
    }

    It '<Case> -> refused, nothing changed' -ForEach $refusals {
        if ($Sync) {
            Invoke-PgLabSql -LabHost $h1 -Sql "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ($(Get-StandbyAppName $h2))'" | Out-Null
            Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
            $state.Baseline = Get-LabState $lab
        }
        if ($Running) {
            # Detached from our pipes (the postmaster outlives the command).
            Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList sh, -c, '"$1/pg_ctl" -D "$2" -o "-p 5433 -k /tmp" -l /tmp/other.log -w start </dev/null >/dev/null 2>&1', sh, $h2.BinDirectory, $Other | Out-Null
        }
        try {
            $otherBefore = if ($Other) { Get-OtherHash }
            $errors = @(Invoke-Case $Run)
            $errors.Count | Should -BeGreaterThan 0 -Because 'the input must be refused'
            $errors[0].FullyQualifiedErrorId | Should -BeLike "*$Id*"
            Add-ScenarioNote (Format-ErrorSummary $errors[0])
            $after = Get-LabState $lab
            try { $after | Should -Be $state.Baseline -Because 'a refused input must change nothing' }
            finally { $state.Baseline = $after }
            if ($Other) { Get-OtherHash | Should -Be $otherBefore -Because "the other cluster's files must be untouched" }
        }
        finally {
            if ($Running) { Invoke-PgLabCommand -LabHost $h2 -User postgres -ArgumentList "$($h2.BinDirectory)/pg_ctl", -D, $Other, -m, fast, -w, stop | Out-Null }
            if ($Sync) {
                Invoke-PgLabSql -LabHost $h1 -Sql 'ALTER SYSTEM RESET synchronous_standby_names' | Out-Null
                Invoke-PgLabSql -LabHost $h1 -Sql 'SELECT pg_reload_conf()' | Out-Null
                $state.Baseline = Get-LabState $lab
            }
        }
    }
}
