# Every supported major on real servers. Per major, a 3-host lab of that major (one primary, two empty
# hosts) runs the whole story: discovery, replication role, primary config, base backup, hot standbys,
# health, topology, then a crash of the primary, a promotion and a sibling that follows; the old primary's
# rejoin (pg_rewind where the major's is on the host, else a refusal naming it and -AllowReclone), a switchover
# there and back, the day-two cmdlets, and a crashed primary fenced by the next promotion. Each step checks
# on the server or on disk what that major must do (recovery.conf or standby.signal, wal_keep_segments or
# wal_keep_size, pg_ctl promote or pg_promote(), restart or reload).
#
# The majors: $env:PGREPLICATION_MAJORS (comma-separated, or 'all': every major the module's VersionRules support,
# which build.ps1 -Matrix asks for), else the
# CI set. 15 is Debian's packages (pg_basebackup on the host); the others are upstream builds fetched by
# Install-PgLabMajor (no client programs: the default copy there is -Method Parallel). Per major the outcome and times
# go to $env:PGREPLICATION_MAJORS_RESULT (JSON), which build.ps1 -Task Docs turns into docs/versions.md.
BeforeDiscovery {
    $majors = if ($env:PGREPLICATION_MAJORS -eq 'all') {
        # Core lives in the module's own load context: a copy in the default one for the [type] name (as BeforeAll does).
        Add-Type -Path (Join-Path $env:PGREPLICATION_MODULE 'Dependencies/PgReplication.Core.dll')
        [PgReplication.Core.Versions.VersionRules]::OldestMajor..[PgReplication.Core.Versions.VersionRules]::NewestMajor
    }
    elseif ($env:PGREPLICATION_MAJORS) { $env:PGREPLICATION_MAJORS -split ',' | ForEach-Object { [int] $_.Trim() } }
    else { 11, 13, 15, 16, 18 }
    $script:Cases = @($majors | ForEach-Object { @{ Major = $_ } })
}

