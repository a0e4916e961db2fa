using PgReplication.Core.Model;
using PgReplication.Core.Operations;
using PgReplication.Core.Sql;

namespace PgReplication.Core.Tests;

/// <summary>
/// The one replication-state reader's query set per major, its record, and the pure decisions over it: the promotion's
/// candidate position and ranking, the topology's reading.
/// </summary>
public sealed class ReplicationStateTests
{
    public static IEnumerable<object[]> Majors() => Enumerable.Range(10, 9).Select(m => new object[] { m });

    private static SqlRow Row(Dictionary<string, object?> values) =>
        new(values.Keys.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i), values.Values.ToArray());

    // A row of StateQuery as a standby of <major> returns it (recovery settings as pg_settings and current_setting show them).
    private static SqlRow StandbyRow(int major, bool receiving = true, string conninfo = "host=db1 port=5433 application_name=db2 user=repl",
        string? delay = "0", string slot = "db2", bool paused = false, string? marker = null) => Row(new()
    {
        ["in_recovery"] = true, ["read_only"] = "on", ["current_lsn"] = null,
        ["standby_receive_lsn"] = "0/5000100", ["standby_replay_lsn"] = "0/5000000", ["replay_paused"] = paused,
        ["receiver_status"] = receiving ? "streaming" : null, ["receiver_slot"] = receiving ? slot : null,
        ["conninfo"] = receiving ? "user=repl host=10.0.0.1 port=5433" : null, ["received_tli"] = receiving ? 3 : null,
        ["sender_host"] = receiving && major >= 11 ? "10.0.0.1" : null, ["sender_port"] = receiving && major >= 11 ? 5433 : null,
        ["checkpoint_timeline"] = 2, ["system_identifier"] = "7300000000000000001", ["cluster_name"] = "", ["server_addr"] = "10.0.0.2",
        ["sync_names"] = "FIRST 1 (db2)",
        ["primary_slot_name"] = major >= 12 ? slot : null, ["apply_delay"] = major >= 12 ? delay : null,
        ["primary_conninfo_setting"] = major >= 12 ? conninfo : null, ["primary_conninfo_file"] = major >= 12 ? "/data/postgresql.auto.conf" : null,
        ["promote_trigger_file"] = null, ["patroni_marker"] = marker,
    });

    private static string? RecoveryConf(int major, string conninfo = "host=db1 port=5433 application_name=db2 user=repl", string delay = "0", string slot = "db2") =>
        major >= 12 ? null : $"standby_mode = 'on'\nprimary_conninfo = '{conninfo}'\nprimary_slot_name = '{slot}'\nrecovery_min_apply_delay = '{delay}'\n";

    private static PgNode Node(string name, int major, NodeRole role = NodeRole.Standby) => new(name) { ServerVersion = new Version(major, 1), Role = role };

    [Theory]
    [MemberData(nameof(Majors))]
    public void The_query_set_asks_each_major_only_for_the_columns_it_has(int major)
    {
        var state = ReplicationStateReader.StateQuery(major);
        Assert.Equal(major >= 11, state.Contains("r.sender_host,", StringComparison.Ordinal));
        Assert.Equal(major < 11, state.Contains("NULL::text AS sender_host", StringComparison.Ordinal));
        Assert.Equal(major < 11, state.Contains("NULL::int AS sender_port", StringComparison.Ordinal));
        var slots = ReplicationStateReader.SlotsQuery(major);
        Assert.Equal(major >= 13, slots.Contains("s.wal_status", StringComparison.Ordinal));
        Assert.Equal(major < 13, slots.Contains("NULL::text AS wal_status", StringComparison.Ordinal));
        // One text for every major and both entry points: catalog-qualified, and the senders read whatever the major.
        Assert.DoesNotContain("FROM pg_stat", state);
        Assert.Contains("pg_catalog.pg_stat_replication", ReplicationStateReader.SendersQuery);
        // An unknown major gets what every supported major has.
        Assert.Equal(ReplicationStateReader.StateQuery(10), ReplicationStateReader.StateQuery(null));
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void Recovery_settings_come_from_recovery_conf_before_12_and_from_the_server_from_12(int major)
    {
        var state = ReplicationStateReader.FromRows(Node("db2", major), StandbyRow(major, delay: "5min"), RecoveryConf(major, delay: "5min"));
        Assert.Equal("host=db1 port=5433 application_name=db2 user=repl", state.PrimaryConninfo);
        Assert.Equal("db1", state.ConfiguredUpstreamHost);
        Assert.Equal(5433, state.ConfiguredUpstreamPort);
        Assert.Equal("5min", state.ApplyDelay);
        Assert.Equal("db2", state.PrimarySlotName);
        Assert.Equal(major >= 11 ? "10.0.0.1" : null, state.SenderHost);
        Assert.Equal(3, state.Timeline);
        Assert.True(state.Receiving);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    public void Before_12_a_recovery_conf_the_role_may_not_read_leaves_the_settings_unknown(int major)
    {
        var state = ReplicationStateReader.FromRows(Node("db2", major), StandbyRow(major, receiving: false), recoveryConf: null);
        Assert.Null(state.PrimaryConninfo);
        Assert.Null(state.ConfiguredUpstreamHost);
        Assert.Null(state.ApplyDelay);
        Assert.Null(state.Slot);
    }

    [Fact]
    public void A_standby_without_a_receiver_is_on_its_history_timeline_else_its_checkpoints()
    {
        var node = Node("db2", 16);
        Assert.Equal(2, ReplicationStateReader.FromRows(node, StandbyRow(16, receiving: false), null).Timeline);
        Assert.Equal(4, ReplicationStateReader.FromRows(node, StandbyRow(16, receiving: false), null, historyTimeline: 4).Timeline);
        Assert.False(ReplicationStateReader.FromRows(node, StandbyRow(16, receiving: false), null).Receiving);
    }

    [Fact]
    public void Senders_and_slots_are_read_into_records()
    {
        var sender = Row(new()
        {
            ["pid"] = 101, ["application_name"] = "db2", ["client_addr"] = "10.0.0.2", ["state"] = "streaming", ["usename"] = "repl",
            ["sent_lsn"] = "0/5000100", ["write_lsn"] = "0/5000100", ["flush_lsn"] = "0/5000100", ["replay_lsn"] = "0/5000000",
            ["lag_bytes"] = 256L, ["replay_lag_seconds"] = 0.5, ["sync_state"] = "sync", ["slot_name"] = "db2", ["slot_active"] = true,
        });
        var slot = Row(new() { ["slot_name"] = "db2", ["active"] = true, ["active_pid"] = 101, ["wal_status"] = "reserved" });
        var state = ReplicationStateReader.FromRows(Node("db1", 16, NodeRole.Primary), StandbyRow(16), null, new[] { sender }, new[] { slot });
        var s = Assert.Single(state.Senders);
        Assert.Equal((101, "db2", "10.0.0.2", "sync", "repl", 256L, 0.5, "db2", (bool?)true),
            (s.Pid, s.ApplicationName, s.ClientAddr, s.SyncState, s.UserName, s.LagBytes, s.ReplayLagSeconds, s.SlotName, s.SlotActive));
        Assert.Equal(new ReplicationSlot("db2", true, 101, "reserved"), Assert.Single(state.Slots));
    }

    // --- The promotion's view: StandbyPosition.From, then the ranking ---

    [Theory]
    [MemberData(nameof(Majors))]
    public void A_candidates_position_is_its_state_with_its_delay_and_application_name(int major)
    {
        var position = StandbyPosition.From(ReplicationStateReader.FromRows(Node("db2", major), StandbyRow(major, delay: "10s"), RecoveryConf(major, delay: "10s")));
        Assert.True(position.Reachable);
        Assert.True(position.InRecovery);
        Assert.Equal(3, position.Timeline);
        Assert.Equal(0x5000100UL, position.Position);
        Assert.Equal(TimeSpan.FromSeconds(10), position.ApplyDelay);
        Assert.Equal("db2", position.ApplicationName);
        Assert.Equal(("db1", (int?)5433), (position.UpstreamHost, position.UpstreamPort));
        Assert.Equal("FIRST 1 (db2)", position.SynchronousStandbyNames);
        Assert.Null(position.ManagedBy);
    }

    [Fact]
    public void A_candidate_of_a_cluster_handed_to_Patroni_says_so_with_its_position()
    {
        // Read with the position (one round trip after a crash): Invoke-PgPromotion refuses, or asks Patroni, from it.
        var marker = "scope=pg7300 api_port=8008 ca=" + Convert.ToBase64String(new byte[] { 1, 2, 3 });
        var position = StandbyPosition.From(ReplicationStateReader.FromRows(Node("db2", 16), StandbyRow(16, marker: marker), null));
        Assert.Equal(("pg7300", 8008), (position.ManagedBy!.Scope, position.ManagedBy.ApiPort));
        Assert.Null(StandbyPosition.From(ReplicationStateReader.FromRows(Node("db2", 16), StandbyRow(16, marker: "not ours"), null)).ManagedBy);
    }

    [Fact]
    public void A_primary_has_no_upstream_no_delay_and_no_application_name()
    {
        var row = Row(new()
        {
            ["in_recovery"] = false, ["read_only"] = "off", ["current_lsn"] = "0/6000000", ["standby_receive_lsn"] = null, ["standby_replay_lsn"] = null,
            ["replay_paused"] = false, ["receiver_status"] = null, ["receiver_slot"] = null, ["conninfo"] = null, ["received_tli"] = null,
            ["sender_host"] = null, ["sender_port"] = null, ["checkpoint_timeline"] = 2, ["system_identifier"] = "1", ["cluster_name"] = "",
            ["server_addr"] = null, ["sync_names"] = "", ["primary_slot_name"] = "", ["apply_delay"] = "1min",
            ["primary_conninfo_setting"] = "host=old", ["primary_conninfo_file"] = null, ["promote_trigger_file"] = null,
            ["patroni_marker"] = "",
        });
        var position = StandbyPosition.From(ReplicationStateReader.FromRows(Node("db1", 16, NodeRole.Primary), row, null));
        Assert.False(position.InRecovery);
        Assert.Equal(2, position.Timeline);
        Assert.Equal(TimeSpan.Zero, position.ApplyDelay);
        Assert.Null(position.UpstreamHost);
        Assert.Null(position.ApplicationName);
    }

    private static StandbyPosition Candidate(string name, int timeline, string received, string replayed = "0/1000000") => new()
    {
        Node = new PgNode(name), Reachable = true, InRecovery = true, Timeline = timeline, ReceiveLsn = received, ReplayLsn = replayed, ApplicationName = name,
    };

    [Fact]
    public void The_newest_timeline_ranks_first_then_the_furthest_wal_held()
    {
        var oldTimelineFar = Candidate("db2", 1, "0/9000000");
        var newTimelineNear = Candidate("db3", 2, "0/5000000");
        var newTimelineFar = Candidate("db4", 2, "0/5000100");
        Assert.Same(newTimelineFar, Promotion.BestOf(new[] { oldTimelineFar, newTimelineNear, newTimelineFar }));
        Assert.Same(newTimelineNear, Promotion.BestOf(new[] { oldTimelineFar, newTimelineNear }));
        // Replayed beyond what the receiver reports (a restart lost the receive position): the replay counts.
        Assert.Same(oldTimelineFar, Promotion.BestOf(new[] { Candidate("db5", 1, "0/1000000", replayed: "0/2000000"), oldTimelineFar }));
        // Equals: the first given.
        var twin = Candidate("db6", 2, "0/5000100");
        Assert.Same(newTimelineFar, Promotion.BestOf(new[] { newTimelineFar, twin }));
    }

    [Theory]
    [InlineData(1, "0/5000000", 1, "0/5000000", false)]
    [InlineData(1, "0/5000000", 1, "0/5000001", true)]
    [InlineData(1, "0/9000000", 2, "0/1000000", true)]   // a newer timeline is ahead, whatever the position
    [InlineData(2, "0/1000000", 1, "0/9000000", false)]
    public void A_candidate_is_behind_one_on_a_newer_timeline_or_further_on_its_own(int tl, string lsn, int aheadTl, string aheadLsn, bool behind) =>
        Assert.Equal(behind, Promotion.IsBehind(Candidate("db2", tl, lsn), Candidate("db3", aheadTl, aheadLsn)));

    [Fact]
    public void A_named_candidate_behind_another_is_refused_unless_forced_and_an_unknown_name_is_refused()
    {
        var behind = Candidate("db2", 2, "0/5000000");
        var ahead = Candidate("db3", 2, "0/5000100");
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { behind, ahead }, Array.Empty<string>(), "db2", force: false));
        Assert.Equal("CandidateBehind", ex.Reason);
        Assert.Contains("db2 is behind db3 (timeline 2 at 0/5000000 vs timeline 2 at 0/5000100)", ex.Message);
        Assert.Same(behind, Promotion.Choose(new[] { behind, ahead }, Array.Empty<string>(), "db2", force: true));
        Assert.Equal("NoCandidate", Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { behind, ahead }, Array.Empty<string>(), "db9", force: true)).Reason);
    }

    [Fact]
    public void A_synchronous_standby_is_chosen_over_an_asynchronous_one_that_is_not_ahead()
    {
        var async = Candidate("db2", 2, "0/5000000");
        var sync = Candidate("db3", 2, "0/5000000");
        Assert.Same(sync, Promotion.Choose(new[] { async, sync }, new[] { "db3" }, null, force: false));
        var ex = Assert.Throws<PromotionRefusedException>(() => Promotion.Choose(new[] { async, sync }, new[] { "db3" }, "db2", force: false));
        Assert.Equal("NotSynchronous", ex.Reason);
    }

    // --- The topology's view: Topology.ReadingOf ---

    [Theory]
    [MemberData(nameof(Majors))]
    public void A_standby_sits_under_its_sender_else_where_its_conninfo_points(int major)
    {
        var node = Node("db2", major);
        node.Timeline = 2;
        var streaming = Topology.ReadingOf(node, ReplicationStateReader.FromRows(node, StandbyRow(major), RecoveryConf(major)), null);
        // Before 11 pg_stat_wal_receiver has no sender_host: the conninfo says where.
        Assert.Equal(major >= 11 ? ("10.0.0.1", (int?)5433) : ("db1", 5433), (streaming.UpstreamHost, streaming.UpstreamPort));
        Assert.Equal((NodeRole.Standby, 3, "0/5000000", "0/5000100", "streaming", "db2"),
            (streaming.Role, streaming.Timeline, streaming.Lsn, streaming.ReceiveLsn, streaming.ReceiverStatus, streaming.Slot));

        var stopped = Topology.ReadingOf(node, ReplicationStateReader.FromRows(node, StandbyRow(major, receiving: false, paused: true), RecoveryConf(major)), null);
        Assert.Equal(("db1", (int?)5433), (stopped.UpstreamHost, stopped.UpstreamPort));
        Assert.Null(stopped.ReceiverStatus);
        Assert.True(stopped.ReplayPaused);
        Assert.Equal(2, stopped.Timeline);       // the node's own (discovered) timeline when nothing is received
        Assert.Equal("db2", stopped.Slot);       // the configured slot, recovery.conf's before 12
    }

    [Fact]
    public void A_standby_with_no_slot_configured_shows_the_one_it_was_set_up_with()
    {
        var node = Node("db2", 16);
        node.SlotName = "db2_set_up";
        var reading = Topology.ReadingOf(node, ReplicationStateReader.FromRows(node, StandbyRow(16, receiving: false, slot: ""), null), null);
        Assert.Equal("db2_set_up", reading.Slot);
    }
}

