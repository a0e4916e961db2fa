using System.Net;
using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Versions;

namespace PgReplication.Core.Tests;

/// <summary>Logical slots that survive a failover (17+): the settings, the check, and the promotion's choice.</summary>
public sealed class FailoverSlotsTests
{
    [Theory]
    [InlineData(16, false)]
    [InlineData(17, true)]
    [InlineData(18, true)]
    public void Only_17_and_later_sync_slots(int major, bool supported)
    {
        Assert.Equal(supported, FailoverSlots.Supported(major));
        Assert.Equal(supported, VersionRules.Applies(VersionRules.SynchronizedStandbySlots, major));
        Assert.Equal(supported, VersionRules.Applies(VersionRules.FailoverSlots, major));
        // The primary's setting may be granted to the admin role; the standby's is not a primary setting.
        Assert.Equal(supported, VersionRules.PrimarySettings(major).Contains(VersionRules.SynchronizedStandbySlots));
        Assert.DoesNotContain(VersionRules.SyncReplicationSlots, VersionRules.PrimarySettings(major));
    }

    [Theory]
    [InlineData(null, "db2,db3", "db2,db3")]
    [InlineData("", "db2", "db2")]
    [InlineData("db3, db2", "db2,db3", null)]
    [InlineData("db2", "db2,db3", "db2,db3")]
    [InlineData("db2,db3,db4", "db2,db3", "db2,db3")]
    public void The_primary_lists_exactly_the_candidates_slots_and_a_second_run_changes_nothing(string? configured, string wanted, string? expected) =>
        Assert.Equal(expected, FailoverSlots.PlanPrimarySetting(configured, wanted.Split(',')));

    [Fact]
    public void A_candidate_slot_that_is_no_slot_name_is_refused_before_anything() =>
        Assert.Throws<ArgumentException>(() => FailoverSlots.PlanPrimarySetting(null, new[] { "db2.example" }));

    [Theory]
    [InlineData("db2,db3", "db2", true)]
    [InlineData("db2,db3", "db4", false)]
    [InlineData("", "db2", false)]
    [InlineData(null, "db2", false)]
    [InlineData("db2", null, false)]
    public void A_standby_is_a_candidate_when_the_primary_lists_its_slot(string? setting, string? slot, bool candidate) =>
        Assert.Equal(candidate, FailoverSlots.IsCandidate(setting, slot));

    [Theory]
    [InlineData("db2,db3", "db2", "db3")]
    [InlineData("db2", "db2", "")]
    [InlineData("db3", "db2", null)]
    [InlineData("", "db2", null)]
    [InlineData("db2,db3", null, null)]
    public void A_promoted_candidate_takes_its_own_slot_out_of_the_list_it_inherited(string? inherited, string? own, string? expected) =>
        Assert.Equal(expected, FailoverSlots.PlanAfterPromotion(inherited, own));

    [Fact]
    public void The_check_names_the_slots_not_synced_and_why()
    {
        Assert.Null(FailoverSlots.Check("db2", "db1", Array.Empty<string>(), Array.Empty<string>(), "off"));
        var ok = FailoverSlots.Check("db2", "db1", new[] { "sub1", "sub2" }, new[] { "sub2", "sub1" }, "on")!;
        Assert.True(ok.Passed);
        Assert.Equal(FailoverSlots.CheckName, ok.Name);
        var missing = FailoverSlots.Check("db3", "db1", new[] { "sub1", "sub2" }, new[] { "sub1" }, "on")!;
        Assert.False(missing.Passed);
        Assert.Contains("sub2 of db1 not synced on db3", missing.Message);
        Assert.DoesNotContain("sub1", missing.Message);
        var off = FailoverSlots.Check("db3", "db1", new[] { "sub1" }, Array.Empty<string>(), "off")!;
        Assert.Contains("sync_replication_slots is off", off.Message);
        Assert.Contains("-FailoverStandby", off.Message);
        Assert.False(FailoverSlots.Check("db3", "db1", new[] { "sub1" }, null, null)!.Passed);
    }