BeforeAll {
    Import-Module "$PSScriptRoot/../Lab/PgLab.psd1" -Force
    Import-Module (Join-Path $env:PGREPLICATION_MODULE 'PgReplication.psd1') -Force
    # VersionRules is Core's, in the module's own load context: a copy in this session's default one for [type] names.
    Add-Type -Path (Join-Path $env:PGREPLICATION_MODULE 'Dependencies/PgReplication.Core.dll')
    $script:ResultPath = if ($env:PGREPLICATION_MAJORS_RESULT) { $env:PGREPLICATION_MAJORS_RESULT } else { Join-Path $PSScriptRoot '../../out/test-results/majors.json' }
    $null = New-Item -ItemType Directory -Force (Split-Path $ResultPath)
    Set-Content -Path $ResultPath -Value '[]'

    # How to ask a server whether a rule's setting, function or column is there. Mechanisms (recovery.conf,
    # reload of primary_conninfo ...) are what the steps themselves check.
    function Get-RuleProbe($Rule) {
        $explicit = @{
            'pg_hba_file_rules'                              = "SELECT to_regclass('pg_catalog.pg_hba_file_rules') IS NOT NULL"
            'wal function names'                      = "SELECT to_regproc('pg_catalog.pg_current_wal_lsn') IS NOT NULL AND to_regproc('pg_catalog.pg_is_wal_replay_paused') IS NOT NULL"
            'pg_read_file(path, offset, length, missing_ok)' = "SELECT to_regprocedure('pg_catalog.pg_read_file(text, bigint, bigint, boolean)') IS NOT NULL"
            # Before 11 this is an error ("absolute path not allowed"), which the caller takes as false.
            'pg_read_file() outside the data directory'      = "SELECT pg_catalog.pg_read_file('/etc/passwd', 0, 1) IS NOT NULL"
            'GRANT ALTER SYSTEM ON PARAMETER'                = "SELECT to_regclass('pg_catalog.pg_parameter_acl') IS NOT NULL"
            # Granted to a role that is not a superuser, the functions work from 11; before, they check for a superuser inside.
            "EXECUTE on pg_rewind's file functions"          = "CREATE ROLE majors_probe; GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO majors_probe; SET ROLE majors_probe; SELECT count(*) >= 0 FROM pg_catalog.pg_ls_dir('.', false, false)"
        }
        # A predefined role: there when the server knows its name.
        if ("$($Rule.Kind)" -eq 'Privilege' -and $Rule.Name -match '^pg_\w+$') { return "SELECT to_regrole('$($Rule.Name)') IS NOT NULL" }
        if ($explicit.ContainsKey($Rule.Name)) { return $explicit[$Rule.Name] }
        if ("$($Rule.Kind)" -eq 'Setting') { return "SELECT count(*) = 1 FROM pg_catalog.pg_settings WHERE name = '$($Rule.Name)'" }
        if ($Rule.Name -match '^(\w+)\(\)$') { return "SELECT count(*) > 0 FROM pg_catalog.pg_proc WHERE proname = '$($Matches[1])' AND pronamespace = 'pg_catalog'::regnamespace" }
        if ($Rule.Name -match '^(\w+)\.(\w+)$') {
            return "SELECT count(*) = 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'pg_catalog.$($Matches[1])'::regclass AND attname = '$($Matches[2])' AND NOT attisdropped"
        }
        $null
    }
    function Test-LabFile($LabHost, [string] $Path) {
        try { Invoke-PgLabCommand -LabHost $LabHost -ArgumentList 'test', '-e', $Path | Out-Null; $true } catch { $false }
    }

    # The steps of one major run in order, each needing the one before: a step after a failed one is
    # skipped, naming the failed one, and the major's record says which step failed.
    function Enter-Step($Run, [string] $Name) {
        if ($Run.Pending) { $Run.Failed = $Run.Pending; $Run.Pending = $null }
        if ($Run.Failed) { Set-ItResult -Skipped -Because "the step '$($Run.Failed)' failed" }
        $Run.Pending = $Name
        $Run.StepClock.Restart()
    }
    function Complete-Step($Run) {
        $Run.Steps[$Run.Pending] = [Math]::Round($Run.StepClock.Elapsed.TotalSeconds, 1)
        $Run.Pending = $null
    }
    function Save-MajorResult($Run) {
        if ($Run.Pending) { $Run.Failed = $Run.Pending }
        if (-not $Run.Failed -and $null -eq $Run.RuleErrors) { $Run.Failed = 'version rules' }
        if (-not $Run.Failed -and $Run.RuleErrors.Count) { $Run.Failed = "version rules ($($Run.RuleErrors -join '; '))" }
        $all = @(Get-Content -Raw $ResultPath | ConvertFrom-Json)
        $all += [pscustomobject]@{
            Major = $Run.Major; Version = $Run.Version; Layout = $Run.Layout; BackupMethod = $Run.BackupMethod
            Passed = (-not $Run.Failed) -and $Run.Steps.Count -eq $Run.StepCount; FailedStep = $Run.Failed
            Seconds = [Math]::Round($Run.Clock.Elapsed.TotalSeconds, 1); Steps = $Run.Steps
            ControlFile = $Run.ControlFile; Operations = $Run.Operations
            Date = [DateTime]::UtcNow.ToString('yyyy-MM-dd'); Machine = "$([Environment]::ProcessorCount) cores"
        }
        ConvertTo-Json -InputObject $all -Depth 4 | Set-Content -Path $ResultPath
    }
}

