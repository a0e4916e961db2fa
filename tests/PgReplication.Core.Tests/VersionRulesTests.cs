using PgReplication.Core.Versions;

namespace PgReplication.Core.Tests;

public sealed class VersionRulesTests
{
    public static IEnumerable<object[]> Majors() => Enumerable.Range(10, 9).Select(m => new object[] { m });

    [Theory]
    [MemberData(nameof(Majors))]
    public void Exactly_one_WAL_retention_setting_applies_to_each_major(int major)
    {
        var keepSize = VersionRules.Applies(VersionRules.WalKeepSize, major);
        var keepSegments = VersionRules.Applies(VersionRules.WalKeepSegments, major);
        Assert.NotEqual(keepSize, keepSegments);
        Assert.Equal(major >= 13 ? "wal_keep_size" : "wal_keep_segments", VersionRules.WalKeepSetting(major));
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void The_admin_role_gets_what_its_major_grants_without_superuser(int major)
    {
        var grants = VersionRules.AdminRoleGrants(major).Select(g => g.For("\"pgadmin\"")).ToList();
        Assert.Contains("GRANT pg_monitor TO \"pgadmin\"", grants);
        Assert.Equal(major >= 11, grants.Contains("GRANT pg_read_server_files TO \"pgadmin\""));
        Assert.Equal(major >= 11, grants.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO \"pgadmin\""));
        Assert.Equal(major >= 12, grants.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO \"pgadmin\""));
        Assert.Equal(major >= 15, grants.Contains("GRANT pg_checkpoint TO \"pgadmin\""));
        // The backup API a new copy by -Method Parallel or Rsync calls: renamed in 15.
        Assert.Equal(major >= 15, grants.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_backup_start(text, boolean) TO \"pgadmin\""));
        Assert.Equal(major >= 15, grants.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_backup_stop(boolean) TO \"pgadmin\""));
        Assert.Equal(major < 15, grants.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_start_backup(text, boolean, boolean) TO \"pgadmin\""));
        Assert.Equal(major < 15, grants.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_stop_backup(boolean, boolean) TO \"pgadmin\""));
        // ALTER SYSTEM per setting from 15, for exactly the settings of that major that Set-PgMasterConfig writes.
        var alterSystem = grants.Where(g => g.StartsWith("GRANT ALTER SYSTEM ON PARAMETER ", StringComparison.Ordinal)).ToList();
        Assert.Equal(major >= 15 ? VersionRules.PrimarySettings(major).Count() + 1 : 0, alterSystem.Count);
        Assert.Equal(major >= 15, alterSystem.Contains("GRANT ALTER SYSTEM ON PARAMETER recovery_min_apply_delay TO \"pgadmin\""));
        // The day-two cmdlets: pausing replay, ending a WAL sender on an active slot.
        Assert.Contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_wal_replay_pause() TO \"pgadmin\"", grants);
        Assert.Contains("GRANT pg_signal_backend TO \"pgadmin\"", grants);
        Assert.DoesNotContain(grants, g => g.Contains("password_encryption", StringComparison.Ordinal) || g.Contains(VersionRules.WalKeepSetting(major) == "wal_keep_size" ? "wal_keep_segments" : "wal_keep_size", StringComparison.Ordinal));
        Assert.DoesNotContain(grants, g => g.Contains("SUPERUSER", StringComparison.Ordinal) || g.Contains("pg_authid", StringComparison.Ordinal));
        // Each grant has the check that tells whether the role already holds it (a second run changes nothing).
        Assert.All(VersionRules.AdminRoleGrants(major), g => Assert.Contains("@role", g.HeldQuery, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void Exactly_one_standby_mechanism_applies_to_each_major(int major)
    {
        Assert.Equal(major < 12, VersionRules.Applies(VersionRules.RecoveryConf, major));
        Assert.Equal(major >= 12, VersionRules.Applies(VersionRules.StandbySignal, major));
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void Exactly_one_backup_start_function_applies_to_each_major(int major)
    {
        Assert.Equal(major < 15, VersionRules.Applies(VersionRules.PgStartBackup, major));
        Assert.Equal(major >= 15, VersionRules.Applies(VersionRules.PgBackupStart, major));
    }

    [Theory]
    [InlineData(10, false, false, false, true, false)]
    [InlineData(11, false, false, false, true, false)]
    [InlineData(12, false, true, false, true, false)]
    [InlineData(13, true, true, true, true, false)]
    [InlineData(14, true, true, true, true, false)]
    [InlineData(15, true, true, true, true, false)]
    [InlineData(16, true, true, true, false, true)]
    [InlineData(17, true, true, true, false, true)]
    [InlineData(18, true, true, true, false, true)]
    public void Each_major_has_the_features_its_release_notes_say(int major, bool slotKeep, bool promote, bool conninfoReload,
        bool triggerFileOrNotYet, bool hbaRuleNumber)
    {
        Assert.Equal(slotKeep, VersionRules.Applies(VersionRules.MaxSlotWalKeepSize, major));
        Assert.Equal(promote, VersionRules.Applies(VersionRules.PgPromote, major));
        Assert.Equal(conninfoReload, VersionRules.Applies(VersionRules.PrimaryConninfoReload, major));
        // promote_trigger_file: a setting 12 to 15 (trigger_file in recovery.conf before), gone from 16.
        Assert.Equal(triggerFileOrNotYet && major >= 12, VersionRules.Applies(VersionRules.PromoteTriggerFile, major));
        Assert.Equal(hbaRuleNumber, VersionRules.Applies(VersionRules.PgHbaFileRulesRuleNumber, major));
        Assert.True(VersionRules.Applies(VersionRules.PgHbaFileRules, major));
    }

    // Every rule's range as the release notes give it, written out again here: a changed or added rule
    // must change this table too (the set of names is compared), so no rule goes untested.
    public static IEnumerable<object?[]> Ranges() => new object?[][]
    {
        new object?[] { "listen_addresses", 10, null }, new object?[] { "wal_level", 10, null },
        new object?[] { "max_wal_senders", 10, null }, new object?[] { "max_replication_slots", 10, null },
        new object?[] { "wal_keep_segments", 10, 12 }, new object?[] { "wal_keep_size", 13, null },
        new object?[] { "max_slot_wal_keep_size", 13, null }, new object?[] { "hot_standby", 10, null },
        new object?[] { "wal_log_hints", 10, null }, new object?[] { "synchronous_standby_names", 10, null },
        new object?[] { "archive_mode", 10, null }, new object?[] { "archive_command", 10, null },
        new object?[] { "archive_library", 15, null }, new object?[] { "password_encryption", 10, null },
        new object?[] { "scram-sha-256", 10, null }, new object?[] { "recovery.conf", 10, 11 },
        new object?[] { "standby.signal", 12, null }, new object?[] { "pg_promote()", 12, null },
        new object?[] { "pg_ctl promote -w", 10, null }, new object?[] { "recovery_target_timeline default latest", 12, null },
        new object?[] { "primary_conninfo reload", 13, null }, new object?[] { "pg_start_backup()", 10, 14 },
        new object?[] { "pg_backup_start()", 15, null }, new object?[] { "pg_stop_backup()", 10, 14 },
        new object?[] { "pg_backup_stop()", 15, null }, new object?[] { "wal function names", 10, null },
        new object?[] { "pg_stat_wal_receiver.sender_host", 11, null }, new object?[] { "pg_replication_slots.wal_status", 13, null },
        new object?[] { "pg_read_file(path, offset, length, missing_ok)", 10, null },
        new object?[] { "pg_read_file() outside the data directory", 11, null },
        new object?[] { "pg_hba_file_rules", 10, null }, new object?[] { "pg_hba_file_rules.rule_number", 16, null },
        new object?[] { "initdb data checksums by default", 18, null }, new object?[] { "promote_trigger_file", 12, 15 },
        new object?[] { "wait event RecoveryRetrieveRetryInterval", 13, null },
        new object?[] { "pg_basebackup backup manifest", 13, null },
        new object?[] { "pg_monitor", 10, null }, new object?[] { "pg_read_server_files", 11, null },
        new object?[] { "EXECUTE on pg_rewind's file functions", 11, null }, new object?[] { "pg_checkpoint", 15, null },
        new object?[] { "GRANT ALTER SYSTEM ON PARAMETER", 15, null },
        new object?[] { "synchronized_standby_slots", 17, null }, new object?[] { "sync_replication_slots", 17, null },
        new object?[] { "pg_replication_slots.synced", 17, null },
        new object?[] { "pg_rewind --restore-target-wal", 13, null }, new object?[] { "pg_rewind --config-file", 15, null },
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public void Each_rule_applies_from_its_first_to_its_last_major(string name, int first, int? last)
    {
        var rule = VersionRules.Get(name);
        Assert.Equal((first, last), (rule.FirstMajor, rule.LastMajor));
        foreach (var major in Enumerable.Range(VersionRules.OldestMajor, VersionRules.NewestMajor - VersionRules.OldestMajor + 1))
            Assert.Equal(major >= first && (last is null || major <= last), VersionRules.Applies(name, major));
        Assert.Contains(VersionRules.For(first), r => r.Name == name);
    }

    [Fact]
    public void The_range_table_above_names_every_rule()
    {
        var tested = Ranges().Select(r => (string)r[0]!).OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(VersionRules.All.Select(r => r.Name).OrderBy(n => n, StringComparer.Ordinal), tested);
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void The_standby_questions_follow_the_rules(int major)
    {
        Assert.Equal(VersionRules.Applies(VersionRules.StandbySignal, major), StandbyConfigRules.UsesStandbySignal(major));
        Assert.Equal(VersionRules.Applies(VersionRules.PrimaryConninfoReload, major), StandbyConfigRules.ReloadsPrimaryConninfo(major));
        Assert.Equal(major >= 13 ? "RecoveryRetrieveRetryInterval" : "RecoveryWalStream", StandbyConfigRules.RetrieveRetryWaitEvent(major));
    }

    [Theory]
    [InlineData(10, "pg_catalog.pg_start_backup(@label, true, false)", "pg_catalog.pg_stop_backup(false, false)")]
    [InlineData(14, "pg_catalog.pg_start_backup(@label, true, false)", "pg_catalog.pg_stop_backup(false, false)")]
    [InlineData(15, "pg_catalog.pg_backup_start(@label, true)", "pg_catalog.pg_backup_stop(false)")]
    [InlineData(18, "pg_catalog.pg_backup_start(@label, true)", "pg_catalog.pg_backup_stop(false)")]
    public void Backups_use_the_non_exclusive_calls_of_each_major(int major, string start, string stop) =>
        Assert.Equal(new BackupCalls(start, stop), VersionRules.BackupFunctions(major));

    [Theory]
    [InlineData(10, "NULL::text AS sender_host")]
    [InlineData(11, "r.sender_host")]
    [InlineData(18, "r.sender_host")]
    public void A_column_a_major_lacks_is_a_typed_null_of_the_same_name(int major, string expected) =>
        Assert.Equal(expected, VersionRules.ColumnOrNull(VersionRules.WalReceiverSenderHost, major, "r.sender_host", "text"));

    [Theory]
    [InlineData(10, "/var/lib/postgresql/10/data/pg_hba.conf", true)]
    [InlineData(10, "/etc/postgresql/10/main/pg_hba.conf", false)]
    [InlineData(10, "/var/lib/postgresql/10/data/../../../../etc/passwd", false)]
    [InlineData(10, "/var/lib/postgresql/10/database/pg_hba.conf", false)]
    [InlineData(11, "/etc/postgresql/11/main/pg_hba.conf", true)]
    [InlineData(18, "/etc/postgresql/18/main/pg_hba.conf", true)]
    public void Files_outside_the_data_directory_are_readable_over_SQL_from_11(int major, string path, bool readable) =>
        Assert.Equal(readable, VersionRules.CanReadServerFile(major, path, $"/var/lib/postgresql/{major}/data"));

    [Fact]
    public void Every_rule_has_a_source_a_purpose_and_a_sane_range()
    {
        Assert.NotEmpty(VersionRules.All);
        foreach (var rule in VersionRules.All)
        {
            Assert.False(string.IsNullOrWhiteSpace(rule.Source), rule.Name);
            Assert.False(string.IsNullOrWhiteSpace(rule.Purpose), rule.Name);
            Assert.InRange(rule.FirstMajor, VersionRules.OldestMajor, VersionRules.NewestMajor);
            if (rule.LastMajor is { } last) Assert.InRange(last, rule.FirstMajor, VersionRules.NewestMajor);
        }
        Assert.Equal(VersionRules.All.Count, VersionRules.All.Select(r => r.Name).Distinct().Count());
    }

    [Fact]
    public void Majors_read_as_help_prints_them()
    {
        Assert.Equal("13+", VersionRules.Get(VersionRules.WalKeepSize).Majors);
        Assert.Equal("10-12", VersionRules.Get(VersionRules.WalKeepSegments).Majors);
    }

    [Fact]
    public void An_unknown_rule_name_is_an_error_naming_it()
    {
        var ex = Assert.Throws<ArgumentException>(() => VersionRules.Get("no_such_thing"));
        Assert.Contains("no_such_thing", ex.Message);
    }
}

public sealed class VersionRulesTableTests
{
    [Fact]
    public void The_help_table_lists_every_managed_setting_with_its_majors()
    {
        var table = VersionRules.ToMarkdownTable(RuleKind.Setting);
        Assert.Contains("| wal_keep_size | 13+ |", table);
        Assert.Contains("| wal_keep_segments | 10-12 |", table);
        Assert.Contains("| max_slot_wal_keep_size | 13+ |", table);
        Assert.DoesNotContain("standby.signal", table);
        Assert.Equal(VersionRules.All.Count(r => r.Kind == RuleKind.Setting) + 2, table.TrimEnd().Split('\n').Length);
    }
}