/// <summary>The health check's decision for one standby (ReplicationCheck.Build), from the records of both sides.</summary>
public sealed class HealthCheckDecisionTests
{
    public static IEnumerable<object[]> Majors() => Enumerable.Range(10, 9).Select(m => new object[] { m });

    private const string PrimaryLsn = "0/5000100";

    private static PgNode Primary() => new("db1") { ServerVersion = new Version(16, 1), Role = NodeRole.Primary, SystemIdentifier = 7300000000000000001, Timeline = 3 };

    private static PgNode Standby(int major) => new("db2") { ServerVersion = new Version(major, 1), Role = NodeRole.Standby, Timeline = 3 };

    private static WalSender Sender(bool slotActive = true) => new(101, "db2", "10.0.0.2", "streaming", "async", "0/5000000")
    {
        UserName = "repl", SentLsn = PrimaryLsn, WriteLsn = PrimaryLsn, FlushLsn = PrimaryLsn, LagBytes = 0x100, ReplayLagSeconds = 0.25,
        SlotName = "db2", SlotActive = slotActive,
    };

    private static ReplicationState State(PgNode standby, bool streaming = true, bool inRecovery = true, bool paused = false) => new()
    {
        Node = standby, InRecovery = inRecovery, ReadOnly = inRecovery ? "on" : "off", SystemIdentifier = "7300000000000000001",
        ReceiveLsn = PrimaryLsn, ReplayLsn = "0/5000000", ReplayPaused = paused, ReceivedTimeline = streaming ? 3 : null,
        ReceiverStatus = streaming ? "streaming" : null, ReceiverSlot = streaming ? "db2" : null, PrimarySlotName = "db2",
    };