Describe 'PostgreSQL <Major>: setup and failover on real servers' -Tag Acceptance, Majors -ForEach $Cases {
    BeforeAll {
        $run = @{
            Major = $Major; Clock = [Diagnostics.Stopwatch]::StartNew(); StepClock = [Diagnostics.Stopwatch]::new()
            Steps = [ordered]@{}; StepCount = 14; Pending = $null; Failed = $null; Version = $null; RuleErrors = $null
            # Per operation: 'proven', or what kept it from running on this machine (the docs' per-major table).
            Operations = [ordered]@{ switchover = 'not run'; rewind = 'not run'; reclone = 'not run'; fencing = 'not run'; 'replay pause' = 'not run'; 'apply delay' = 'not run'; slots = 'not run'; 'remove standby' = 'not run' }
            # Who reads the control file on this major's hosts: its pg_controldata, or the module from global/pg_control.
            ControlFile = if (Test-Path "/usr/lib/postgresql/$Major/bin/pg_controldata") { 'pg_controldata' } else { 'global/pg_control decoded' }
            # The default method: pg_basebackup where the host has a client of this major (Debian's 15); else the
            # parallel copy, which needs no client programs.
            BackupMethod = if (Test-Path "/usr/lib/postgresql/$Major/bin/pg_basebackup") { 'PgBaseBackup' } else { 'Parallel' }
        }
        $layout = if ($Major -eq 15) { 'Debian' } else { 'Upstream' }
        $run.Layout = $layout
        $lab = New-PgLab -HostCount 3 -NoCluster 2, 3 -Major $Major -Layout $layout, $layout, $layout
        $h1, $h2, $h3 = $lab.Hosts
        $repl = [pscredential]::new('replicator', (ConvertTo-SecureString ("M'a\j`$or-" + [guid]::NewGuid().ToString('N').Substring(0, 12)) -AsPlainText -Force))
        . "$PSScriptRoot/LabNode.ps1"
        $usesSignal = [PgReplication.Core.Versions.VersionRules]::Applies([PgReplication.Core.Versions.VersionRules]::StandbySignal, $Major)
    }
    AfterAll {
        Save-MajorResult $run
        Write-Host ("PostgreSQL {0} ({1}, {2}): {3} in {4:0.0} s; steps: {5}" -f $Major, $run.Version, $run.BackupMethod,
            $(if ($run.Failed) { "FAILED at '$($run.Failed)'" } else { 'passed' }), $run.Clock.Elapsed.TotalSeconds,
            (($run.Steps.GetEnumerator() | ForEach-Object { "$($_.Key) $($_.Value) s" }) -join ', '))
        if ($lab) { Remove-PgLab -Lab $lab }
    }

    It 'discovers the primary: PostgreSQL <Major>, its paths from the server' {
        Enter-Step $run 'discover'
        $primary = New-LabNode $lab $h1 -Credential $h1.AdminCredential
        $primary.Role | Should -Be 'Primary'
        $primary.ServerVersion.Major | Should -Be $Major
        $primary.DataDirectory | Should -Be $h1.DataDirectory
        $primary.HbaFile | Should -Be $h1.HbaFile
        $run.Version = "$($primary.ServerVersion)"
        $script:primary = $primary
        $script:standbys = @((New-LabNode $lab $h2 -Credential $h2.AdminCredential -NoConnect), (New-LabNode $lab $h3 -Credential $h3.AdminCredential -NoConnect))
        Complete-Step $run
    }

    # A check of the data, not a step of the story: it runs whatever the steps do, and a failure fails the major.
    It 'has exactly the settings, functions and columns that Versions/ says PostgreSQL <Major> has' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $rules = @([PgReplication.Core.Versions.VersionRules]::All | Where-Object { "$($_.Kind)" -ne 'Mechanism' })
        $wrong = foreach ($rule in $rules) {
            $probe = Get-RuleProbe $rule
            if (-not $probe) { "$($rule.Name): no probe in this test"; continue }
            $there = try { (Invoke-PgLabSql -LabHost $h1 $probe) -eq 't' } catch { $false }
            if ($there -ne $rule.AppliesTo($Major)) { "$($rule.Name) ($($rule.Majors)): the server says $(if ($there) { 'present' } else { 'absent' })" }
        }
        $run.RuleErrors = @($wrong)
        $run.Steps['version rules'] = [Math]::Round($clock.Elapsed.TotalSeconds, 1)
        $wrong | Should -BeNullOrEmpty
    }

    It 'creates the replication role: LOGIN REPLICATION, no superuser, a SCRAM verifier' {
        Enter-Step $run 'replication user'
        $primary | New-PgReplicationUser -Credential $repl | Out-Null
        Invoke-PgLabSql -LabHost $h1 "SELECT rolcanlogin, rolreplication, rolsuper, rolpassword LIKE 'SCRAM-SHA-256`$%' FROM pg_authid WHERE rolname = 'replicator'" |
            Should -Be 't|t|f|t'
        Complete-Step $run
    }

    It 'configures the primary with the WAL retention setting this major has' {
        Enter-Step $run 'primary config'
        $primary | Set-PgMasterConfig -Standby $standbys -Restart -Confirm:$false | Out-Null
        # The server says which of the two names exists; the module must have set that one.
        $keep = Invoke-PgLabSql -LabHost $h1 "SELECT name || '=' || setting FROM pg_settings WHERE name IN ('wal_keep_size', 'wal_keep_segments')"
        if ($Major -ge 13) { $keep | Should -Be 'wal_keep_size=1024' } else { $keep | Should -Be 'wal_keep_segments=64' }
        # Data checksums already WAL-log hint bits (initdb's default from 18): then wal_log_hints is left alone.
        $checksums = Invoke-PgLabSql -LabHost $h1 "SELECT current_setting('data_checksums')"
        $checksums | Should -Be $(if ([PgReplication.Core.Versions.VersionRules]::Applies([PgReplication.Core.Versions.VersionRules]::DataChecksumsByDefault, $Major)) { 'on' } else { 'off' })
        Invoke-PgLabSql -LabHost $h1 "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings WHERE name IN ('wal_level', 'hot_standby', 'wal_log_hints')" |
            Should -Be "hot_standby=on,wal_level=replica,wal_log_hints=$(if ($checksums -eq 'on') { 'off' } else { 'on' })"
        Invoke-PgLabSql -LabHost $h1 "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND 'replicator' = ANY(user_name) AND auth_method = 'scram-sha-256'" |
            Should -Be '2'
        Complete-Step $run
    }

    It 'copies the primary to both empty hosts' {
        Enter-Step $run 'base backup'
        # The default method, as users run it; -Verbose says which was chosen.
        $out = @($standbys | Invoke-PgBaseBackup -Primary $primary -Confirm:$false -Verbose 4>&1)
        $chosen = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'copying with -Method (\w+)' } |
            ForEach-Object { $Matches[1] } | Select-Object -Unique)
        $chosen | Should -Be $run.BackupMethod
        $script:copies = @($out | Where-Object { $_ -is [PgReplication.Core.Model.PgNode] })
        $copies.Count | Should -Be 2
        foreach ($h in $h2, $h3) {
            Invoke-PgLabCommand -LabHost $h -ArgumentList 'cat', "$($h.DataDirectory)/PG_VERSION" | Should -Be "$Major"
        }
        Complete-Step $run
    }

    It 'starts hot standbys with this major''s recovery settings on disk' {
        Enter-Step $run 'hot standby'
        $script:built = @($copies | Enable-PgHotStandby)
        $built.Role | Should -Be @('Standby', 'Standby')
        foreach ($h in $h2, $h3) {
            if ($usesSignal) {
                Test-LabFile $h "$($h.DataDirectory)/standby.signal" | Should -BeTrue
                Test-LabFile $h "$($h.DataDirectory)/recovery.conf" | Should -BeFalse
                Invoke-PgLabCommand -LabHost $h -ArgumentList 'cat', "$($h.DataDirectory)/postgresql.auto.conf" | Should -Match "primary_conninfo = '.*host=''?$([regex]::Escape($h1.Address))"
            }
            else {
                Test-LabFile $h "$($h.DataDirectory)/standby.signal" | Should -BeFalse
                $recovery = Invoke-PgLabCommand -LabHost $h -ArgumentList 'cat', "$($h.DataDirectory)/recovery.conf"
                $recovery | Should -Match "standby_mode = 'on'"
                $recovery | Should -Match "primary_conninfo = '.*host=''?$([regex]::Escape($h1.Address))"
            }
        }
        Complete-Step $run
    }

    It 'streams: Test-PgReplication finds both standbys healthy, and rows arrive' {
        Enter-Step $run 'healthy'
        $results = @(@($primary) + $built | Test-PgReplication)
        $results.Count | Should -Be 2
        foreach ($r in $results) { $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ') }
        # The security reads of this major (pg_settings from 12, recovery.conf before, pg_hba_file_rules) ran, and a
        # cluster the module built has none of the faults they look for.
        foreach ($r in $results) { @($r.SecurityFindings | ForEach-Object Message) | Should -BeNullOrEmpty }
        Invoke-PgLabSql -LabHost $h1 -Sql 'CREATE TABLE majors_rows AS SELECT g AS id FROM generate_series(1, 500) g' | Out-Null
        Wait-PgLabSql -LabHost $h2 'SELECT count(*) FROM majors_rows' -Expected '500' | Should -Be '500'
        Wait-PgLabSql -LabHost $h3 'SELECT count(*) FROM majors_rows' -Expected '500' | Should -Be '500'
        Complete-Step $run
    }

    It 'shows the tree: both standbys under the primary' {
        Enter-Step $run 'topology'
        $rows = @(Get-PgReplicationTopology (@($primary) + $built))
        $rows.Count | Should -Be 3
        $rows[0].Name | Should -Be $h1.Name
        @($rows | Where-Object Role -EQ 'Standby').Count | Should -Be 2
        foreach ($row in $rows) { $row.Status | Should -Be 'running' -Because "$($row.Name): $($row | Out-String)" }
        Complete-Step $run
    }

    It 'after a crash of the primary, promotes a standby (pg_promote from 12, pg_ctl promote before)' {
        Enter-Step $run 'promotion'
        $script:startedBefore = @{}
        foreach ($h in $h2, $h3) { $startedBefore[$h.Name] = Invoke-PgLabSql -LabHost $h 'SELECT pg_postmaster_start_time()' }
        Stop-PgLabPostgres -LabHost $h1
        $script:new = $built | Invoke-PgPromotion -Confirm:$false
        $new.Role | Should -Be 'Primary'
        $new.Timeline | Should -Be 2
        $script:newHost, $script:siblingHost = if ($new.Name -eq $h2.Name) { $h2, $h3 } else { $h3, $h2 }
        Invoke-PgLabSql -LabHost $newHost 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        if ($usesSignal) { Test-LabFile $newHost "$($newHost.DataDirectory)/standby.signal" | Should -BeFalse }
        else { Test-LabFile $newHost "$($newHost.DataDirectory)/recovery.done" | Should -BeTrue }   # pg_ctl promote renames it
        Complete-Step $run
    }

    It 'the sibling follows on the new timeline (reload from 13, restart before)' {
        Enter-Step $run 'sibling follows'
        $new.PromotionSummary.Siblings.Count | Should -Be 1
        $new.PromotionSummary.Siblings[0].Streaming | Should -BeTrue -Because "$($new.PromotionSummary.Siblings[0])"
        Wait-PgLabSql -LabHost $siblingHost 'SELECT received_tli FROM pg_stat_wal_receiver' -Expected '2' | Should -Be '2'
        Invoke-PgLabSql -LabHost $newHost -Sql 'INSERT INTO majors_rows SELECT g FROM generate_series(501, 600) g' | Out-Null
        Wait-PgLabSql -LabHost $siblingHost 'SELECT count(*) FROM majors_rows' -Expected '600' | Should -Be '600'
        $restarted = (Invoke-PgLabSql -LabHost $siblingHost 'SELECT pg_postmaster_start_time()') -ne $startedBefore[$siblingHost.Name]
        $restarted | Should -Be (-not [PgReplication.Core.Versions.VersionRules]::Applies([PgReplication.Core.Versions.VersionRules]::PrimaryConninfoReload, $Major))
        $r = @($new, ($built | Where-Object Name -EQ $siblingHost.Name)) | Test-PgReplication
        $r.IsHealthy | Should -BeTrue -Because ($r.Checks -join '; ')
        Complete-Step $run
    }

    It 'rejoins the crashed old primary: pg_rewind where this major''s is on the host, else a refusal naming it, then -AllowReclone' {
        Enter-Step $run 'rejoin'
        $script:siblingNode = $built | Where-Object Name -EQ $siblingHost.Name
        # The node discovered before the crash: it knows its data directory. Its control file is read by pg_controldata
        # where the host has it (15), else decoded by the module.
        if (Test-Path "$($h1.BinDirectory)/pg_rewind") {
            $out = @($primary | Restore-PgStandby -Primary $new -Confirm:$false -Verbose 4>&1)
            ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Match 'pg_rewind'
            $script:back = $out | Where-Object { $_ -is [PgReplication.Core.Model.PgNode] }
            $run.Operations.rewind = 'proven'
        }
        else {
            $refused = $null
            try { $primary | Restore-PgStandby -Primary $new -Confirm:$false -ErrorAction Stop | Out-Null } catch { $refused = $_ }
            "$($refused.FullyQualifiedErrorId)" | Should -BeLike 'PgReplication.RewindProgramMissing*'
            "$refused" | Should -Match "has no \S+/$Major/bin/pg_rewind"
            "$refused" | Should -Match ([regex]::Escape($h1.Address))
            Test-PgLabPostgres -LabHost $h1 | Should -BeFalse -Because 'a refusal changes nothing'
            $script:back = $primary | Restore-PgStandby -Primary $new -AllowReclone -Confirm:$false -WarningAction SilentlyContinue
            $run.Operations.rewind = "refused, naming it: no pg_rewind $Major on this machine"
            $run.Operations.reclone = 'proven'
        }
        $back.Role | Should -Be 'Standby'
        Invoke-PgLabSql -LabHost $newHost -Sql 'INSERT INTO majors_rows SELECT g FROM generate_series(601, 650) g' | Out-Null
        Wait-PgLabSql -LabHost $h1 'SELECT count(*) FROM majors_rows' -Expected '650' | Should -Be '650'
        Wait-PgLabSql -LabHost $h1 'SELECT status FROM pg_stat_wal_receiver' -Expected 'streaming' | Should -Be 'streaming'
        Complete-Step $run
    }

    It 'switches over to the rejoined old primary and back, the sibling following each time' {
        Enter-Step $run 'switchover'
        # The old primary's clean shutdown checkpoint comes from its control file: pg_controldata or the module's decoding.
        $there = $back | Invoke-PgSwitchover -Primary $new -Sibling $siblingNode -Confirm:$false
        $there.Name | Should -Be $h1.Name
        @($there.PromotionSummary.Siblings | Where-Object { -not $_.Streaming }) | Should -BeNullOrEmpty -Because "$($there.PromotionSummary.Siblings)"
        Invoke-PgLabSql -LabHost $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Invoke-PgLabSql -LabHost $newHost 'SELECT pg_is_in_recovery()' | Should -Be 't'
        Invoke-PgLabSql -LabHost $h1 -Sql 'INSERT INTO majors_rows SELECT g FROM generate_series(651, 700) g' | Out-Null
        foreach ($h in $newHost, $siblingHost) { Wait-PgLabSql -LabHost $h 'SELECT count(*) FROM majors_rows' -Expected '700' | Should -Be '700' }
        $returned = $new | Invoke-PgSwitchover -Primary $there -Sibling $siblingNode -Confirm:$false
        $returned.Name | Should -Be $newHost.Name
        @($returned.PromotionSummary.Siblings | Where-Object { -not $_.Streaming }) | Should -BeNullOrEmpty -Because "$($returned.PromotionSummary.Siblings)"
        Invoke-PgLabSql -LabHost $newHost 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Invoke-PgLabSql -LabHost $newHost -Sql 'INSERT INTO majors_rows SELECT g FROM generate_series(701, 750) g' | Out-Null
        foreach ($h in $h1, $siblingHost) { Wait-PgLabSql -LabHost $h 'SELECT count(*) FROM majors_rows' -Expected '750' | Should -Be '750' }
        $r = @($new, $back, $siblingNode | Test-PgReplication)
        foreach ($x in $r) { $x.IsHealthy | Should -BeTrue -Because "$($x.Standby): $($x.Checks -join '; ')" }
        $run.Operations.switchover = 'proven'
        Complete-Step $run
    }

    It 'runs the day-two cmdlets: replay paused and resumed, an apply delay set and removed, slots listed and one dropped, a standby taken out' {
        Enter-Step $run 'day two'
        $siblingNode | Suspend-PgStandbyReplay -Confirm:$false | Out-Null
        Invoke-PgLabSql -LabHost $siblingHost 'SELECT pg_is_wal_replay_paused()' | Should -Be 't'
        Invoke-PgLabSql -LabHost $newHost -Sql 'INSERT INTO majors_rows VALUES (751)' | Out-Null
        Wait-PgLabSql -LabHost $h1 'SELECT count(*) FROM majors_rows' -Expected '751' | Should -Be '751'
        Invoke-PgLabSql -LabHost $siblingHost 'SELECT count(*) FROM majors_rows' | Should -Be '750'
        $siblingNode | Resume-PgStandbyReplay -Confirm:$false | Out-Null
        Wait-PgLabSql -LabHost $siblingHost 'SELECT count(*) FROM majors_rows' -Expected '751' | Should -Be '751'
        $run.Operations.'replay pause' = 'proven'

        # From 12 a setting (reload); before, a line of recovery.conf read at start (a restart).
        function Get-ApplyDelay {
            if ($usesSignal) { Invoke-PgLabSql -LabHost $siblingHost "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'" }
            else { "$(Invoke-PgLabCommand -LabHost $siblingHost -ArgumentList 'cat', "$($siblingHost.DataDirectory)/recovery.conf")" -split "`n" | Where-Object { $_ -match '^\s*recovery_min_apply_delay' } }
        }
        $siblingNode | Set-PgStandbyDelay -ApplyDelay '00:10:00' -Confirm:$false | Out-Null
        Get-ApplyDelay | Should -Match $(if ($usesSignal) { '^600000$' } else { "recovery_min_apply_delay = '(600000ms|600s|10min)'" })
        $siblingNode | Set-PgStandbyDelay -ApplyDelay 0 -Confirm:$false | Out-Null
        if ($usesSignal) { Get-ApplyDelay | Should -Be '0' } else { Get-ApplyDelay | Should -BeNullOrEmpty }
        Wait-PgLabSql -LabHost $siblingHost 'SELECT status FROM pg_stat_wal_receiver' -Expected 'streaming' | Should -Be 'streaming'
        $run.Operations.'apply delay' = 'proven'

        $slots = @(Get-PgReplicationSlot $new -Standby $back, $siblingNode)
        @($slots | Where-Object Serves).Count | Should -Be 2 -Because ($slots | Out-String)
        Invoke-PgLabSql -LabHost $newHost -Sql "SELECT pg_create_physical_replication_slot('majors_orphan', true)" | Out-Null
        (Get-PgReplicationSlot $new -Name majors_orphan).SlotName | Should -Be 'majors_orphan'
        Remove-PgReplicationSlot $new -Name majors_orphan -Confirm:$false | Out-Null
        Invoke-PgLabSql -LabHost $newHost "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'majors_orphan'" | Should -Be '0'
        $run.Operations.slots = 'proven'

        $siblingSlot = @($slots | Where-Object { "$($_.Serves)" -like "*@$($siblingHost.Address)" })[0].SlotName
        $siblingNode | Remove-PgStandby -Primary $new -Confirm:$false | Out-Null
        Test-PgLabPostgres -LabHost $siblingHost | Should -BeFalse
        Invoke-PgLabSql -LabHost $newHost "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$siblingSlot'" | Should -Be '0'
        ($new, $back | Test-PgReplication).IsHealthy | Should -BeTrue
        $run.Operations.'remove standby' = 'proven'
        Complete-Step $run
    }

    It 'fences a crashed primary: promoted past with -FenceOldPrimary, it can only start again as a standby' {
        Enter-Step $run 'fencing'
        Stop-PgLabPostgres -LabHost $newHost
        $fenced = $back | Invoke-PgPromotion -Primary $new -FenceOldPrimary -Confirm:$false
        $fenced.Name | Should -Be $h1.Name
        $fenced.PromotionSummary.OldPrimaryFenced | Should -BeTrue
        Invoke-PgLabSql -LabHost $h1 'SELECT pg_is_in_recovery()' | Should -Be 'f'
        Start-PgLabPostgres -LabHost $newHost    # an admin or an init system starts it again
        Invoke-PgLabSql -LabHost $newHost 'SELECT pg_is_in_recovery()' | Should -Be 't'
        { Invoke-PgLabSql -LabHost $newHost -Sql 'CREATE TABLE second_primary (x int)' } | Should -Throw '*read-only*'
        $run.Operations.fencing = 'proven'
        Complete-Step $run
    }
}
