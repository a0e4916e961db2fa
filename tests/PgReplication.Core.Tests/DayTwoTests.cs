using PgReplication.Core.Config;
using PgReplication.Core.Model;
using PgReplication.Core.Operations;

namespace PgReplication.Core.Tests;

/// <summary>The decisions of the day-two cmdlets that need no server: slots, the delayed standby in a failover, removing a standby.</summary>
public sealed class DayTwoTests
{
    private static ReplicationSlotInfo Slot(string name, bool active, string type = "physical", string? database = null, string? serves = null) => new()
    {
        Node = "db1", SlotName = name, SlotType = type, Active = active, ActivePid = active ? 4242 : null, Database = database, Serves = serves,
    };

    [Fact]
    public void A_slot_that_is_gone_is_nothing_to_drop()
    {
        var step = ReplicationSlots.DecideDrop("db1", "db4", null, "postgres", force: false);
        Assert.Equal(SlotDropAction.None, step.Action);
        Assert.Contains("nothing to drop", step.Description);
    }

    [Fact]
    public void An_inactive_slot_is_dropped()
    {
        var step = ReplicationSlots.DecideDrop("db1", "db4", Slot("db4", active: false), "postgres", force: false);
        Assert.Equal(SlotDropAction.Drop, step.Action);
    }

    [Fact]
    public void An_active_slot_is_refused_without_force_naming_who_uses_it()
    {
        var ex = Assert.Throws<SlotRefusedException>(() => ReplicationSlots.DecideDrop("db1", "db2", Slot("db2", active: true, serves: "db2@10.0.0.2"), "postgres", force: false));
        Assert.Equal("SlotActive", ex.Reason);
        Assert.Contains("db2@10.0.0.2", ex.Message);
        Assert.Contains("-Force", ex.Message);
    }

    [Fact]
    public void An_active_slot_with_force_ends_its_sender_first()
    {
        var step = ReplicationSlots.DecideDrop("db1", "db2", Slot("db2", active: true), "postgres", force: true);
        Assert.Equal(SlotDropAction.TerminateAndDrop, step.Action);
        Assert.Contains("4242", step.Description);
    }

    [Fact]
    public void A_logical_slot_of_another_database_is_refused_naming_it()
    {
        var ex = Assert.Throws<SlotRefusedException>(() => ReplicationSlots.DecideDrop("db1", "sub", Slot("sub", false, "logical", "shop"), "postgres", force: true));
        Assert.Equal("SlotInOtherDatabase", ex.Reason);
        Assert.Contains("'shop'", ex.Message);
        Assert.Equal(SlotDropAction.Drop, ReplicationSlots.DecideDrop("db1", "sub", Slot("sub", false, "logical", "shop"), "shop", force: false).Action);
    }

    [Theory]
    [InlineData("db2", "walreceiver", "10.0.0.2", "db2")]
    [InlineData(null, "db2_app", "10.0.0.2", "db2_app@10.0.0.2")]
    [InlineData(null, "db2_app", null, "db2_app@local")]
    [InlineData(null, null, null, null)]
    public void A_slot_serves_the_known_standby_else_its_sender(string? known, string? sender, string? address, string? expected) =>
        Assert.Equal(expected, ReplicationSlots.ServedBy(known, sender, address));

    // --- The delayed standby in a failover, and the replay decisions ---

    private static StandbyPosition Candidate(string name, string received, TimeSpan delay = default, string? app = null, int timeline = 1) => new()
    {
        Node = new PgNode(name), Reachable = true, InRecovery = true, Timeline = timeline, ReceiveLsn = received, ReplayLsn = "0/1000000",
        ApplyDelay = delay, ApplicationName = app ?? name,
    };

    [Fact]
    public void A_delayed_standby_is_never_picked_unless_named_even_when_it_is_as_far_as_the_others()
    {
        var delayed = Candidate("db3", "0/5000000", TimeSpan.FromMinutes(10));
        var normal = Candidate("db2", "0/5000000");
        Assert.Same(normal, Promotion.Choose(new[] { delayed, normal }, Array.Empty<string>(), null, force: false));
        Assert.Same(normal, Promotion.Choose(new[] { normal, delayed }, Array.Empty<string>(), null, force: false));
        Assert.Same(delayed, Promotion.Choose(new[] { delayed, normal }, Array.Empty<string>(), "db3", force: false));
    }