    private static ReplicationCheck.PrimaryWal Wal(string? walStatus = null, string? oldest = null) =>
        new(oldest, 16L * 1024 * 1024, walStatus is null ? new Dictionary<string, string?>() : new Dictionary<string, string?> { ["db2"] = walStatus });

    private static ReplicationHealth Check(PgNode standby, WalSender? sender, ReplicationState? state, ReplicationCheck.PrimaryWal wal,
        string? error = null, TimeSpan delay = default) =>
        ReplicationCheck.Build(standby.Name, standby, Primary(), sender, state, error, 3, 0, PrimaryLsn, wal, new ReplicationCheckOptions(),
            Array.Empty<SecurityFinding>(), delay);

    private static HealthCheck Named(ReplicationHealth h, string name) => h.Checks.Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(Majors))]
    public void A_streaming_standby_passes_every_check_with_lag_from_its_own_replay_position(int major)
    {
        var standby = Standby(major);
        var health = Check(standby, Sender(), State(standby), Wal(major >= 13 ? "reserved" : null));
        Assert.True(health.IsHealthy, string.Join("; ", health.Checks));
        Assert.Equal(["connected", "streaming", "same system identifier", "same timeline", "replay not paused", "standby read-only", "lag under threshold", "slot healthy", "archiver not failing"],
            health.Checks.Select(c => c.Name));
        Assert.Equal(0x100L, health.LagBytes);
        Assert.Equal("slot db2 active", Named(health, "slot healthy").Message);
        Assert.Equal(TimeSpan.FromSeconds(0.25), health.ReplayLag);
    }

    [Fact]
    public void A_delayed_standby_is_measured_by_what_it_has_not_received()
    {
        var standby = Standby(16);
        var health = Check(standby, Sender(), State(standby), Wal(), delay: TimeSpan.FromMinutes(5));
        Assert.True(health.IsHealthy);
        Assert.Equal(0L, health.LagBytes);
        Assert.StartsWith("delayed on purpose by 5 min (recovery_min_apply_delay), not lagging: 0 bytes not yet received", Named(health, "lag under threshold").Message);
    }

    [Theory]
    [MemberData(nameof(Majors))]
    public void A_standby_that_stopped_streaming_is_reported_by_its_configured_slot(int major)
    {
        var standby = Standby(major);
        var health = Check(standby, null, State(standby, streaming: false), Wal(major >= 13 ? "lost" : null, oldest: "000000030000000000000006"));
        Assert.False(health.IsHealthy);
        Assert.Equal("stopped", health.State);
        Assert.Equal("db2", health.SlotName);
        Assert.Contains("db1 has removed WAL db2 needs (it replayed up to 0/5000000", Named(health, "WAL still on the primary").Message);
        Assert.Equal(major >= 13 ? "slot db2 has wal_status lost: db1 removed WAL the standby needs (max_slot_wal_keep_size); take a new copy (Restore-PgStandby -Reclone)"
            : "slot db2 is not active", Named(health, "slot healthy").Message);
    }

    [Fact]
    public void A_standby_that_does_not_answer_is_still_reported_by_the_slot_it_was_set_up_with()
    {
        var standby = Standby(16);
        standby.SlotName = "db2";
        var health = Check(standby, null, null, Wal("unreserved"), error: "Could not connect to PostgreSQL on db2:5432");
        Assert.Equal("unreachable", health.State);
        Assert.False(Named(health, "connected").Passed);
        Assert.Equal("slot db2 has wal_status unreserved: db1 will remove WAL the standby needs at its next checkpoint (max_slot_wal_keep_size)",
            Named(health, "slot healthy").Message);
    }

    [Fact]
    public void A_paused_replay_and_a_node_out_of_recovery_fail_their_checks()
    {
        var standby = Standby(16);
        Assert.False(Named(Check(standby, Sender(), State(standby, paused: true), Wal()), "replay not paused").Passed);
        var promoted = Check(standby, Sender(), State(standby, inRecovery: false), Wal());
        Assert.Equal("db2 is not in recovery: it accepts writes", Named(promoted, "standby read-only").Message);
    }
}