    // --- Settings per major ---

    private static Dictionary<string, CurrentSetting> Current(int major, string? synchronizedStandbySlots = null)
    {
        var s = new List<CurrentSetting>
        {
            new("listen_addresses", "*", null, "postmaster", false, null),
            new("wal_level", "logical", null, "postmaster", false, null),
            new("max_wal_senders", "10", null, "postmaster", false, null),
            new("max_replication_slots", "10", null, "postmaster", false, null),
            new("hot_standby", "on", null, "postmaster", false, null),
            new("wal_log_hints", "on", null, "postmaster", false, null),
            new("synchronous_standby_names", "", null, "sighup", false, null),
            new("archive_mode", "off", null, "postmaster", false, null),
            new("archive_command", "", null, "sighup", false, null),
            new("wal_segment_size", "16777216", "B", "internal", false, null),
            new("wal_keep_size", "1024", "MB", "sighup", false, null),
            new("max_slot_wal_keep_size", "-1", "MB", "sighup", false, null),
            new("archive_library", "", null, "sighup", false, null),
        };
        if (major >= 17) s.Add(new("synchronized_standby_slots", synchronizedStandbySlots ?? "", null, "sighup", false, null));
        return s.ToDictionary(x => x.Name);
    }

    private static List<PrimaryConfigChange> Plan(int major, Dictionary<string, CurrentSetting> current, IReadOnlyList<string>? failover) =>
        PrimaryConfig.PlanSettings(major, current, new PrimaryConfigOptions { ReplicationUser = "repl", FailoverStandbySlots = failover }, 2, false,
            new[] { "*" }, null, "db1", NullOperationLog.Instance).ToList();

    [Theory]
    [InlineData(17)]
    [InlineData(18)]
    public void From_17_the_primary_lists_the_candidates_once(int major)
    {
        var changes = Plan(major, Current(major), new[] { "db2", "db3" });
        var change = Assert.Single(changes);
        Assert.Equal("synchronized_standby_slots", change.Target);
        Assert.Equal("db2,db3", change.NewValue);
        Assert.False(change.NeedsRestart);
        Assert.Contains("synchronized_standby_slots", change.Description);
        Assert.Empty(Plan(major, Current(major, "db3,db2"), new[] { "db2", "db3" }));
        Assert.Empty(Plan(major, Current(major), null));
    }

    [Fact]
    public void Before_17_nothing_is_written_for_failover_slots() =>
        Assert.Empty(Plan(16, Current(16), new[] { "db2" }));

    [Fact]
    public void The_slot_sync_login_is_a_database_line_not_a_replication_one()
    {
        var rule = new HbaReplicationRule("repl", IPAddress.Parse("10.0.0.2"), null, false, "postgres");
        Assert.StartsWith("host    postgres        repl            10.0.0.2/32", rule.Line);
        var text = "local all all peer\nhost replication repl 10.0.0.2/32 scram-sha-256\n";
        var edit = HbaEditor.AddReplicationRules(text, new[] { rule });
        Assert.Single(edit.AddedLines);
        // A second run adds nothing; a replication line does not stand for the database line, nor the reverse.
        Assert.False(HbaEditor.AddReplicationRules(edit.NewText, new[] { rule }).Changed);
        Assert.True(HbaEditor.AddReplicationRules("host postgres repl 10.0.0.2/32 scram-sha-256\n",
            new[] { new HbaReplicationRule("repl", IPAddress.Parse("10.0.0.2")) }).Changed);
        // An earlier "all" line matches the login first: the new line goes above it.
        var above = HbaEditor.AddReplicationRules("host all all 10.0.0.0/24 md5\n", new[] { rule });
        Assert.StartsWith("host    postgres", above.NewText);
        // A database named like a keyword is quoted.
        Assert.Contains("\"all\"", new HbaReplicationRule("repl", IPAddress.Parse("10.0.0.2"), null, false, "all").Line);
    }