    [Fact]
    public void A_delayed_standby_that_holds_more_wal_refuses_the_others_unless_forced_or_named()
    {
        var delayed = Candidate("db3", "0/6000000", TimeSpan.FromMinutes(10));
        var normal = Candidate("db2", "0/5000000");
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { delayed, normal }, Array.Empty<string>(), null, force: false));
        Assert.Equal("CandidateBehind", ex.Reason);
        Assert.Contains("delayed standby: name it with -Name", ex.Message);
        Assert.Same(normal, Promotion.Choose(new[] { delayed, normal }, Array.Empty<string>(), null, force: true));
        Assert.Same(delayed, Promotion.Choose(new[] { delayed, normal }, Array.Empty<string>(), "db3", force: false));
    }

    [Fact]
    public void Only_delayed_candidates_are_refused_unless_one_is_named()
    {
        var delayed = Candidate("db3", "0/5000000", TimeSpan.FromSeconds(30));
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { delayed }, Array.Empty<string>(), null, force: true));
        Assert.Equal("OnlyDelayedCandidates", ex.Reason);
        Assert.Contains("db3", ex.Message);
        Assert.Same(delayed, Promotion.Choose(new[] { delayed }, Array.Empty<string>(), "db3", force: false));
    }

    [Fact]
    public void The_most_advanced_standby_that_is_not_delayed_wins_and_synchronous_names_still_count()
    {
        var a = Candidate("db2", "0/5000000");
        var b = Candidate("db4", "0/5000100");
        var delayed = Candidate("db3", "0/5000100", TimeSpan.FromMinutes(1));
        Assert.Same(b, Promotion.Choose(new[] { a, b, delayed }, Array.Empty<string>(), null, force: false));
        // Only db3 is listed as synchronous, and it is delayed: the undelayed db4 is not synchronous, refused unless forced.
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { a, b, delayed }, new[] { "db3" }, null, force: false));
        Assert.Equal("NotSynchronous", ex.Reason);
        Assert.Same(b, Promotion.Choose(new[] { a, b, delayed }, new[] { "db3" }, null, force: true));
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("", 0)]
    [InlineData(null, 0)]
    [InlineData("300000", 300000)]
    [InlineData("10min", 600000)]
    [InlineData("5s", 5000)]
    [InlineData("250ms", 250)]
    [InlineData("2h", 7200000)]
    [InlineData("1d", 86400000)]
    public void Recovery_min_apply_delay_is_read_as_postgresql_writes_it(string? value, long milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), StandbyReplay.ParseDelay(value));

    [Fact]
    public void A_replay_change_that_already_holds_is_no_step()
    {
        var facts = new ReplayFacts("db2", 15, InRecovery: true, Paused: true, ApplyDelay: TimeSpan.FromMinutes(5));
        Assert.True(StandbyReplay.Decide(facts, pause: true, applyDelay: TimeSpan.FromMinutes(5)).ChangesNothing);
        var resume = StandbyReplay.Decide(facts, pause: false, applyDelay: null);
        Assert.Equal(false, resume.Pause);
        Assert.Single(resume.Steps);
        var delay = StandbyReplay.Decide(facts, pause: null, applyDelay: TimeSpan.FromMinutes(10));
        Assert.Equal(TimeSpan.FromMinutes(10), delay.ApplyDelay);
        Assert.False(delay.NeedsRestart);
        Assert.Contains("from 5 min to 10 min", delay.Steps.Single());
    }

    [Fact]
    public void Before_12_a_new_delay_needs_a_restart()
    {
        var facts = new ReplayFacts("db2", 11, InRecovery: true, Paused: false, ApplyDelay: TimeSpan.Zero);
        var plan = StandbyReplay.Decide(facts, pause: null, applyDelay: TimeSpan.FromSeconds(90));
        Assert.True(plan.NeedsRestart);
        Assert.Contains("recovery.conf", plan.Steps.Single());
    }

    [Fact]
    public void A_primary_and_an_impossible_delay_are_refused()
    {
        var primary = new ReplayFacts("db1", 15, InRecovery: false, Paused: false, ApplyDelay: TimeSpan.Zero);
        Assert.Equal("NotAStandby", Assert.Throws<ReplayRefusedException>(() => StandbyReplay.Decide(primary, true, null)).Reason);
        var standby = primary with { InRecovery = true };
        Assert.Equal("BadApplyDelay", Assert.Throws<ReplayRefusedException>(() => StandbyReplay.Decide(standby, null, TimeSpan.FromSeconds(-1))).Reason);
        Assert.Equal("BadApplyDelay", Assert.Throws<ReplayRefusedException>(() => StandbyReplay.Decide(standby, null, TimeSpan.FromDays(30))).Reason);
    }

    // --- Removing a standby ---

    private const string Hba = """
        local   all             postgres                                peer
        host    replication     replicator      10.0.0.12/32            scram-sha-256  # added by PgReplication
        host    replication     replicator      10.0.0.13/32            scram-sha-256  # added by PgReplication
        host    replication     replicator      10.0.0.13/32            scram-sha-256
        host    all             app             10.0.0.13/32            scram-sha-256  # added by PgReplication
        host    replication     replicator      10.0.0.0/24             scram-sha-256  # added by PgReplication

        """;

    [Fact]
    public void Only_the_marked_replication_lines_for_exactly_that_address_are_the_standbys()
    {
        var lines = HbaEditor.MarkedLinesFor(Hba, System.Net.IPAddress.Parse("10.0.0.13"));
        Assert.Single(lines);
        Assert.Contains("10.0.0.13/32", lines[0]);
        Assert.EndsWith(HbaEditor.Marker, lines[0]);
        // The unmarked copy, another database, and the network line are never taken.
        var edit = HbaEditor.RemoveLines(Hba, lines.ToHashSet());
        Assert.Equal(lines, edit.RemovedLines);
        Assert.Contains("10.0.0.13/32            scram-sha-256\n", edit.NewText);
        Assert.Contains("host    all             app             10.0.0.13/32", edit.NewText);
        Assert.Contains("10.0.0.0/24", edit.NewText);
        Assert.Contains("10.0.0.12/32", edit.NewText);
        Assert.False(HbaEditor.RemoveLines(edit.NewText, lines.ToHashSet()).Changed);
    }

    [Theory]
    [InlineData("FIRST 1 (\"db2\", \"db3\")", "db3", new[] { "db2" }, "FIRST 1 (\"db2\")")]
    [InlineData("ANY 1 (db2, db3, db4)", "db3", new[] { "db2" }, "ANY 1 (\"db2\", \"db4\")")]
    [InlineData("FIRST 2 (db2, db3, db4)", "db3", new[] { "db2", "db4" }, "FIRST 2 (\"db2\", \"db4\")")]
    [InlineData("db2, db3", "DB3", new[] { "db2" }, "FIRST 1 (\"db2\")")]
    [InlineData("FIRST 1 (db2)", "db3", new[] { "db2" }, null)]
    [InlineData("", "db3", new string[0], null)]
    [InlineData("*", "db3", new[] { "db2" }, null)]
    public void A_removed_standby_leaves_synchronous_standby_names(string value, string app, string[] streaming, string? expected) =>
        Assert.Equal(expected, StandbyRemoval.SynchronousWithout(value, app, streaming, force: false, "db1", app));

    [Theory]
    [InlineData("FIRST 1 (db2, db3)", new string[0], "")]
    [InlineData("FIRST 2 (db2, db3, db4)", new[] { "db2" }, "FIRST 1 (\"db2\", \"db4\")")]
    [InlineData("*", new string[0], "")]
    public void An_unsatisfiable_synchronous_set_is_refused_and_lowered_only_with_force(string value, string[] streaming, string expected)
    {
        var ex = Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.SynchronousWithout(value, "db3", streaming, force: false, "db1", "db3"));
        Assert.Equal("SyncUnsatisfiable", ex.Reason);
        Assert.Contains("db1", ex.Message);
        Assert.Contains("-Force", ex.Message);
        Assert.Equal(expected, StandbyRemoval.SynchronousWithout(value, "db3", streaming, force: true, "db1", "db3"));
    }

    private static RemovalFacts Facts(bool answers = true, bool inRecovery = true, ReplicationSlotInfo? slot = null, bool usedByStandby = true,
        DataDirectoryIdentity? directory = null, string sync = "", IReadOnlyList<string>? others = null, bool guessed = false) => new()
    {
        Standby = "db3", Upstream = "db1", Answers = answers, InRecovery = inRecovery, SlotName = "db3", SlotNameGuessed = guessed, Slot = slot,
        SlotUsedByStandby = usedByStandby, HbaFile = "/etc/postgresql/15/main/pg_hba.conf",
        HbaLines = new[] { "host replication replicator 10.0.0.13/32 scram-sha-256  # added by PgReplication" },
        OthersFromAddress = others ?? Array.Empty<string>(), SynchronousStandbyNames = sync, OtherStreaming = new[] { "db2" },
        DataDirectory = directory?.Path, Directory = directory, ApplicationName = "db3",
    };

    private static DataDirectoryIdentity Directory(DataDirectoryKind kind, bool marker = true, string sysid = "42", bool sourcePrimary = false) => new()
    {
        Node = "db3", Path = "/var/lib/postgresql/15/main", Kind = kind, StandbyMarker = marker, SystemIdentifier = sysid, IsSourcePrimary = sourcePrimary,
        PostmasterPid = kind is DataDirectoryKind.RunningStandby or DataDirectoryKind.RunningPrimary ? 7 : null,
    };

    [Fact]
    public void A_running_standby_is_taken_out_in_order_sync_stop_slot_hba()
    {
        var plan = StandbyRemoval.Decide(Facts(slot: Slot("db3", active: true), directory: Directory(DataDirectoryKind.RunningStandby), sync: "FIRST 1 (db2, db3)"),
            emptyDataDirectory: false, force: false, upstreamSystemIdentifier: 42);
        Assert.Equal("FIRST 1 (\"db2\")", plan.NewSynchronousStandbyNames);
        Assert.True(plan.Stop);
        Assert.Equal(SlotDropAction.Drop, plan.DropSlot!.Action);
        Assert.Single(plan.HbaLinesToRemove);
        Assert.False(plan.Empty);
        Assert.Equal(4, plan.Steps.Count);
        Assert.StartsWith("set synchronous_standby_names", plan.Steps[0]);
        Assert.StartsWith("stop db3", plan.Steps[1]);
    }

    [Fact]
    public void A_failover_candidate_leaves_synchronized_standby_slots_before_its_slot_is_dropped()
    {
        var facts = Facts(slot: Slot("db3", active: true), directory: Directory(DataDirectoryKind.RunningStandby)) with { SynchronizedStandbySlots = "db2,db3" };
        var plan = StandbyRemoval.Decide(facts, emptyDataDirectory: false, force: false, upstreamSystemIdentifier: 42);
        Assert.Equal("db2", plan.NewSynchronizedStandbySlots);
        Assert.StartsWith("set synchronized_standby_slots on db1: 'db2,db3' -> 'db2'", plan.Steps[0]);
        Assert.True(plan.Steps.FindIndex(s => s.StartsWith("drop the slot", StringComparison.Ordinal)) > 0);
        // The last candidate: the list becomes empty; a standby that is not listed changes nothing there.
        Assert.Equal("", StandbyRemoval.Decide(facts with { SynchronizedStandbySlots = "db3" }, false, false, 42).NewSynchronizedStandbySlots);
        Assert.Null(StandbyRemoval.Decide(facts with { SynchronizedStandbySlots = "db2" }, false, false, 42).NewSynchronizedStandbySlots);
        Assert.Null(StandbyRemoval.Decide(facts with { SynchronizedStandbySlots = null }, false, false, 42).NewSynchronizedStandbySlots);
    }

    [Fact]
    public void A_failover_candidates_database_line_of_the_same_role_goes_with_its_replication_lines()
    {
        const string hba = """
            host    replication     replicator      10.0.0.13/32            scram-sha-256  # added by PgReplication
            host    postgres        replicator      10.0.0.13/32            scram-sha-256  # added by PgReplication
            host    postgres        replicator      10.0.0.12/32            scram-sha-256  # added by PgReplication
            host    postgres        app             10.0.0.13/32            scram-sha-256  # added by PgReplication
            host    postgres        replicator      10.0.0.13/32            scram-sha-256

            """;
        var lines = HbaEditor.MarkedLinesFor(hba, System.Net.IPAddress.Parse("10.0.0.13"));
        Assert.Equal(2, lines.Count);
        Assert.Contains(lines, l => l.Contains("replication") && l.Contains("10.0.0.13/32"));
        Assert.Contains(lines, l => l.Contains("postgres        replicator      10.0.0.13/32") && l.EndsWith(HbaEditor.Marker, StringComparison.Ordinal));
        // Without a replication line of that role for the address, no database line is taken.
        Assert.Empty(HbaEditor.MarkedLinesFor(hba, System.Net.IPAddress.Parse("10.0.0.12")));
    }

    [Fact]
    public void A_second_run_changes_nothing()
    {
        var facts = Facts(answers: false, directory: Directory(DataDirectoryKind.Stopped)) with { HbaLines = Array.Empty<string>() };
        Assert.True(StandbyRemoval.Decide(facts, emptyDataDirectory: false, force: false, upstreamSystemIdentifier: 42).ChangesNothing);
        var emptied = Facts(answers: false, directory: Directory(DataDirectoryKind.Empty)) with { HbaLines = Array.Empty<string>() };
        Assert.True(StandbyRemoval.Decide(emptied, emptyDataDirectory: true, force: false, upstreamSystemIdentifier: 42).ChangesNothing);
    }

    [Fact]
    public void A_primary_or_the_upstream_itself_is_never_removed()
    {
        Assert.Equal("NotAStandby", Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.Decide(Facts(inRecovery: false), false, true, 42)).Reason);
        Assert.Equal("NotAStandby", Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.Decide(Facts() with { IsUpstream = true }, false, true, 42)).Reason);
    }

    [Theory]
    [InlineData(DataDirectoryKind.Stopped, false, "42", false)]      // a stopped cluster not marked as a standby: a primary's
    [InlineData(DataDirectoryKind.Stopped, true, "99", false)]       // another cluster's standby
    [InlineData(DataDirectoryKind.RunningPrimary, false, "42", false)]
    [InlineData(DataDirectoryKind.Stopped, true, "42", true)]        // the upstream's own directory
    public void The_data_directory_is_emptied_only_when_it_is_a_standby_of_the_upstream(DataDirectoryKind kind, bool marker, string sysid, bool sourcePrimary)
    {
        var facts = Facts(directory: Directory(kind, marker, sysid, sourcePrimary));
        Assert.Equal("DataDirectoryRefused", Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.Decide(facts, emptyDataDirectory: true, force: true, upstreamSystemIdentifier: 42)).Reason);
        Assert.True(StandbyRemoval.Decide(Facts(directory: Directory(DataDirectoryKind.Stopped)), emptyDataDirectory: true, force: false, upstreamSystemIdentifier: 42).Empty);
    }

    [Fact]
    public void No_path_is_guessed_for_emptying()
    {
        var ex = Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.Decide(Facts(answers: false), emptyDataDirectory: true, force: true, upstreamSystemIdentifier: 42));
        Assert.Equal("DataDirectoryUnknown", ex.Reason);
        Assert.Contains("-DataDirectory", ex.Message);
    }

    [Fact]
    public void A_slot_someone_else_uses_is_refused_unless_forced_and_never_by_a_guessed_name()
    {
        var other = Facts(answers: false, slot: Slot("db3", active: true, serves: "x@10.0.0.99"), usedByStandby: false);
        Assert.Equal("SlotActive", Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.Decide(other, false, false, 42)).Reason);
        Assert.Equal(SlotDropAction.TerminateAndDrop, StandbyRemoval.Decide(other, false, true, 42).DropSlot!.Action);
        Assert.Equal("SlotActive", Assert.Throws<RemovalRefusedException>(() => StandbyRemoval.Decide(other with { SlotNameGuessed = true }, false, true, 42)).Reason);
    }

    [Fact]
    public void The_lines_stay_while_another_standby_streams_from_that_address()
    {
        var plan = StandbyRemoval.Decide(Facts(others: new[] { "db4@10.0.0.13" }), false, false, 42);
        Assert.Empty(plan.HbaLinesToRemove);
        Assert.Contains(plan.Notes, n => n.Contains("db4@10.0.0.13"));
    }
}
