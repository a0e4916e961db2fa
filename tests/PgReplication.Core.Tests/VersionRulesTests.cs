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
    [InlineData(15, true, true, true, true, true)]
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