    // --- The promotion's choice ---

    private static StandbyPosition Candidate(string name, string received) => new()
    {
        Node = new PgNode(name), Reachable = true, InRecovery = true, Timeline = 1, ReceiveLsn = received, ReplayLsn = "0/1000000", ApplicationName = name,
    };

    private static FailoverSlotFacts Facts(params (StandbyPosition Candidate, string[]? Synced)[] synced)
    {
        var byNode = synced.ToDictionary(s => s.Candidate.Node, s => (IReadOnlyList<string>?)s.Synced);
        var known = synced.Where(s => s.Synced is not null).SelectMany(s => s.Synced!).Distinct().Order().ToList();
        return new FailoverSlotFacts(byNode, known);
    }

    [Fact]
    public void Of_candidates_as_far_ahead_the_one_holding_the_failover_slots_is_promoted()
    {
        var without = Candidate("db2", "0/5000000");
        var with = Candidate("db3", "0/5000000");
        var facts = Facts((without, Array.Empty<string>()), (with, new[] { "sub1" }));
        Assert.Same(with, Promotion.Choose(new[] { without, with }, Array.Empty<string>(), null, false, null, facts));
        Assert.Same(with, Promotion.Choose(new[] { with, without }, Array.Empty<string>(), null, false, null, facts));
    }

    [Fact]
    public void A_candidate_without_the_failover_slots_is_refused_unless_forced()
    {
        var without = Candidate("db2", "0/5000000");
        var with = Candidate("db3", "0/5000000");
        var facts = Facts((without, Array.Empty<string>()), (with, new[] { "sub1" }));
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { without, with }, Array.Empty<string>(), "db2", false, null, facts));
        Assert.Equal(ErrorReasons.FailoverSlotsNotSynced, ex.Reason);
        Assert.Contains("sub1", ex.Message);
        Assert.Contains("db3 holds them", ex.Message);
        Assert.Same(without, Promotion.Choose(new[] { without, with }, Array.Empty<string>(), "db2", true, null, facts));
    }

    [Fact]
    public void The_one_ahead_is_not_passed_over_for_its_slots_the_loss_is_named_instead()
    {
        var ahead = Candidate("db2", "0/6000000");
        var behind = Candidate("db3", "0/5000000");
        var facts = Facts((ahead, Array.Empty<string>()), (behind, new[] { "sub1" }));
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { ahead, behind }, Array.Empty<string>(), null, false, null, facts));
        Assert.Equal(ErrorReasons.FailoverSlotsNotSynced, ex.Reason);
        Assert.Same(ahead, Promotion.Choose(new[] { ahead, behind }, Array.Empty<string>(), null, true, null, facts));
    }

    [Fact]
    public void Before_17_or_without_failover_slots_nothing_changes()
    {
        var a = Candidate("db2", "0/6000000");
        var b = Candidate("db3", "0/5000000");
        Assert.Same(a, Promotion.Choose(new[] { a, b }, Array.Empty<string>(), null, false, null, FailoverSlotFacts.None));
        Assert.Same(a, Promotion.Choose(new[] { a, b }, Array.Empty<string>(), null, false, null, Facts((a, null), (b, null))));
        Assert.Same(a, Promotion.Choose(new[] { a, b }, Array.Empty<string>(), null, false, null, Facts((a, Array.Empty<string>()), (b, Array.Empty<string>()))));
    }

    [Theory]
    [InlineData("db2,db3", "db3", "db2")]
    [InlineData("db3", "db3", "")]
    [InlineData("db2", "db3", null)]
    [InlineData("", "db3", null)]
    [InlineData(null, "db3", null)]
    public void A_slot_taken_out_of_synchronized_standby_slots(string? configured, string slot, string? expected) =>
        Assert.Equal(expected, FailoverSlots.Without(configured, slot));
}
